#!/usr/bin/env bash
# Measures the gateway side of `baton up` with wrk over loopback: a resource GET (200 and
# 304), a conditional PUT, and a static file fetched directly from an upstream Baton, through
# a proxy route, and through the same route with the security rules on (an RS256 bearer
# token checked against a JWKS). Writes the figures into the "The gateway" section of
# docs/benchmarks.md.
#
# Four `baton up` processes, each on 127.0.0.1:0 with its own temporary data directory
# (SQLite), are started once and stopped by their PIDs on exit:
#
#   upstream  a `[[routes]] static` route serving an 18-byte JSON file and the JWKS
#   open      collection `items` and `[[routes]] upstream` /up/** -> the upstream; no security
#   secured   the same, with security rules: /items/** and /up/** need an RS256 JWT of group
#             `bench` (issuer keys fetched once from the upstream's JWKS, then cached)
#   quiet     the open one with RUST_LOG=warn (no access-log line per request), for one row
#
# Every workload is probed once with curl (its expected status must come back) and warmed up
# for a second. Then BENCH_ROUNDS rounds each run every workload twice for a slice of
# BENCH_SECONDS: BENCH_CONNECTIONS connections on BENCH_THREADS wrk threads for the
# throughput, and one connection on one thread for the latency without queueing. Interleaving
# spreads a change in the machine's load (other people's builds) over all rows, and the
# differences between rows (the cost of a layer) are taken round by round. wrk and Baton share
# the machine's cores. Requests carry an X-Request-Id naming their workload, so the latency
# each server measured itself (the access log's `latency_us`) is reported beside wrk's, and
# the servers' CPU time is read from /proc/PID/stat.
#
# Usage: bench/gateway.sh
# Environment:
#   CARGO_TARGET_DIR    the cargo target directory (default target-bench)
#   BATON               a baton binary to measure instead of building one
#   BENCH_SECONDS       seconds of load per workload and connection count, over all rounds
#                       (default 10)
#   BENCH_ROUNDS        rounds (default 5)
#   BENCH_CONNECTIONS   connections for the throughput runs (default 64)
#   BENCH_THREADS       wrk threads for the throughput runs (default 2)
#   BENCH_MAX_LOAD      wait until the 1-minute load average is below this before measuring
#                       (default 1.0), polling every 15 s ...
#   BENCH_WAIT_SECONDS  ... for at most this long, then measure anyway (default 900; 0: no wait)
#
# Needs wrk (`apt-get install wrk`), curl, jq, openssl and xxd.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-bench}"
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-64}"
threads="${BENCH_THREADS:-2}"
rounds="${BENCH_ROUNDS:-5}"
max_load="${BENCH_MAX_LOAD:-1.0}"
wait_seconds="${BENCH_WAIT_SECONDS:-900}"
doc="$root/docs/benchmarks.md"

for tool in wrk curl jq openssl xxd; do
    if ! command -v "$tool" >/dev/null; then
        case "$tool" in
            wrk) echo "wrk is not installed: apt-get install wrk (or build github.com/wg/wrk)" >&2 ;;
            *) echo "$tool is not installed" >&2 ;;
        esac
        exit 1
    fi
done

work="$(mktemp -d)"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# A private copy of the binary, so that a concurrent build cannot replace it mid-run.
if [ -z "${BATON:-}" ]; then
    build="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo '+changes')"
    echo "== Building: cargo build --release --workspace"
    cargo build --release --workspace
    BATON="$CARGO_TARGET_DIR/release/baton"
else
    build="the binary $BATON, built $(date -u -r "$BATON" '+%Y-%m-%d %H:%M UTC')"
fi
baton="$work/baton"
cp "$BATON" "$baton"

# --- The issuer: an RSA key, its JWKS and a token --------------------------------------------

b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

