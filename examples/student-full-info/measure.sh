#!/usr/bin/env bash
# Measures the composite service both ways: GET /api/students/{id}/full (the enrollments
# and the address fetched in parallel) against /full-sequential (one call after another).
# Starts `baton up` with this example on a fresh SQLite data directory on a free loopback
# port, adds a student with an address and two enrollments, then times N requests of each
# route, interleaved, with curl, and prints the median and the 90th percentile. Stops Baton
# by its PID at the end.
#
# Usage: examples/student-full-info/measure.sh        (N=200 by default: N=500 ...)
# Needs the release build: cargo build --release -p baton -p student-functions
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/release"
n="${N:-200}"
work="$(mktemp -d)"
env "BATON_FUNCTIONS__ADDRESS-SERVICE__COMMAND=$bin/student-functions" \
    "BATON_FUNCTIONS__CHAT-BOT__COMMAND=$bin/student-functions" RUST_LOG=warn \
    "$bin/baton" up --config "$here/baton.toml" --data "$work/data" --listen 127.0.0.1:0 \
    >"$work/out" 2>"$work/err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
    grep -q "listening on" "$work/out" 2>/dev/null && break
    sleep 0.1
done
base="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/out" | head -1)"
[ -n "$base" ] || { echo "baton did not start:" >&2; cat "$work/err" >&2; exit 1; }
A='x-api-key: admin-demo-key'
J='content-type: application/json'
post() { curl -sf -o /dev/null -XPOST "$base$1" -H "$A" -H "$J" -d "$2"; }
post /api/addresses '{"line":"520 w 120th st NYC"}'
post /api/courses '{"id":"COMS4153","title":"Cloud Computing"}'
post /api/courses '{"id":"COMS4111","title":"Databases"}'
post /api/students '{"id":"ab1234","first_name":"Ada","last_name":"Lovelace","email":"ada@example.edu","address_id":"10027-6902-20"}'
post /api/enrollments '{"id":"e1","student_id":"ab1234","course_id":"COMS4153"}'
post /api/enrollments '{"id":"e2","student_id":"ab1234","course_id":"COMS4111"}'
for route in full full-sequential; do   # warm up
    for _ in $(seq 20); do curl -sf -o /dev/null "$base/api/students/ab1234/$route" -H "$A"; done
done
for _ in $(seq "$n"); do
    for route in full full-sequential; do
        curl -sf -o /dev/null -w "$route %{time_total}\n" "$base/api/students/ab1234/$route" -H "$A"
    done
done >"$work/times"
echo "$n requests of each route, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg):"
for route in full full-sequential; do
    awk -v r="$route" '$1 == r { print $2 * 1000 }' "$work/times" | sort -n |
        awk -v r="$route" '{ v[NR] = $1 } END { printf "  /api/students/{id}/%-16s p50 %.2f ms  p90 %.2f ms\n", r, v[int(NR * 0.5)], v[int(NR * 0.9)] }'
done
