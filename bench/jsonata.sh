#!/usr/bin/env bash
# The JSONata benchmark (issue 3): times the official suite's expressions with Baton's
# `jsonata` crate and with the reference implementation (jsonata-js, pinned in
# bench/peers/jsonata-js/), each compiled once and evaluated many times, on the same machine
# in the same run, and writes the figures into docs/benchmarks.md.
#
# Usage: bench/jsonata.sh
# Environment: CARGO_TARGET_DIR (default target-bench), JSONATA_SUITE (default
# ../shared/conformance/jsonata), BUDGET_MS (milliseconds per expression per side, default 3).
# Takes about a minute after the build for the ~1,000 expressions.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-bench}"
suite="${JSONATA_SUITE:-$root/../shared/conformance/jsonata}"
budget="${BUDGET_MS:-3}"
peer="$root/bench/peers/jsonata-js"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
load="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "== Building: cargo build --workspace --release --example suite_bench"
nice -n 10 cargo build --workspace --release --example suite_bench

echo "== Baton: suite_bench on $suite"
"$CARGO_TARGET_DIR/release/examples/suite_bench" "$suite" "$out/baton.jsonl" "$budget"

echo "== Peer: jsonata-js under node $(node --version)"
if [ ! -d "$peer/node_modules/jsonata" ]; then
    (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
fi
node "$peer/bench.mjs" "$out/baton.jsonl" "$out/peer.jsonl" "$budget"

echo "== Writing docs/benchmarks.md"
# shellcheck source=bench/machine.sh
. "$root/bench/machine.sh"
export_machine
BENCH_LOAD="$load" \
BENCH_BUDGET_MS="$budget" \
BENCH_PEER_VERSION="$(node -p "require('$peer/node_modules/jsonata/package.json').version")" \
    node "$root/bench/jsonata-report.mjs" "$out/baton.jsonl" "$out/peer.jsonl" "$root/docs/benchmarks.md"