openssl genrsa -out "$work/issuer.pem" 2048 2>/dev/null
modulus="$(openssl rsa -in "$work/issuer.pem" -noout -modulus | sed 's/^Modulus=//' | xxd -r -p | b64url)"
exponent="$(printf '%06x' "$(openssl rsa -in "$work/issuer.pem" -noout -text |
    sed -n 's/^publicExponent: \([0-9]*\).*/\1/p')" | xxd -r -p | b64url)"
mkdir -p "$work/public"
printf '{"keys":[{"kty":"RSA","kid":"bench","use":"sig","alg":"RS256","n":"%s","e":"%s"}]}\n' \
    "$modulus" "$exponent" >"$work/public/jwks.json"
printf '{"hello":"world"}\n' >"$work/public/file.json"

issuer="https://issuer.bench.invalid"
audience="baton-bench"
now="$(date +%s)"
jwt_header="$(printf '{"alg":"RS256","typ":"JWT","kid":"bench"}' | b64url)"
jwt_claims="$(printf '{"iss":"%s","aud":"%s","sub":"bench","email":"bench@example.com","groups":["bench"],"iat":%d,"exp":%d}' \
    "$issuer" "$audience" "$now" "$((now + 86400))" | b64url)"
jwt_signature="$(printf '%s.%s' "$jwt_header" "$jwt_claims" |
    openssl dgst -sha256 -sign "$work/issuer.pem" -binary | b64url)"
token="$jwt_header.$jwt_claims.$jwt_signature"

# --- The servers ---------------------------------------------------------------------------

# start NAME [ENV=VALUE...]: starts `baton up --config $work/NAME/baton.toml` and sets
# endpoint; its PID goes into pids and into the variable NAME_pid.
start() {
    local name="$1" dir="$work/$1"
    shift
    mkdir -p "$dir/data"
    env "$@" "$baton" up --config "$dir/baton.toml" --data "$dir/data" --listen 127.0.0.1:0 \
        >"$dir/stdout" 2>"$dir/stderr" &
    pids+=($!)
    printf -v "${name}_pid" '%s' "$!"
    endpoint=""
    for _ in $(seq 1 300); do
        endpoint="$(head -n 1 "$dir/stdout" 2>/dev/null | sed -n 's/^baton listening on //p')"
        [ -n "$endpoint" ] && return 0
        kill -0 "$!" 2>/dev/null || break
        sleep 0.1
    done
    echo "baton up ($name) did not start:" >&2
    cat "$dir/stderr" >&2
    exit 1
}

mkdir -p "$work/upstream"
cat >"$work/upstream/baton.toml" <<EOF
[[routes]]
path = "/**"
methods = ["GET"]
static = "$work/public"
EOF
start upstream
upstream="$endpoint"

for name in open secured quiet; do
    mkdir -p "$work/$name"
    cat >"$work/$name/baton.toml" <<EOF
[collections.items]

[[routes]]
path = "/up/**"
methods = ["GET"]
upstream = "$upstream/{**}"
EOF
done
cat >"$work/secured/security.json" <<EOF
{
  "jwt": {"issuer": "$issuer", "audience": ["$audience"], "jwks_uri": "$upstream/jwks.json",
          "algorithms": ["RS256"]},
  "rules": [
    {"path": "/items/**", "groups": ["bench"]},
    {"path": "/up/**", "methods": ["GET"], "groups": ["bench"]}
  ]
}
EOF
printf '\n[security]\nrules = "%s"\n' "$work/secured/security.json" >>"$work/secured/baton.toml"
start open
open="$endpoint"
start secured
secured="$endpoint"
start quiet RUST_LOG=warn
quiet="$endpoint"

auth="Authorization: Bearer $token"
item='{"id":"item-1","name":"widget","qty":3,"tags":["a","b"]}'

# create ENDPOINT BODY [HEADER]: POSTs a document to /items and prints its ETag.
create() {
    curl -sS -o /dev/null -D - -X POST "$1/items" -H 'content-type: application/json' \
        ${3:+-H "$3"} -d "$2" | tr -d '\r' | sed -n 's/^etag: //Ip'
}
etag="$(create "$open" "$item")"
create "$secured" "$item" "$auth" >/dev/null
create "$quiet" "$item" >/dev/null

