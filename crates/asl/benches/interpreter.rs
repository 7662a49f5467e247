//! Throughput of the pure interpreter, in state transitions per second.
//!
//! The workloads are the JSON files in `bench/workloads/` (a definition and an input each),
//! which the peers in `bench/peers/` run too. Each workload compiles its machine once, outside
//! the timed loop, and then runs whole executions from `Execution::start` to
//! `Action::Finished` and the drop of the execution and its outcome; each execution gets its
//! own copy of the input, made outside the timed part (a server owns the input it parsed and
//! moves it in). Criterion reports elements per second, where one element is one state
//! transition as `Execution::transitions` counts it. The benchmark allocates with mimalloc,
//! as the `baton` binary does.
//! `bench/interpreter.sh` runs this together with the Node peer and writes
//! `docs/benchmarks.md`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use asl::{Action, Execution, ExecutionInfo, MachineType, Options, Outcome, StateMachine};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::Value;

/// The allocator the `baton` binary runs the interpreter with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A workload shared with the peers: `{"description", "definition", "input"}`.
struct Workload {
    definition: Value,
    input: Value,
}

fn load(text: &str) -> Workload {
    let mut w: Value = serde_json::from_str(text).expect("workload JSON");
    Workload { definition: w["definition"].take(), input: w["input"].take() }
}

/// Runs one execution to its end and returns it with its last action.
fn run(machine: &Arc<StateMachine>, input: Value, record_history: bool) -> (Execution, Action) {
    let options = Options { record_history, ..Default::default() };
    let (ex, mut actions) =
        Execution::start(machine.clone(), ExecutionInfo::default(), input, options, 0);
    let last = actions.pop().expect("an action");
    (ex, last)
}

fn workload(c: &mut Criterion, name: &str, text: &str, history: &[bool]) {
    let Workload { definition, input } = load(text);
    let machine = StateMachine::compile(&definition, MachineType::Standard).expect("valid machine");
    let mut group = c.benchmark_group(name);
    for &record in history {
        let (probe, last) = run(&machine, input.clone(), record);
        assert!(
            matches!(last, Action::Finished(Outcome::Succeeded { .. })),
            "{name} did not succeed: {last:?}"
        );
        group.throughput(Throughput::Elements(probe.transitions()));
        let id = if record { "history" } else { "no_history" };
        group.bench_function(id, |b| {
            b.iter_batched(
                || input.clone(),
                |input| drop(black_box(run(&machine, input, record))),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    // The workloads live in `bench/workloads/`, where the peers read them too.
    let pass = include_str!("../../../bench/workloads/pass_chain_10.json");
    let map = include_str!("../../../bench/workloads/inline_map_40.json");
    let choice = include_str!("../../../bench/workloads/choice_loop_20.json");
    workload(c, "pass_chain_10", pass, &[false, true]);
    workload(c, "inline_map_40", map, &[false, true]);
    workload(c, "choice_loop_20", choice, &[false, true]);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = interpreter;
    config = config();
    targets = benches
}
criterion_main!(interpreter);
