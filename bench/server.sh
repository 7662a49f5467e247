#!/usr/bin/env bash
# Runs `baton bench` against `baton up` over loopback HTTP and writes the figures into the
# "The server" section of docs/benchmarks.md.
#
# Every workload gets a fresh server on 127.0.0.1:0 with a fresh store (a new temporary data
# directory for SQLite; a new database for PostgreSQL), so its peak RSS and its store are its
# own. The server is stopped by its PID after each workload.
#
# Usage: bench/server.sh
# Environment:
#   CARGO_TARGET_DIR          the cargo target directory (default target-bench)
#   BENCH_SECONDS             seconds of load per workload (default 10)
#   BENCH_CONCURRENCY         requests in flight (default 64)
#   BATON_BENCH_POSTGRES_URL  e.g. postgres://postgres@127.0.0.1:5432/postgres: also run on
#                             PostgreSQL, in a database this script creates and drops with psql
#                             (the URL's database is only used to connect for that).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-bench}"
seconds="${BENCH_SECONDS:-10}"
concurrency="${BENCH_CONCURRENCY:-64}"
pg_url="${BATON_BENCH_POSTGRES_URL:-}"
doc="$root/docs/benchmarks.md"
load="$(cut -d' ' -f1-3 /proc/loadavg)"

# The workloads, as "workload mode" pairs.
workloads=("w1 express" "w1 standard" "w2 standard" "w3 standard" "w4 express" "w4 standard")

work="$(mktemp -d)"
server_pid=""
pg_db=""

stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}

drop_database() {
    if [ -n "$pg_db" ]; then
        psql "$pg_url" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" \
            >/dev/null || echo "warning: could not drop database $pg_db" >&2
        pg_db=""
    fi
}

cleanup() {
    stop_server
    drop_database
    rm -rf "$work"
}
trap cleanup EXIT

echo "== Building: cargo build --release -p baton"
# A private copy of the binary: in a target directory shared with other work trees, another
# tree's build may replace target/release/baton at any time (cargo does not notice and still
# calls this tree's build fresh). The debug line tables name the tree the binary came from, so
# the copy is checked for this tree's path and built again if it is someone else's.
baton="$work/baton"
for attempt in 1 2 3; do
    cargo build --release -p baton
    cp "$CARGO_TARGET_DIR/release/baton" "$baton"
    if grep -qaF "$root" "$baton"; then
        break
    fi
    if [ "$attempt" = 3 ]; then
        echo "target/release/baton keeps coming from another tree; giving up" >&2
        exit 1
    fi
    # Make cargo link this tree's binary again.
    touch "$root/crates/baton/src/main.rs"
done

# start_server DIR [DATABASE_URL]: starts `baton up` and sets server_pid and endpoint.
start_server() {
    local dir="$1" database="${2:-}"
    mkdir -p "$dir/data"
    if [ -n "$database" ]; then
        "$baton" up --data "$dir/data" --listen 127.0.0.1:0 --database "$database" \
            >"$dir/stdout" 2>"$dir/stderr" &
    else
        "$baton" up --data "$dir/data" --listen 127.0.0.1:0 >"$dir/stdout" 2>"$dir/stderr" &
    fi
    server_pid=$!
    endpoint=""
    for _ in $(seq 1 300); do
        endpoint="$(head -n 1 "$dir/stdout" 2>/dev/null | sed -n 's/^baton listening on //p')"
        [ -n "$endpoint" ] && return 0
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "baton up did not start:" >&2
    cat "$dir/stderr" >&2
    stop_server
    return 1
}

results="$work/results.jsonl"
: >"$results"

