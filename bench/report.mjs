// Writes the figures of bench/interpreter.sh into docs/benchmarks.md.
//
// Usage: node report.mjs CRITERION_DIR PEER_JSONL DOC
//
// Only the text between the two markers below is replaced, so the analysis written around
// it by hand survives a rerun. The machine is described by BENCH_* environment variables.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BEGIN = '<!-- bench:interpreter:begin (written by bench/interpreter.sh) -->';
const END = '<!-- bench:interpreter:end -->';

/// Transitions per second the issue asks for, by history mode.
const TARGETS = { no_history: 1_000_000, history: 250_000 };

const WORKLOADS = [
  ['pass_chain_10', '10 Pass states, ~1 KiB input'],
  ['inline_map_40', 'inline Map of 40 items, Pass iterator'],
  ['choice_loop_20', 'Pass (`States.MathAdd`) + Choice loop, 20 rounds'],
];

const [criterionDir, peerFile, docFile] = process.argv.slice(2);
const env = process.env;

function baton(group, id) {
  const dir = join(criterionDir, group, id, 'new');
  const bench = JSON.parse(readFileSync(join(dir, 'benchmark.json'), 'utf8'));
  const est = JSON.parse(readFileSync(join(dir, 'estimates.json'), 'utf8'));
  const n = bench.throughput.Elements;
  const perSec = (ns) => n / (ns * 1e-9);
  // The slope of time against iterations is the figure criterion prints; the mean stands in
  // when criterion sampled flat.
  const e = est.slope ?? est.mean;
  return {
    transitions: n,
    rate: perSec(e.point_estimate),
    // A longer time is a lower rate: the bounds swap.
    low: perSec(e.confidence_interval.upper_bound),
    high: perSec(e.confidence_interval.lower_bound),
  };
}

const peer = Object.fromEntries(
  readFileSync(peerFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l))
    .map((r) => [r.workload, r]),
);

const fmt = (x) => Math.round(x).toLocaleString('en-US');

const rows = [];
for (const [name, label] of WORKLOADS) {
  for (const mode of ['no_history', 'history']) {
    const b = baton(name, mode);
    const p = peer[name];
    const target = TARGETS[mode];
    rows.push(
      [
        `${label} (\`${name}\`)`,
        mode === 'history' ? 'yes' : 'no',
        b.transitions,
        `${fmt(b.rate)} (${fmt(b.low)}–${fmt(b.high)})`,
        p ? fmt(p.transitions_per_sec) : '—',
        p ? `${(b.rate / p.transitions_per_sec).toFixed(1)}×` : '—',
        name === 'pass_chain_10' ? `${fmt(target)}: ${b.rate >= target ? 'met' : '**missed**'}` : '—',
      ].join(' | '),
    );
  }
}

const section = `${BEGIN}
Last run: ${env.BENCH_DATE ?? new Date().toISOString()}, by \`bench/interpreter.sh\`.

Machine: ${env.BENCH_NPROC ?? '?'} cores (\`nproc\`), ${env.BENCH_CPU || 'unknown CPU'}, ${env.BENCH_MEMORY ?? '?'} memory;
load average ${env.BENCH_LOAD ?? '?'} at the start. ${env.BENCH_RUSTC ?? ''}; node ${env.BENCH_NODE ?? process.version}.

| workload | Baton history | transitions per run | Baton transitions/s (95% CI) | peer transitions/s | Baton / peer | target (transitions/s) |
| --- | --- | ---: | ---: | ---: | ---: | --- |
${rows.map((r) => `| ${r} |`).join('\n')}

The peer is \`aws-local-stepfunctions\` ${env.BENCH_PEER_VERSION ?? ''} in process; it has no history switch and
always queues an in-memory event object per state entered and exited (unserialized), so the
same peer figure stands against both Baton rows.
${END}`;

const skeleton = `# Benchmarks

${BEGIN}
${END}
`;

let doc = existsSync(docFile) ? readFileSync(docFile, 'utf8') : skeleton;
const a = doc.indexOf(BEGIN);
const z = doc.indexOf(END);
if (a >= 0 && z > a) {
  doc = doc.slice(0, a) + section + doc.slice(z + END.length);
} else {
  doc = `${doc.trimEnd()}\n\n${section}\n`;
}
writeFileSync(docFile, doc);
console.log(`wrote ${docFile}`);
