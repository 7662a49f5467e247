#!/usr/bin/env bash
# Measures the Step Functions servers Baton is compared against (moto and LocalStack) and
# Baton itself with the same client, `baton bench`, on one workload (W1 by default), and
# prints a Markdown table with the ratio Baton/peer.
#
# Each peer is installed with pip into a fresh virtualenv under a temporary directory, started
# on 127.0.0.1 (loopback only), measured once and stopped by its PID. Before every measurement
# the script waits until no other benchmark (`baton bench`, bench/server.sh, bench/cluster.sh)
# is running, polling every 15 s.
#
# Usage: bench/peers.sh
# Environment:
#   BATON              the baton binary (default: built with cargo into target-bench)
#   PEERS_WORKLOAD     w1..w4 (default w1)
#   PEERS_MODE         standard or express (default standard)
#   PEERS_SECONDS      seconds of load per server (default 10)
#   PEERS_CONCURRENCY  requests in flight (default 8)
#   MOTO_VERSION       moto[server] version (default 5.2.5; 5.2.1 was seen to answer HTTP 500
#                      on every StartExecution after the first on a machine; versions between
#                      were not tried)
#   MOTO_PYTHON        the Python for moto (default python3.11, else python3)
#   LOCALSTACK_VERSION localstack-core version (default 2026.3.0)
#   LOCALSTACK_PYTHON  the Python for LocalStack, at least 3.13 (default python3.13, else the
#                      pyenv 3.13.0 interpreter)
#   PEERS              which servers, space-separated (default "baton moto localstack")
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
workload="${PEERS_WORKLOAD:-w1}"
mode="${PEERS_MODE:-standard}"
seconds="${PEERS_SECONDS:-10}"
concurrency="${PEERS_CONCURRENCY:-8}"
moto_version="${MOTO_VERSION:-5.2.5}"
ls_version="${LOCALSTACK_VERSION:-2026.3.0}"
peers="${PEERS:-baton moto localstack}"

# pick_python MINOR CANDIDATE...: the first candidate that runs and is Python 3.MINOR or newer
# (a pyenv shim is found on PATH even when its version is not enabled, and then fails).
pick_python() {
    local minor="$1" p
    shift
    for p in "$@"; do
        if "$p" -c "import sys; sys.exit(sys.version_info < (3, $minor))" >/dev/null 2>&1; then
            command -v "$p"
            return 0
        fi
    done
    return 1
}
moto_python="${MOTO_PYTHON:-$(pick_python 9 python3.11 python3)}"
ls_python="${LOCALSTACK_PYTHON:-$(pick_python 13 python3.13 /root/.pyenv/versions/3.13.0/bin/python3.13 || true)}"

work="$(mktemp -d)"
pid=""

stop() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=""
    fi
}
cleanup() {
    stop
    rm -rf "$work"
}
trap cleanup EXIT

# How Baton's row names its build: HEAD when this script builds it, else the binary's date.
baton_build=""
if [ -z "${BATON:-}" ]; then
    baton_build="$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD || echo '+changes')"
    echo "== Building: cargo build --release -p baton (target-bench)" >&2
    CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-bench}" cargo build --release -p baton >&2
    BATON="${CARGO_TARGET_DIR:-$root/target-bench}/release/baton"
else
    baton_build="built $(date -u -r "$BATON" '+%Y-%m-%d %H:%M UTC')"
fi
# A private copy, so that a concurrent build cannot replace it mid-run.
cp "$BATON" "$work/baton"
baton="$work/baton"