# The conditional PUT writes 64 documents in turn (wrk thread k of T takes those whose number
# is k modulo T), each with its own body and that body's ETag: replacing a document with the
# same bytes keeps its ETag, so every If-Match holds and each PUT is a real write (the
# version goes up by one). The body carries the key member in first place, as stored: a body
# without it gets it appended, and different bytes mean a different ETag.
put_docs="$work/put_docs.lua"
echo "docs = {" >"$put_docs"
put_body() { printf '{"id":"put-%s","name":"widget","qty":3,"tags":["a","b"]}' "$1"; }
for i in $(seq -w 1 64); do
    tag="$(create "$open" "$(put_body "$i")")"
    [ "$i" = 01 ] && put_etag="$tag"
    echo "  {[[/items/put-$i]], [[$tag]], [[$(put_body "$i")]]}," >>"$put_docs"
done
echo "}" >>"$put_docs"

# --- wrk scripts ---------------------------------------------------------------------------

# Every script tags its requests with an X-Request-Id that names the workload and the number
# of connections, which the servers' access logs record with the latency they measured; and
# prints a summary line at the end (latencies in microseconds).
cat >"$work/done.lua" <<'EOF'
wrk.headers["X-Request-Id"] = os.getenv("BENCH_TAG")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f,"status_errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
EOF

# lua NAME [HEADER...]: a GET with these headers (`Name: value`).
lua() {
    local name="$1" h
    shift
    {
        for h in "$@"; do
            printf 'wrk.headers[ [[%s]] ] = [[%s]]\n' "${h%%: *}" "${h#*: }"
        done
        cat "$work/done.lua"
    } >"$work/$name.lua"
}
lua get
lua get304 "If-None-Match: $etag"
lua get_jwt "$auth"
{
    cat "$put_docs"
    cat <<'EOF'
local n = 0
function setup(thread)
  thread:set("first", n)
  n = n + 1
end
function init(args)
  i = first + 1
  step = tonumber(os.getenv("WRK_THREADS") or "1")
  tag = os.getenv("BENCH_TAG")
end
function request()
  local d = docs[i]
  i = i + step
  if i > #docs then i = first + 1 end
  return wrk.format("PUT", d[1], {["If-Match"] = d[2], ["Content-Type"] = "application/json", ["X-Request-Id"] = tag}, d[3])
end
EOF
    cat "$work/done.lua"
} >"$work/put.lua"
{
    # Every request replaces the same document: the writers queue on its row and their
    # compare-and-swaps lose and retry; the ETag never changes, so a 412 would be a bug.
    printf 'wrk.method = "PUT"\nwrk.body = [[%s]]\n' "$item"
    printf 'wrk.headers["If-Match"] = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$etag"
    cat "$work/done.lua"
} >"$work/put_one.lua"

# --- The workloads -------------------------------------------------------------------------

# id|what|url|wrk script|expected status|baton processes involved|runs ("both": the
# throughput and the latency run; "load": the throughput run only)
workloads=(
    "get200|resource GET, 200|$open/items/item-1|get|200|open|both"
    "get304|resource GET with If-None-Match, 304|$open/items/item-1|get304|304|open|both"
    "put|conditional PUT (If-Match), 64 documents in turn|$open/items/put-01|put|200|open|both"
    "put_one|conditional PUT (If-Match), one document, every writer|$open/items/item-1|put_one|200|open|load"
    "get200_jwt|resource GET, 200, security on (JWT)|$secured/items/item-1|get_jwt|200|secured|both"
    "get200_quiet|resource GET, 200, access log off (RUST_LOG=warn)|$quiet/items/item-1|get|200|quiet|both"
    "direct|static file, direct to the upstream|$upstream/file.json|get|200|upstream|both"
    "proxy|static file through the proxy route|$open/up/file.json|get|200|open upstream|both"
    "proxy_jwt|static file through the proxy route, security on (JWT)|$secured/up/file.json|get_jwt|200|secured upstream|both"
)

