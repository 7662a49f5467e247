//! The Baton side of the JSONata benchmark (`bench/jsonata.sh`): times the official suite's
//! expressions, each compiled once and evaluated many times, and writes one JSON line per
//! measured case for the reference implementation's side to time the same way.
//!
//! Measured are the cases that expect a result (not an error), have no time or depth limit of
//! their own, and that Baton evaluates to the expected result. Each case runs for about
//! `budget_ms`: a third of it warms up and sizes the batches, the rest is five batches, and
//! the figure is the median batch's time per evaluation. An evaluation is
//! [`Expression::evaluate_document`] on the input and bindings converted once beforehand (the
//! reference implementation is likewise handed data already parsed into JavaScript objects),
//! and includes converting the result to `serde_json`. Converting the input and bindings,
//! which [`Expression::evaluate`] does on every call, is timed on its own
//! (`baton_convert_ns`).
//!
//! Usage: `suite_bench SUITE_DIR OUT.jsonl [budget_ms]` (budget 3 ms by default).

#[path = "../tests/support/cases.rs"]
mod cases;

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jsonata::{Document, Evaluated, Expression, Options};
use serde_json::{json, Value};

/// Batches timed per case; the median is reported.
const BATCHES: u32 = 5;

/// The stack the measuring thread gets, and the evaluation budget within it (as the suite
/// test runs, so that the suite's deep recursions pass).
const STACK: usize = 64 << 20;
const STACK_BUDGET: usize = 48 << 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: suite_bench SUITE_DIR OUT.jsonl [budget_ms]");
        std::process::exit(2);
    };
    let budget_ms: u64 = match args.get(3).map(|b| b.parse()) {
        None => 3,
        Some(Ok(b)) if b > 0 => b,
        Some(_) => {
            eprintln!("budget_ms must be a positive integer");
            std::process::exit(2);
        }
    };
    let (dir, out) = (PathBuf::from(dir), PathBuf::from(out));
    let run = move || run(&dir, &out, Duration::from_millis(budget_ms));
    let outcome = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(run)
        .map_err(|e| e.to_string())
        .and_then(|h| h.join().map_err(|_| "the benchmark thread panicked".to_string()))
        .and_then(|r| r);
    if let Err(e) = outcome {
        eprintln!("suite_bench: {e}");
        std::process::exit(1);
    }
}

/// Measures every eligible case of the suite in `dir` and writes the lines to `out`.
fn run(dir: &std::path::Path, out: &std::path::Path, budget: Duration) -> Result<(), String> {
    if !dir.join("groups").is_dir() {
        return Err(format!("{} holds no JSONata suite (groups/)", dir.display()));
    }
    let file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut file = std::io::BufWriter::new(file);
    let options = Options {
        now_millis: Some(1_700_000_000_000),
        stack_budget: Some(STACK_BUDGET),
        ..Options::default()
    };
    let (mut measured, mut skipped) = (0usize, 0usize);
    for c in cases::load(dir) {
        let Some(expected) = expected(&c) else {
            skipped += 1;
            continue;
        };
        let Ok(e) = Expression::compile(&c.expr) else {
            skipped += 1;
            continue;
        };
        let convert = || {
            let input = c.data.as_ref().map(Document::from_json);
            let bindings: Vec<(&str, Document)> =
                c.bindings.iter().map(|(k, v)| (k.as_str(), Document::from_json(v))).collect();
            (input, bindings)
        };
        let (input, bindings) = convert();
        let bindings: Vec<(&str, &Document)> = bindings.iter().map(|(k, d)| (*k, d)).collect();
        let eval = || e.evaluate_document(input.as_ref(), &bindings, &options);
        let correct = match (eval(), &expected) {
            (Ok(Evaluated::Undefined | Evaluated::Function), None) => true,
            (Ok(Evaluated::Value(got)), Some(want)) => cases::eq(want, &got),
            _ => false,
        };
        if !correct {
            skipped += 1;
            continue;
        }
        let ns = per_evaluation_ns(
            || {
                let _ = black_box(eval());
            },
            budget,
        );
        let convert_ns = per_evaluation_ns(
            || {
                let _ = black_box(convert());
            },
            budget,
        );
        let mut line = json!({
            "id": c.id,
            "expr": c.expr,
            "bindings": c.bindings,
            "baton_ns": ns,
            "baton_convert_ns": convert_ns,
        });
        if let Some(data) = &c.data {
            line["data"] = data.clone();
        }
        match expected {
            Some(want) => line["result"] = want,
            None => line["undefined"] = Value::Bool(true),
        }
        writeln!(file, "{line}").map_err(|e| format!("{}: {e}", out.display()))?;
        measured += 1;
    }
    file.flush().map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("suite_bench: {measured} cases measured, {skipped} not eligible");
    Ok(())
}

/// What a case expects when it is eligible: `Some(Some(v))` for a result, `Some(None)` for
/// undefined. `None` for an error case, a case with a time or depth limit, or an expression
/// that is not the suite's text verbatim.
fn expected(c: &cases::Case) -> Option<Option<Value>> {
    let limited = ["code", "error", "timelimit", "depth"].iter().any(|k| c.spec.contains_key(*k));
    if limited || c.escaped_surrogates {
        return None;
    }
    if c.spec.get("undefinedResult").and_then(Value::as_bool) == Some(true) {
        return Some(None);
    }
    c.spec.get("result").map(|r| Some(r.clone()))
}

/// Runs `f` for about `budget`: a third to warm up and size the batches, then [`BATCHES`]
/// timed batches. Returns the median batch's nanoseconds per call.
fn per_evaluation_ns(mut f: impl FnMut(), budget: Duration) -> f64 {
    let start = Instant::now();
    let mut warm = 0u32;
    while warm == 0 || start.elapsed() < budget / 3 {
        f();
        warm += 1;
    }
    let each = start.elapsed().as_secs_f64() / f64::from(warm);
    let batch_secs = budget.as_secs_f64() * 2.0 / 3.0 / f64::from(BATCHES);
    let batch = (batch_secs / each).ceil().max(1.0) as u32;
    let mut times: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed().as_secs_f64() * 1e9 / f64::from(batch)
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
