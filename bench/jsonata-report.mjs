// Writes the JSONata benchmark's figures into docs/benchmarks.md, between the markers
// `<!-- bench:jsonata:begin ... -->` and `<!-- bench:jsonata:end -->`.
//
// Usage: node bench/jsonata-report.mjs BATON.jsonl PEER.jsonl DOCS.md
// BATON.jsonl comes from crates/jsonata/examples/suite_bench.rs, PEER.jsonl from
// bench/peers/jsonata-js/bench.mjs. The machine's description comes from the BENCH_*
// environment variables that bench/jsonata.sh sets.

import { readFileSync, writeFileSync } from 'node:fs';

const [batonPath, peerPath, docsPath] = process.argv.slice(2, 5);
if (!batonPath || !peerPath || !docsPath) {
  console.error('usage: node bench/jsonata-report.mjs BATON.jsonl PEER.jsonl DOCS.md');
  process.exit(2);
}
const readLines = (p) =>
  readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l));

const baton = new Map(readLines(batonPath).map((c) => [c.id, c]));
const peer = readLines(peerPath);
const both = [];
const peerFailed = [];
for (const p of peer) {
  const b = baton.get(p.id);
  if (!b) continue;
  if (p.js_ns === undefined) {
    peerFailed.push(`${p.id} (${p.js_error})`);
  } else {
    both.push({ id: p.id, expr: b.expr, baton: b.baton_ns, convert: b.baton_convert_ns, size: JSON.stringify(b.data ?? null).length, js: p.js_ns, ratio: p.js_ns / b.baton_ns });
  }
}
if (both.length === 0) {
  console.error('no case was measured on both sides');
  process.exit(1);
}

/// The q-th quantile (0..1) of `xs`, interpolating between the nearest ranks.
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
const commas = (n) => Math.round(n).toLocaleString('en-US');
const ns = (n) => (n < 100 ? n.toFixed(1) : commas(n));
/// A table row: the 10th, 50th and 90th percentiles of `xs`.
const row = (name, xs, fmt) =>
  `| ${name} | ${fmt(quantile(xs, 0.1))} | ${fmt(quantile(xs, 0.5))} | ${fmt(quantile(xs, 0.9))} |`;
const ratios = both.map((c) => c.ratio);
const median = quantile(ratios, 0.5);
/// The median ratio and count of the cases whose input's JSON is (or is not) under 200 bytes.
const bySize = (small) => {
  const xs = both.filter((c) => (c.size < 200) === small).map((c) => c.ratio);
  return xs.length === 0 ? 'none' : `${quantile(xs, 0.5).toFixed(2)}× over ${xs.length}`;
};
const target = 5;
const slowest = [...both].sort((a, b) => a.ratio - b.ratio).slice(0, 5);
const code = (s) => '`' + s.replace(/\s+/g, ' ').replace(/`/g, "'").replace(/\|/g, '\\|').slice(0, 70) + '`';
const env = process.env;

const block = [
  `Last run: ${env.BENCH_DATE}, by \`bench/jsonata.sh\` (budget ${env.BENCH_BUDGET_MS} ms per expression per side).`,
  '',
  `Machine: ${env.BENCH_NPROC} cores (\`nproc\`), ${env.BENCH_CPU}, ${env.BENCH_MEMORY} memory;`,
  `load average ${env.BENCH_LOAD} at the start. ${env.BENCH_RUSTC}; node ${env.BENCH_NODE}; jsonata-js ${env.BENCH_PEER_VERSION}.`,
  '',
  `Expressions measured on both sides: **${both.length}** (of ${baton.size} that Baton evaluates to the`,
  `suite's result; ${peerFailed.length} more throw or differ under jsonata-js and are left out).`,
  '',
  '| per expression | p10 | median | p90 |',
  '| --- | ---: | ---: | ---: |',
  row('Baton, ns per evaluation', both.map((c) => c.baton), ns),
  row('jsonata-js, ns per evaluation', both.map((c) => c.js), ns),
  row('ratio jsonata-js / Baton (× faster)', ratios, (x) => `${x.toFixed(2)}×`),
  row("Baton, converting the input and bindings (`Document::from_json`), ns", both.map((c) => c.convert), ns),
  row('ratio when Baton converts on every call (`Expression::evaluate`)', both.map((c) => c.js / (c.baton + c.convert)), (x) => `${x.toFixed(2)}×`),
  '',
  `Issue 3's target, Baton at least ${target}× faster in median per expression: ` +
    `**${median >= target ? 'met' : 'missed'}** (${median.toFixed(2)}×).`,
  '',
  `Median ratio by the size of the input (compact JSON): under 200 bytes ${bySize(true)}; ` +
    `200 bytes or more ${bySize(false)}.`,
  '',
  'The five expressions where Baton is furthest behind or least ahead:',
  '',
  '| case | expression | Baton ns | jsonata-js ns | ratio |',
  '| --- | --- | ---: | ---: | ---: |',
  ...slowest.map((c) => `| ${c.id} | ${code(c.expr)} | ${ns(c.baton)} | ${ns(c.js)} | ${c.ratio.toFixed(2)}× |`),
].join('\n');

const begin = '<!-- bench:jsonata:begin (written by bench/jsonata.sh) -->';
const end = '<!-- bench:jsonata:end -->';
const docs = readFileSync(docsPath, 'utf8');
const i = docs.indexOf(begin);
const j = docs.indexOf(end);
if (i < 0 || j < i) {
  console.error(`${docsPath} lacks the markers ${begin} ... ${end}`);
  process.exit(1);
}
writeFileSync(docsPath, docs.slice(0, i + begin.length) + '\n' + block + '\n' + docs.slice(j));
console.log(block);
if (peerFailed.length > 0) {
  console.log(`\nLeft out (jsonata-js): ${peerFailed.join(', ')}`);
}