# cpu_ticks NAMES...: the user + system CPU ticks of these baton processes.
cpu_ticks() {
    local name pid total=0
    for name in "$@"; do
        pid="${name}_pid"
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/${!pid}/stat")))
    done
    echo "$total"
}
hz="$(getconf CLK_TCK)"

# The machine's busy CPU ticks (user, nice, system, irq, softirq), and those of this script's
# finished children (wrk, curl, jq), for the share of the machine other processes took.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
# The ticks the hypervisor gave to other machines while this one wanted to run (steal).
steal_ticks() { awk '/^cpu / { print $9 }' /proc/stat; }
children_ticks() {
    awk -v hz="$hz" 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
        printf "%d\n", t * hz
    }' "$1"
}

# probe URL SCRIPT EXPECTED: one request as the workload sends it; fails unless the status
# is the expected one.
probe() {
    local url="$1" script="$2" expected="$3" status
    local args=(-s -o /dev/null -w '%{http_code}')
    case "$script" in
        get304) args+=(-H "If-None-Match: $etag") ;;
        get_jwt) args+=(-H "$auth") ;;
        put) args+=(-X PUT -H 'content-type: application/json' -H "If-Match: $put_etag" -d "$(put_body 01)") ;;
        put_one) args+=(-X PUT -H 'content-type: application/json' -H "If-Match: $etag" -d "$item") ;;
    esac
    status="$(curl "${args[@]}" "$url")"
    if [ "$status" != "$expected" ]; then
        echo "probe of $url: HTTP $status, expected $expected" >&2
        return 1
    fi
}

# run ROUND ID URL SCRIPT THREADS CONNECTIONS PROCESSES: one wrk run of $slice seconds;
# prints a JSON line.
run() {
    local round="$1" id="$2" url="$3" script="$4" t="$5" c="$6" procs="$7"
    local before after out line load
    load="$(cut -d' ' -f1 /proc/loadavg)"
    # shellcheck disable=SC2086 # PROCESSES is a list of names
    before="$(cpu_ticks $procs)"
    out="$(BENCH_TAG="bench-$id-c$c" WRK_THREADS="$t" wrk -t"$t" -c"$c" -d"${slice}s" -s "$work/$script.lua" "$url" 2>&1)" || true
    # shellcheck disable=SC2086
    after="$(cpu_ticks $procs)"
    line="$(sed -n 's/^BENCH //p' <<<"$out" | tail -n 1)"
    if [ -z "$line" ]; then
        jq -cn --arg id "$id" --arg e "wrk: $out" '{id: $id, error: $e}'
        return
    fi
    jq -c --arg id "$id" --argjson r "$round" --argjson t "$t" --argjson c "$c" \
        --arg load "$load" --argjson cpu "$(((after - before) * 1000000 / hz))" '
        . + {id: $id, round: $r, threads: $t, connections: $c, load1: ($load | tonumber),
             cpu_us: $cpu}' <<<"$line"
}

# --- Waiting for a quiet machine, then measuring -------------------------------------------

if [ "$wait_seconds" -gt 0 ]; then
    waited=0
    until awk -v max="$max_load" '{ exit !($1 < max) }' /proc/loadavg; do
        if [ "$waited" -ge "$wait_seconds" ]; then
            echo "== The load average is still $(cut -d' ' -f1 /proc/loadavg) after ${waited} s: measuring anyway"
            break
        fi
        echo "== Load average $(cut -d' ' -f1-3 /proc/loadavg): waiting for below $max_load"
        sleep 15
        waited=$((waited + 15))
    done
fi

