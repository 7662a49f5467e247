// Runs the interpreter workloads of bench/workloads/ on aws-local-stepfunctions, in process,
// and prints one JSON line per workload: {"workload", "transitions", "runs", "seconds",
// "transitions_per_sec"}.
//
// Every execution starts from StateMachine.run and awaits its result, as Baton's benchmark
// runs Execution::start to its end. The machine is constructed (and validated) once. A
// transition is counted per state entered, as Baton counts them; the count comes from the
// peer's own event log on a probe run, so the two sides agree on the unit of work.
//
// Usage: node bench.mjs [seconds-per-workload] [workload ...]

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StateMachine } from 'aws-local-stepfunctions';

const here = dirname(fileURLToPath(import.meta.url));
const workloads = join(here, '..', '..', 'workloads');

const seconds = Number(process.argv[2] ?? 3);
const names = process.argv.length > 3 ? process.argv.slice(3) : ['pass_chain_10', 'inline_map_40', 'choice_loop_20'];

/// Counts the states entered in one execution (Map iterations included) from the event log.
async function probe(machine, input) {
  const execution = machine.run(input);
  let entered = 0;
  const counting = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') entered += 1;
    }
  })();
  await execution.result;
  await counting;
  return entered;
}

/// Runs executions back to back for about `budget` seconds and returns [runs, elapsed s].
async function timed(machine, input, budget) {
  let runs = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(budget * 1e9));
  let now = start;
  while (now < deadline) {
    // Batches keep the clock reads out of the measurement.
    for (let i = 0; i < 100; i++) {
      await machine.run(input).result;
    }
    runs += 100;
    now = process.hrtime.bigint();
  }
  return [runs, Number(now - start) / 1e9];
}

for (const name of names) {
  const w = JSON.parse(readFileSync(join(workloads, `${name}.json`), 'utf8'));
  const machine = new StateMachine(w.definition);
  const transitions = await probe(machine, w.input);
  await timed(machine, w.input, 1); // Warm-up: let the JIT settle.
  const [runs, elapsed] = await timed(machine, w.input, seconds);
  const perSec = (runs * transitions) / elapsed;
  console.log(
    JSON.stringify({ workload: name, transitions, runs, seconds: elapsed, transitions_per_sec: perSec }),
  );
}
