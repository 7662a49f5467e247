#!/usr/bin/env bash
# Measures warm function invocations over HTTP (the Lambda Invoke API of `baton up`) and
# writes the figures into the "Functions" section of docs/benchmarks.md.
#
# One server on 127.0.0.1:0 declares a no-op function built with the official Rust Lambda
# runtime (crates/test-function, returning its event) with 16 warm processes, and the same
# no-op in exec mode (`cat`, one process per event). `baton functions bench` keeps N calls in
# flight for BENCH_SECONDS after a second of warm-up and reports invocations/s and the
# latency of each call as the client sees it. The load generator shares the machine's cores.
#
# Usage: bench/functions.sh
# Environment:
#   CARGO_TARGET_DIR  the cargo target directory (default target-bench)
#   BENCH_SECONDS     seconds of load per measurement (default 10)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-bench}"
seconds="${BENCH_SECONDS:-10}"
doc="$root/docs/benchmarks.md"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== Building: cargo build --release -p baton -p test-function"
cargo build --release -p baton -p test-function
cp "$CARGO_TARGET_DIR/release/baton" "$work/baton"
cp "$CARGO_TARGET_DIR/release/baton-test-function" "$work/function"

cat >"$work/baton.toml" <<EOF
[functions.noop]
command = ["$work/function"]
env = { BATON_TEST_BEHAVIOUR = "identity" }
max_concurrency = 16
warm = 16

[functions.noop-exec]
mode = "exec"
command = "cat"
max_concurrency = 16
EOF

mkdir -p "$work/data"
RUST_LOG=warn "$work/baton" up --config "$work/baton.toml" --data "$work/data" \
    --listen 127.0.0.1:0 >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
endpoint=""
for _ in $(seq 1 100); do
    endpoint="$(head -n 1 "$work/stdout" 2>/dev/null | sed -n 's/^baton listening on //p')"
    [ -n "$endpoint" ] && break
    sleep 0.1
done
if [ -z "$endpoint" ]; then
    echo "baton up did not start:" >&2
    cat "$work/stderr" >&2
    exit 1
fi

results="$work/results.jsonl"
: >"$results"
for run in "noop 1" "noop 16" "noop-exec 1" "noop-exec 16"; do
    read -r function concurrency <<<"$run"
    echo "== $function at concurrency $concurrency"
    "$work/baton" functions --endpoint "$endpoint" bench "$function" \
        --concurrency "$concurrency" --duration "$seconds" --json | tail -n 1 >>"$results"
done

load="$(cut -d' ' -f1-3 /proc/loadavg)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
section="$work/section.md"
{
    echo "<!-- functions:begin (written by bench/functions.sh) -->"
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores ($cpu), load average $load"
    echo "before the last run; ${seconds} s per row after 1 s of warm-up; client, server and"
    echo "function processes share the cores."
    echo
    echo "| function | mode | concurrency | invocations/s | p50 ms | p99 ms | max ms | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    jq -r '"| \(.function) | \(if .function == "noop" then "runtime (lambda_runtime, warm)" else "exec (cat)" end) | \(.concurrency) | \(.per_second) | \(.p50_ms) | \(.p99_ms) | \(.max_ms) | \(.errors) |"' "$results"
    echo "<!-- functions:end -->"
} >"$section"
cat "$section"

if grep -q '<!-- functions:begin' "$doc"; then
    awk -v file="$section" '
        /<!-- functions:begin/ { while ((getline line < file) > 0) print line; skip = 1; next }
        /<!-- functions:end -->/ { skip = 0; next }
        !skip { print }
    ' "$doc" >"$work/doc.md"
    cp "$work/doc.md" "$doc"
else
    { echo; echo "## Functions"; echo; cat "$section"; } >>"$doc"
fi
echo "== Wrote the Functions section of $doc"