# The runs are interleaved: every round runs every workload for a slice of BENCH_SECONDS, so a
# change in the machine's load (other people's builds) falls on all rows alike, and the
# differences between rows are taken round by round.
slice=$(((seconds + rounds - 1) / rounds))
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$work/results.jsonl"
: >"$results"
measured=()
for w in "${workloads[@]}"; do
    IFS='|' read -r id what url script expected procs runs <<<"$w"
    echo "== Probing and warming up: $what"
    if probe "$url" "$script" "$expected"; then
        BENCH_TAG=bench-warm-up WRK_THREADS=1 wrk -t1 -c4 -d1s -s "$work/$script.lua" "$url" >/dev/null
        measured+=("$w")
    else
        jq -cn --arg id "$id" --arg e "the probe did not answer $expected" '{id: $id, error: $e}' |
            tee -a "$results"
    fi
done
busy_before="$(busy_ticks)"
steal_before="$(steal_ticks)"
ours_before="$(cpu_ticks upstream open secured quiet)"
times >"$work/times_before"
started="$(date +%s%N)"
for round in $(seq 1 "$rounds"); do
    echo "== Round $round of $rounds (${slice} s per run)"
    for w in "${measured[@]}"; do
        IFS='|' read -r id what url script expected procs runs <<<"$w"
        run "$round" "$id" "$url" "$script" "$threads" "$connections" "$procs" | tee -a "$results"
        if [ "$runs" = both ]; then
            run "$round" "$id" "$url" "$script" 1 1 "$procs" | tee -a "$results"
        fi
    done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
elapsed_ticks=$((($(date +%s%N) - started) * hz / 1000000000))
times >"$work/times_after"
busy=$(($(busy_ticks) - busy_before))
steal=$(($(steal_ticks) - steal_before))
ours=$(($(cpu_ticks upstream open secured quiet) - ours_before))
clients=$(($(children_ticks "$work/times_after") - $(children_ticks "$work/times_before")))
others=$((busy - ours - clients))
share() { awk -v t="$1" -v all="$((elapsed_ticks * $(nproc)))" 'BEGIN { printf "%d%%", 100 * t / all }'; }
echo "== CPU over the rounds: Baton $(share "$ours"), wrk and the script $(share "$clients"), the rest $(share "$others"), stolen $(share "$steal")"

# What the servers answered, from their access logs (warm-up and probes included), and what
# they logged at WARN or ERROR.
statuses=""
for name in upstream open secured; do
    counts="$(sed 's/\x1b\[[0-9;]*m//g' "$work/$name/stderr" |
        sed -n 's/.*baton::access: request method=\([A-Z]*\) .* status=\([0-9]*\) .*/\1 \2/p' |
        sort | uniq -c | awk '{ printf "%s%s %s × %s", (NR > 1 ? ", " : ""), $2, $3, $1 }')"
    statuses="$statuses $name: $counts;"
done
# The latency the servers measured (the access log's latency_us: from the outermost layer
# taking the request to the handler's answer, without reading and writing the bytes), by
# workload and connection count, as JSON lines.
server_latency="$work/server_latency.jsonl"
for name in upstream open secured; do
    sed 's/\x1b\[[0-9;]*m//g' "$work/$name/stderr" |
        sed -n 's/.* latency_us=\([0-9]*\) request_id=bench-\([a-z0-9_]*\)-c\([0-9]*\) .*/\2 \3 \1/p' |
        sort -k1,1 -k2,2n -k3,3n |
        awk -v server="$name" '
            function flush() {
                if (n > 0) printf "{\"id\":\"%s\",\"connections\":%d,\"server\":\"%s\",\"requests\":%d,\"p50_us\":%d,\"p99_us\":%d}\n",
                    id, c, server, n, v[int((n - 1) * 0.5) + 1], v[int((n - 1) * 0.99) + 1]
            }
            { key = $1 " " $2; if (key != last) { flush(); n = 0; last = key; id = $1; c = $2 }; v[++n] = $3 }
            END { flush() }'
done >"$server_latency"

warnings=""
for name in upstream open secured quiet; do
    n="$(grep -c -E ' (WARN|ERROR) ' "$work/$name/stderr" || true)"
    if [ "$n" -gt 0 ]; then
        warnings="$warnings $name: $n (first: $(grep -m 1 -E ' (WARN|ERROR) ' "$work/$name/stderr" |
            sed 's/\x1b\[[0-9;]*m//g' | cut -c 1-200));"
    fi
