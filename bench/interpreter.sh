#!/usr/bin/env bash
# Runs the interpreter benchmarks (Baton's criterion bench and the aws-local-stepfunctions
# peer on the same workloads) and writes the figures into docs/benchmarks.md.
#
# Usage: bench/interpreter.sh
# Environment: CARGO_TARGET_DIR (default target-bench), PEER_SECONDS (default 3).
# Takes about two minutes after the build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-bench}"
peer="$root/bench/peers/aws-local-stepfunctions"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
load="$(cut -d' ' -f1-3 /proc/loadavg)"

echo "== Baton: cargo bench -p asl --bench interpreter"
# Criterion keeps its previous figures for comparison; clear them so the report reads only
# this run's.
rm -rf "$CARGO_TARGET_DIR/criterion/pass_chain_10" "$CARGO_TARGET_DIR/criterion/inline_map_40" \
    "$CARGO_TARGET_DIR/criterion/choice_loop_20"
if ! cargo bench -p asl --bench interpreter >"$out/baton.log" 2>&1; then
    cat "$out/baton.log" >&2
    echo "cargo bench failed" >&2
    exit 1
fi
grep -E '^[a-z_0-9]+/|time:|thrpt:' "$out/baton.log" || true

echo "== Peer: aws-local-stepfunctions under node $(node --version)"
if [ ! -d "$peer/node_modules/aws-local-stepfunctions" ]; then
    (cd "$peer" && npm install --no-audit --no-fund --no-package-lock --loglevel=error)
fi
node "$peer/bench.mjs" "${PEER_SECONDS:-3}" | tee "$out/peer.jsonl"

echo "== Writing docs/benchmarks.md"
# shellcheck source=bench/machine.sh
. "$root/bench/machine.sh"
export_machine
BENCH_LOAD="$load" \
BENCH_PEER_VERSION="$(node -p "require('$peer/node_modules/aws-local-stepfunctions/package.json').version")" \
    node "$root/bench/report.mjs" "$CARGO_TARGET_DIR/criterion" "$out/peer.jsonl" "$root/docs/benchmarks.md"
