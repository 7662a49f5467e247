// The reference implementation's side of the JSONata benchmark (bench/jsonata.sh): reads the
// cases Baton measured (one JSON line each, from crates/jsonata/examples/suite_bench.rs) and
// times each with jsonata-js the same way: compiled once, then about `budget` ms per case, a
// third to warm up and size the batches, then five timed batches; the figure is the median
// batch's time per evaluation. Each evaluation is `await expression.evaluate(input,
// bindings)`, as jsonata-js 2.x's API is asynchronous.
//
// A case that throws or gives another result than the suite expects is not timed; its line
// says why. Writes one JSON line per case: {"id", "js_ns"} or {"id", "js_error"}.
//
// Usage: node bench.mjs CASES.jsonl OUT.jsonl [budget-ms]

import { readFileSync, writeFileSync } from 'node:fs';
import jsonata from 'jsonata';

const [casesPath, outPath] = process.argv.slice(2, 4);
const budgetMs = Number(process.argv[4] ?? 3);
if (!casesPath || !outPath || !(budgetMs > 0)) {
  console.error('usage: node bench.mjs CASES.jsonl OUT.jsonl [budget-ms]');
  process.exit(2);
}
const BATCHES = 5;

/// Equality as the suite's checker judges it: numbers within a relative 1e-12.
function eq(a, b) {
  if (typeof a === 'number' && typeof b === 'number') {
    return a === b || Math.abs(a - b) <= Math.max(1e-12 * Math.max(Math.abs(a), Math.abs(b)), 1e-15);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => eq(x, b[i]));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && eq(a[k], b[k]));
  }
  return a === b;
}

/// Runs `f` for about `budgetMs`: a third to warm up and size the batches, then BATCHES timed
/// batches. Returns the median batch's nanoseconds per call.
async function perEvaluationNs(f) {
  const budgetNs = budgetMs * 1e6;
  let start = process.hrtime.bigint();
  let warm = 0;
  while (warm === 0 || Number(process.hrtime.bigint() - start) < budgetNs / 3) {
    await f();
    warm += 1;
  }
  const each = Number(process.hrtime.bigint() - start) / warm;
  const batch = Math.max(1, Math.ceil((budgetNs * 2) / 3 / BATCHES / each));
  const times = [];
  for (let b = 0; b < BATCHES; b++) {
    start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) {
      await f();
    }
    times.push(Number(process.hrtime.bigint() - start) / batch);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)];
}

const lines = readFileSync(casesPath, 'utf8').split('\n').filter((l) => l.trim() !== '');
const out = [];
let timed = 0;
for (const line of lines) {
  const c = JSON.parse(line);
  let expression;
  let got;
  try {
    expression = jsonata(c.expr);
    got = await expression.evaluate(c.data, c.bindings);
  } catch (e) {
    out.push(JSON.stringify({ id: c.id, js_error: String(e.code ?? e.message ?? e) }));
    continue;
  }
  // Sequences and other results carry extra properties; compare their JSON form.
  const json = got === undefined ? undefined : JSON.parse(JSON.stringify(got) ?? 'null');
  const ok = c.undefined ? got === undefined : got !== undefined && eq(c.result, json);
  if (!ok) {
    out.push(JSON.stringify({ id: c.id, js_error: 'result differs from the suite' }));
    continue;
  }
  const ns = await perEvaluationNs(() => expression.evaluate(c.data, c.bindings));
  out.push(JSON.stringify({ id: c.id, js_ns: ns }));
  timed += 1;
}
writeFileSync(outPath, out.join('\n') + '\n');
console.error(`jsonata-js: ${timed} of ${lines.length} cases timed`);