free_port() {
    "$moto_python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until no other benchmark runs, so that it does not share the CPU with this one.
wait_idle() {
    while pgrep -f "baton bench" >/dev/null || pgrep -f "bench/server.sh" >/dev/null ||
        pgrep -f "bench/cluster.sh" >/dev/null; do
        echo "   (another benchmark is running; waiting 15 s)" >&2
        sleep 15
    done
}

# wait_http URL SECONDS: waits until URL answers at all.
wait_http() {
    local url="$1" n
    for n in $(seq 1 $(($2 * 5))); do
        if curl -s -o /dev/null --max-time 2 "$url"; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.2
    done
    return 1
}

results="$work/results.jsonl"
: >"$results"

# measure NAME VERSION ENDPOINT: runs `baton bench` against ENDPOINT and appends its JSON line.
measure() {
    local name="$1" version="$2" endpoint="$3" line
    wait_idle
    echo "== $name $version: $workload $mode, $concurrency in flight, ${seconds} s, at $endpoint" >&2
    line="$("$baton" bench --endpoint "$endpoint" --workload "$workload" --mode "$mode" \
        --concurrency "$concurrency" --duration "$seconds" --drain-timeout 60 --pid "$pid" --json \
        2>"$work/$name.bench.stderr" | tail -n 1)" || true
    if [ -z "$line" ] || ! jq -e . >/dev/null 2>&1 <<<"$line"; then
        line="$(jq -cn --arg e "$(tail -n 3 "$work/$name.bench.stderr")" '{error: $e}')"
    fi
    jq -c --arg s "$name" --arg v "$version" '{server: $s, version: $v} + .' <<<"$line" |
        tee -a "$results" >&2
}

failed() {
    jq -cn --arg s "$1" --arg v "$2" --arg e "$3" '{server: $s, version: $v, error: $e}' |
        tee -a "$results" >&2
}

run_baton() {
    local version dir="$work/baton-run" endpoint="" n
    version="$("$baton" --version | awk '{print $2}') ($baton_build)"
    mkdir -p "$dir/data"
    "$baton" up --data "$dir/data" --listen 127.0.0.1:0 >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    for n in $(seq 1 300); do
        endpoint="$(head -n 1 "$dir/stdout" 2>/dev/null | sed -n 's/^baton listening on //p')"
        [ -n "$endpoint" ] && break
        sleep 0.1
    done
    if [ -z "$endpoint" ]; then
        failed baton "$version" "baton up did not start: $(tail -n 3 "$dir/stderr")"
    else
        measure baton "$version" "$endpoint"
    fi
    stop
}

run_moto() {
    local venv="$work/moto-venv" port log="$work/moto.log"
    echo "== Installing moto[server]==$moto_version with $moto_python" >&2
    if ! { "$moto_python" -m venv "$venv" &&
        "$venv/bin/pip" install -q "moto[server]==$moto_version"; } >"$work/moto.pip" 2>&1; then
        failed moto "$moto_version" "pip install failed: $(tail -n 3 "$work/moto.pip")"
        return
    fi
    port="$(free_port)"
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    pid=$!
    if ! wait_http "http://127.0.0.1:$port/moto-api/" 60; then
        failed moto "$moto_version" "moto_server did not start: $(tail -n 3 "$log")"
        stop
        return
    fi
    # Executions only run (rather than being recorded as started) with this switch, which must
    # be on before the state machine is created.
    curl -s -o /dev/null -X POST -H 'content-type: application/json' \
        -d '{"stepfunctions": {"execute_state_machine": true}}' \
        "http://127.0.0.1:$port/moto-api/config"
    measure moto "$moto_version" "http://127.0.0.1:$port"
    stop
}

run_localstack() {
    local venv="$work/ls-venv" port log="$work/localstack.log" n
    if [ -z "$ls_python" ]; then
        failed localstack "$ls_version" "no Python 3.13 found (set LOCALSTACK_PYTHON)"
        return
    fi
    echo "== Installing localstack-core[runtime]==$ls_version with $ls_python" >&2
    # The pins: localstack-core 2026.3.0 imports cbor2._decoder (gone in cbor2 6) and calls
    # X509.add_extensions to make its self-signed certificate (gone in pyOpenSSL 25.2; 25.1
    # needs cryptography < 46); the Twisted gateway needs service-identity, which the runtime
    # extra does not pull in.
    if ! { "$ls_python" -m venv "$venv" &&
        "$venv/bin/pip" install -q "localstack-core[runtime]==$ls_version" 'cbor2<6' \
            'pyopenssl<25.2' 'cryptography>=45,<46' service-identity; } >"$work/ls.pip" 2>&1; then
        failed localstack "$ls_version" "pip install failed: $(tail -n 3 "$work/ls.pip")"
        return
    fi
    port="$(free_port)"
    # Host mode, without Docker: the runtime's own entry point. OVERRIDE_IN_DOCKER=0 and
    # FILESYSTEM_ROOT keep its files under $work (it takes a container for Docker and would use
    # /var/lib/localstack); GATEWAY_SERVER=hypercorn because the default Twisted gateway binds
    # 0.0.0.0 whatever host GATEWAY_LISTEN names; DNS_ADDRESS=0 disables its DNS server.
    env OVERRIDE_IN_DOCKER=0 FILESYSTEM_ROOT="$work/ls-fs" GATEWAY_SERVER=hypercorn \
        GATEWAY_LISTEN="127.0.0.1:$port" SERVICES=stepfunctions EAGER_SERVICE_LOADING=1 \
        DNS_ADDRESS=0 DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
        "$venv/bin/python" -m localstack.runtime.main >"$log" 2>&1 &
    pid=$!
    for n in $(seq 1 300); do
        grep -q '^Ready\.' "$log" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if ! grep -q '^Ready\.' "$log" 2>/dev/null; then
        failed localstack "$ls_version" "LocalStack did not start: $(grep -m 1 -E 'ERROR|Error' "$log")"
        stop
        return
    fi
    measure localstack "$ls_version" "http://127.0.0.1:$port"
    stop
}

for p in $peers; do
    case "$p" in
        baton) run_baton ;;
        moto) run_moto ;;
        localstack) run_localstack ;;
        *) echo "unknown server $p" >&2 ;;
    esac
done

# The table; the ratio is Baton's executions/s over the row's.
echo
echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(grep -m 1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: *//'); load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
echo
echo "| server | version | workload | mode | concurrency | executions/s | transitions/s | p50 ms | p99 ms | ratio Baton/peer (executions/s) | notes |"
echo "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
jq -rs '
    def commas: if length <= 3 then . else (.[:-3] | commas) + "," + .[-3:] end;
    def num: if . == null then "—" else (. * 10 | round / 10 | tostring) end;
    def int: if . == null then "—" else (round | tostring | commas) end;
    (map(select(.server == "baton" and .error == null)) | first | .executions_per_s) as $b
    | .[]
    | if .error then
        "| \(.server) | \(.version) | — | — | — | — | — | — | — | — | **failed**: \(.error | gsub("\\|"; "/") | gsub("\n"; " ")) |"
      else
        ([ (.errors | to_entries[] | "\(.value) × \(.key)"),
           (if .drain_timed_out then "drain timed out, \(.still_running) still running" else empty end),
           (if (.executions_failed // 0) > 0 then "\(.executions_failed) executions failed" else empty end),
           "transitions from \(.transitions_source)"
         ] | join("; ")) as $notes
        | "| \(.server) | \(.version) | \(.workload | ascii_upcase) | \(.mode) | \(.concurrency) | \(.executions_per_s | int) | \(.transitions_per_s | int) | \(.p50_ms | num) | \(.p99_ms | num) | \(if .server == "baton" or $b == null or .executions_per_s == 0 then "—" else (($b / .executions_per_s) | num) + "×" end) | \($notes) |"
      end' "$results"
echo
echo "Raw results:"
echo
cat "$results"
