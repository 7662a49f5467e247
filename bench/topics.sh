#!/usr/bin/env bash
# Topics: deliveries per second to a local receiver and publish-to-delivery latency, through
# the real `baton up` (release build) on SQLite and, with BATON_BENCH_POSTGRES_URL set, on
# PostgreSQL. Each run prints one JSON line per load: a burst (COUNT messages, 32 publishes
# in flight), a trickle (500 messages, one at a time: the latency without a queue) and two
# batched bursts (COUNT messages in batches of 10, as SNS's PublishBatch, 4 and then 8 batches
# in flight: at 8 the publishes outrun the deliveries, which then queue). Baton names the
# messages (as for a publisher that sends no ids), except in the last two loads, batches of 10
# with 4 in flight whose ids the publisher chooses: in order, then at random.
# The figures go to docs/benchmarks.md by hand, with the machine and the date.
set -euo pipefail
cd "$(dirname "$0")/.."
# --workspace keeps the feature set of the rest of the build (`-p baton` alone rebuilds every
# dependency with other features).
nice -n 10 cargo build --release --workspace --bin baton --example topics_bench
BIN="${CARGO_TARGET_DIR:-target}/release"
COUNT="${COUNT:-20000}"

run() {
  local label="$1"
  shift
  local dir
  dir="$(mktemp -d)"
  "$BIN/baton" up --listen 127.0.0.1:0 --data "$dir" "$@" >"$dir/out" 2>"$dir/err" &
  local pid=$!
  for _ in $(seq 100); do
    grep -q "baton listening on" "$dir/out" 2>/dev/null && break
    sleep 0.1
  done
  local addr
  addr="$(head -1 "$dir/out" | sed 's/baton listening on //')"
  echo "== $label ($addr)"
  "$BIN/examples/topics_bench" --endpoint "$addr" --count "$COUNT" --concurrency 32
  "$BIN/examples/topics_bench" --endpoint "$addr" --count 500 --concurrency 1
  "$BIN/examples/topics_bench" --endpoint "$addr" --count "$COUNT" --concurrency 4 --batch 10
  "$BIN/examples/topics_bench" --endpoint "$addr" --count "$COUNT" --concurrency 8 --batch 10
  "$BIN/examples/topics_bench" --endpoint "$addr" --count "$COUNT" --concurrency 4 --batch 10 --ids ordered
  "$BIN/examples/topics_bench" --endpoint "$addr" --count "$COUNT" --concurrency 4 --batch 10 --ids random
  kill "$pid"
  wait "$pid" || true
  rm -rf "$dir"
}

run sqlite
if [ -n "${BATON_BENCH_POSTGRES_URL:-}" ]; then
  run postgres --database "$BATON_BENCH_POSTGRES_URL"
fi