done

# --- docs/benchmarks.md --------------------------------------------------------------------

# The workloads' descriptions, and the servers their requests reach first, by id.
names="$(for w in "${workloads[@]}"; do
    IFS='|' read -r id what _ <<<"$w"
    jq -cn --arg id "$id" --arg w "$what" '{($id): $w}'
done | jq -cs add)"
servers="$(for w in "${workloads[@]}"; do
    IFS='|' read -r id _ _ _ _ procs _ <<<"$w"
    jq -cn --arg id "$id" --arg s "${procs%% *}" '{($id): $s}'
done | jq -cs add)"

echo "== Writing docs/benchmarks.md"
section="$work/section.md"
{
    echo "<!-- bench:gateway:begin (written by bench/gateway.sh) -->"
    echo "Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), by \`bench/gateway.sh\` ($build), wrk $(wrk --version 2>&1 | sed -n 's/^wrk \([^ ]*\).*/\1/p'):"
    echo "$rounds rounds; in each, every workload for ${slice} s with ${connections} connections on ${threads} wrk threads"
    echo "(throughput) and for ${slice} s with 1 connection on 1 thread (latency), after 1 s of warm-up."
    echo
    echo "Machine: $(nproc) cores (\`nproc\`), $(grep -m 1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: *//'),"
    echo "$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, $(uname -sr);"
    echo "load average $load_start at the start, $load_end at the end. $(rustc --version)."
    echo "Of the machine's CPU time over the rounds, the Baton servers used $(share "$ours"), wrk (and"
    echo "the script's other tools) $(share "$clients"), and everything else $(share "$others") (other"
    echo "people's processes, and kernel work not charged to a process: \`/proc/stat\` minus the rest);"
    echo "the hypervisor kept $(share "$steal") from this machine while it wanted to run (steal)."
    echo
    echo "| workload | req/s ($connections conn.) | p50 µs | p99 µs | req/s (1 conn.) | p50 µs | p99 µs | server p50 µs (1 conn.) | Baton CPU µs/req | errors | load |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    jq -rs --argjson names "$names" --argjson servers "$servers" --slurpfile srv "$server_latency" '
        def commas: if length <= 3 then . else (.[:-3] | commas) + "," + .[-3:] end;
        def int: if . == null then "—" else (round | tostring | commas) end;
        def us: if . == null then "—" else (round | tostring | commas) end;
        def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
            else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        def agg: if length == 0 then null else {
            rps: ((map(.requests) | add) / (map(.duration_us) | add) * 1e6),
            p50: (map(.p50_us) | median), p99: (map(.p99_us) | median),
            cpu: ((map(.cpu_us) | add) / ([(map(.requests) | add), 1] | max)),
            errors: (map(.status_errors + .socket_errors) | add),
            load: "\(map(.load1) | min)–\(map(.load1) | max)" } end;
        . as $all
        | reduce .[].id as $id ([]; if index([$id]) then . else . + [$id] end)
        | .[] as $id
        | [$all[] | select(.id == $id)] as $g
        | ([$g[] | select(.error)] | .[0]) as $failed
        | ([$g[] | select(.error | not) | select(.connections != 1)] | agg) as $l
        | ([$g[] | select(.error | not) | select(.connections == 1)] | agg) as $one
        | if $failed and ($l == null) then
            "| \($names[$id]) | **failed**: \($failed.error | gsub("\\|"; "/") | gsub("\n"; " ") | .[:200]) | | | | | | | | | |"
          else
            ([$srv[] | select(.id == $id and .connections == 1 and .server == $servers[$id])] | .[0].p50_us) as $server
            | "| \($names[$id]) | \($l.rps | int) | \($l.p50 | us) | \($l.p99 | us) | \($one.rps | int) | \($one.p50 | us) | \($one.p99 | us) | \($server | us) | \($l.cpu | us) | \(($l.errors // 0) + ($one.errors // 0) | int)\(if $failed then " (and a failed run)" else "" end) | \($l.load) |"
          end' "$results"
    echo
    echo "req/s is over all rounds; p50 and p99 are the medians of the rounds' (wrk's percentiles"
    echo "of each run). \"server p50\" is the median of the latency the first server logged for the"
    echo "1-connection requests (\`latency_us\` of the access log, from the outermost layer taking"
    echo "the request to the answer's head, so without the network and hyper; the quiet server logs"
    echo "nothing). \"Baton CPU µs/req\" is the user and system CPU time of the Baton processes a"
    echo "request goes through (the gateway, and the upstream for proxied rows) over the"
    echo "${connections}-connection runs, per request. \"errors\" counts wrk's status errors (4xx, 5xx)"
    echo "and socket errors over all runs; \"load\" is the range of the 1-minute load average before"
    echo "the ${connections}-connection runs. Statuses in the servers' access logs:$statuses"
    echo "${warnings:+WARN/ERROR lines logged:$warnings}"
    echo
    jq -rs --argjson servers "$servers" --slurpfile srv "$server_latency" '
        def us: if . == null then "—" else (round | tostring) end;
        def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
            else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        map(select(.error | not)) as $ok
        # The p50 difference, round by round at 1 connection, and its median.
        | def p50($a; $b): [$ok[] | select(.id == $a and .connections == 1)] as $x
            | [$ok[] | select(.id == $b and .connections == 1)] as $y
            | [$x[] as $r | $y[] | select(.round == $r.round) | $r.p50_us - .p50_us]
            | "\(median | us) (\(if length > 0 then "\(min | us) to \(max | us)" else "—" end))";
        def cpu($id): [$ok[] | select(.id == $id and .connections != 1)]
            | if length == 0 then null else (map(.cpu_us) | add) / (map(.requests) | add) end;
        def server($id): [$srv[] | select(.id == $id and .connections == 1 and .server == $servers[$id])] | .[0].p50_us;
        def row($what; $a; $b): "| \($what) | \(p50($a; $b)) | \(if server($a) and server($b) then server($a) - server($b) else null end | us) | \(if cpu($a) and cpu($b) then cpu($a) - cpu($b) else null end | us) |";
        "What the layers cost: the difference of the p50 at 1 connection as wrk saw it, round by",
        "round (the median of the rounds, and their range); of the server p50 at 1 connection; and",
        "of the CPU time per request over the throughput runs.",
        "",
        "| difference | p50 µs, median (range) | server p50 µs | Baton CPU µs/req |",
        "| --- | ---: | ---: | ---: |",
        row("security on (JWT) minus off, resource GET"; "get200_jwt"; "get200"),
        row("security on (JWT) minus off, proxy route"; "proxy_jwt"; "proxy"),
        row("access log on (the default) minus off, resource GET"; "get200"; "get200_quiet"),
        row("proxy route minus the upstream directly (the extra hop)"; "proxy"; "direct"),
        row("proxy route with security minus the upstream directly"; "proxy_jwt"; "direct")
        ' "$results"
    echo
    echo "Raw results (one line per wrk run; latencies in µs, \`cpu_us\` the Baton CPU time of the run;"
    echo "then the servers' own latencies, from their access logs):"
    echo
    echo '```json'
    cat "$results" "$server_latency"
    echo '```'
    echo "<!-- bench:gateway:end -->"
} >"$section"
cat "$section"

if grep -q '^<!-- bench:gateway:begin' "$doc"; then
    awk -v section="$section" '
        /^<!-- bench:gateway:begin/ { while ((getline line < section) > 0) print line; skip = 1; next }
        /^<!-- bench:gateway:end/ { skip = 0; next }
        !skip { print }
    ' "$doc" >"$work/doc.md"
    cat "$work/doc.md" >"$doc"
else
    {
        echo
        echo "## The gateway"
        echo
        echo "Written by \`bench/gateway.sh\`; see the comment at its top."
        echo
        cat "$section"
    } >>"$doc"
fi
echo "== Wrote the gateway section of $doc"