# run_store LABEL: runs every workload on a fresh server for the store LABEL (sqlite or
# postgres) and appends one JSON line per workload to $results.
run_store() {
    local label="$1" n=0 pair workload mode dir database line
    for pair in "${workloads[@]}"; do
        read -r workload mode <<<"$pair"
        n=$((n + 1))
        dir="$work/$label-$n"
        mkdir -p "$dir"
        database=""
        if [ "$label" = postgres ]; then
            pg_db="baton_bench_$(date +%s)_$n"
            psql "$pg_url" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$pg_db\"" >/dev/null
            database="${pg_url%/*}/$pg_db"
        fi
        echo "== $workload $mode on $label"
        if ! start_server "$dir" "$database"; then
            jq -cn --arg w "$workload" --arg m "$mode" --arg s "$label" \
                '{workload: $w, mode: $m, store: $s, error: "baton up did not start"}' >>"$results"
            drop_database
            continue
        fi
        line="$("$baton" bench --endpoint "$endpoint" --workload "$workload" --mode "$mode" \
            --duration "$seconds" --concurrency "$concurrency" --pid "$server_pid" --json \
            2>"$dir/bench.stderr" | tail -n 1)" || true
        stop_server
        drop_database
        if [ -z "$line" ] || ! jq -e . >/dev/null 2>&1 <<<"$line"; then
            line="$(jq -cn --arg w "$workload" --arg m "$mode" --arg e "$(tail -n 3 "$dir/bench.stderr")" \
                '{workload: $w, mode: $m, error: $e}')"
        fi
        # What the server logged at WARN or ERROR during the run, for the notes.
        local warns errors first
        warns="$(grep -c ' WARN ' "$dir/stderr" || true)"
        errors="$(grep -c ' ERROR ' "$dir/stderr" || true)"
        first="$(grep -m 1 -E ' (WARN|ERROR) ' "$dir/stderr" | cut -c 1-300 || true)"
        jq -c --arg s "$label" --argjson w "$warns" --argjson e "$errors" --arg f "$first" \
            '. + {store: $s, server_warn_lines: $w, server_error_lines: $e, server_first_warning: $f}' \
            <<<"$line" | tee -a "$results"
    done
}

run_store sqlite
if [ -n "$pg_url" ]; then
    run_store postgres
fi

echo "== Writing docs/benchmarks.md"
section="$work/section.md"
{
    echo "<!-- bench:server:begin (written by bench/server.sh) -->"
    echo "Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), by \`bench/server.sh\`: ${seconds} s of load per"
    echo "workload, ${concurrency} requests in flight, one fresh server and store per row."
    echo
    echo "Machine: $(nproc) cores (\`nproc\`), $(grep -m 1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: *//'),"
    echo "$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, $(uname -sr);"
    echo "load average $load at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end. $(rustc --version)."
    echo
    echo "| workload | mode | store | calls/s | executions/s | transitions/s | p50 ms | p99 ms | max ms | server CPU µs per transition | peak RSS MiB | errors and notes |"
    echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    jq -r '
        def num: if . == null then "—" else (. * 10 | round / 10 | tostring) end;
        def commas: if length <= 3 then . else (.[:-3] | commas) + "," + .[-3:] end;
        def int: if . == null then "—" else (round | tostring | commas) end;
        def wname: {"w1": "W1 10 Pass", "w2": "W2 5 HTTP Tasks", "w3": "W3 5 HTTP Tasks, 250 KiB",
            "w4": "W4 Map of 40"}[.] // .;
        if .error then
            "| \(.workload | wname) | \(.mode) | \(.store) | — | — | — | — | — | — | — | — | **failed**: \(.error | gsub("\\|"; "/") | gsub("\n"; " ")) |"
        else
            ([ (.errors | to_entries[] | "\(.value) × \(.key)"),
               (if .drain_timed_out then "drain timed out, \(.still_running) still running" else empty end),
               (if (.executions_failed // 0) > 0 then "\(.executions_failed) executions failed" else empty end),
               (if .server_error_lines > 0 then "server logged \(.server_error_lines) ERROR lines" else empty end),
               (if .server_warn_lines > 0 then "server logged \(.server_warn_lines) WARN lines" else empty end)
             ] | if length == 0 then "none" else join("; ") end) as $notes
            | "| \(.workload | wname) | \(.mode) | \(.store) | \(.calls_per_s | int) | \(.executions_per_s | int) | \(.transitions_per_s | int) | \(.p50_ms | num) | \(.p99_ms | num) | \(.max_ms | num) | \(.server_cpu_us_per_transition | num) | \(if .peak_rss_kib then (.peak_rss_kib / 1024 | num) else "—" end) | \($notes) |"
        end' "$results"
    echo
    echo "Raw results (one \`baton bench --json\` line per row):"
    echo
    echo '```json'
    cat "$results"
    echo '```'
    echo "<!-- bench:server:end -->"
} >"$section"

if grep -q '^<!-- bench:server:begin' "$doc"; then
    awk -v section="$section" '
        /^<!-- bench:server:begin/ { while ((getline line < section) > 0) print line; skip = 1; next }
        /^<!-- bench:server:end/ { skip = 0; next }
        !skip { print }
    ' "$doc" >"$work/doc.md"
    cat "$work/doc.md" >"$doc"
else
    {
        echo
        echo "## The server"
        echo
        echo "Written by \`bench/server.sh\`; see that script and \`baton bench --help\`."
        echo
        cat "$section"
    } >>"$doc"
fi
echo "Wrote the server section of $doc"
