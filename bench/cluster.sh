#!/usr/bin/env bash
# Two `baton up` nodes on one PostgreSQL against one node: the scale-out figure.
#
# For each workload, one node takes the whole load; then two nodes on one database each take
# half of it (two `baton bench` clients, one per node, side by side), and the executions/s
# are added up. Writes the "Two nodes" section of docs/benchmarks.md.
#
# With NODE_CPU_PERCENT set (root and the cgroup `cpu` controller needed), each node runs in a
# cgroup of its own capped at that share of one core, standing in for a machine per node (on
# one small machine the nodes otherwise share its cores with PostgreSQL and the load
# generators, and a second node adds no CPU); each node then takes the whole load
# (BENCH_CONCURRENCY per node), as a second machine would, and the figures go to the section
# "cluster-capped" instead.
#
# Usage: BATON_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres bench/cluster.sh
# Environment: CARGO_TARGET_DIR (default target-bench), BENCH_SECONDS (default 10),
# BENCH_CONCURRENCY (in flight in all, or per node when capped; default 64), BENCH_ROUNDS
# (one node then two, repeated; default 1), NODE_CPU_PERCENT (unset: no cap).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-bench}"
seconds="${BENCH_SECONDS:-10}"
concurrency="${BENCH_CONCURRENCY:-64}"
pg_url="${BATON_BENCH_POSTGRES_URL:?set BATON_BENCH_POSTGRES_URL to a PostgreSQL URL}"
rounds="${BENCH_ROUNDS:-1}"
cap="${NODE_CPU_PERCENT:-}"
doc="$root/docs/benchmarks.md"
work="$(mktemp -d)"
pids=()
groups=()
db=""
marker="cluster"
[ -n "$cap" ] && marker="cluster-capped"

# cap_pid PID N: puts the process in a cgroup of its own, capped at $cap% of one core
# (cgroup v1's cpu controller, or v2's cpu.max).
cap_pid() {
    local pid="$1" n="$2" group
    if [ -d /sys/fs/cgroup/cpu ]; then
        group="/sys/fs/cgroup/cpu/baton-bench-$$-$n"
        mkdir -p "$group"
        echo 100000 >"$group/cpu.cfs_period_us"
        echo $((cap * 1000)) >"$group/cpu.cfs_quota_us"
    else
        group="/sys/fs/cgroup/baton-bench-$$-$n"
        mkdir -p "$group"
        echo "$((cap * 1000)) 100000" >"$group/cpu.max"
    fi
    echo "$pid" >"$group/cgroup.procs"
    groups+=("$group")
}

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for g in "${groups[@]}"; do rmdir "$g" 2>/dev/null || true; done
    if [ -n "$db" ]; then
        psql "$pg_url" -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -p baton
baton="$work/baton"
cp "$CARGO_TARGET_DIR/release/baton" "$baton"

# node N URL: starts a node and sets endpoint (not in a subshell: its PID must reach pids).
node() {
    local n="$1" url="$2"
    endpoint=""
    mkdir -p "$work/n$n"
    "$baton" up --data "$work/n$n" --listen 127.0.0.1:0 --database "$url" \
        >"$work/n$n/stdout" 2>"$work/n$n/stderr" &
    pids+=($!)
    [ -n "$cap" ] && cap_pid "$!" "$n"
    for _ in $(seq 1 300); do
        endpoint="$(head -n 1 "$work/n$n/stdout" 2>/dev/null | sed -n 's/^baton listening on //p')"
        [ -n "$endpoint" ] && return 0
        sleep 0.1
    done
    echo "node $n did not start" >&2
    cat "$work/n$n/stderr" >&2
    return 1
}

stop_nodes() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    pids=()
    psql "$pg_url" -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
    db=""
}

# fresh_db: creates an empty database and sets db and url.
fresh_db() {
    db="baton_cluster_$(date +%s%N)"
    psql "$pg_url" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null
    url="${pg_url%/*}/$db"
}

rows=()
for round in $(seq 1 "$rounds"); do
for workload in w1 w2; do
    fresh_db
    node 1 "$url"
    a="$endpoint"
    one="$("$baton" bench --endpoint "$a" --workload "$workload" --mode standard \
        --duration "$seconds" --concurrency "$concurrency" --json | tail -n 1)"
    stop_nodes
    fresh_db
    node 1 "$url"
    a="$endpoint"
    node 2 "$url"
    b="$endpoint"
    half=$((concurrency / 2))
    [ -n "$cap" ] && half="$concurrency"
    "$baton" bench --endpoint "$a" --workload "$workload" --mode standard --duration "$seconds" \
        --concurrency "$half" --json >"$work/a.json" &
    ca=$!
    "$baton" bench --endpoint "$b" --workload "$workload" --mode standard --duration "$seconds" \
        --concurrency "$half" --json >"$work/b.json" &
    cb=$!
    wait "$ca" "$cb"
    stop_nodes
    e1="$(jq -r '.executions_per_s' <<<"$one")"
    ea="$(tail -n 1 "$work/a.json" | jq -r '.executions_per_s')"
    eb="$(tail -n 1 "$work/b.json" | jq -r '.executions_per_s')"
    two="$(jq -n "$ea + $eb")"
    ratio="$(jq -n "($ea + $eb) / $e1 * 100 | round / 100")"
    rows+=("| $workload standard | $(printf '%.0f' "$e1") | $(printf '%.0f' "$ea") + $(printf '%.0f' "$eb") = $(printf '%.0f' "$two") | $ratio |")
done
done

section="$work/section.md"
{
    echo "<!-- bench:$marker:begin (written by bench/cluster.sh) -->"
    echo "Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), by \`bench/cluster.sh\`: ${seconds} s per"
    if [ -n "$cap" ]; then
        echo "row, each node capped at ${cap}% of one core (a cgroup each) with ${concurrency} requests"
        echo "in flight per node, ${rounds} round(s); PostgreSQL $(psql "$pg_url" -Atc 'show server_version'),"
        echo "uncapped, on the same $(nproc)-core machine as the nodes and the load generators."
    else
        echo "row, ${concurrency} requests in flight in all; PostgreSQL $(psql "$pg_url" -Atc 'show server_version'),"
        echo "on the same $(nproc)-core machine as the nodes and the load generators."
    fi
    echo
    echo "| workload | one node, executions/s | two nodes, executions/s | ratio |"
    echo "| --- | ---: | ---: | ---: |"
    printf '%s\n' "${rows[@]}"
    echo "<!-- bench:$marker:end -->"
} >"$section"
if grep -q "^<!-- bench:$marker:begin" "$doc"; then
    awk -v section="$section" -v begin="^<!-- bench:$marker:begin" -v end="^<!-- bench:$marker:end" '
        $0 ~ begin { while ((getline line < section) > 0) print line; skip = 1; next }
        $0 ~ end { skip = 0; next }
        !skip { print }
    ' "$doc" >"$work/doc.md"
    cat "$work/doc.md" >"$doc"
else
    {
        echo
        echo "## Two nodes"
        echo
        echo "Written by \`bench/cluster.sh\`: two nodes on one PostgreSQL against one."
        echo
        cat "$section"
    } >>"$doc"
fi
cat "$section"
