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
#   upstream  a `[[routes]] static` route serving a 17-byte JSON file and the JWKS
#   open      collection `items` and `[[routes]] upstream` /up/** -> the upstream; no security
#   secured   the same, with security rules: every path needs a valid RS256 JWT of group
#             `bench` (issuer keys fetched once from the upstream's JWKS, then cached)
#   quiet     the open one with RUST_LOG=warn (no access-log line per request), for one row
#
# Every workload is probed once with curl (its expected status must come back), warmed up for
# a second, then run twice: BENCH_CONNECTIONS connections on BENCH_THREADS wrk threads for the
# throughput, and one connection on one thread for the latency without queueing (the p50
# differences between rows are read at that level). wrk and Baton share the machine's cores.
#
# Usage: bench/gateway.sh
# Environment:
#   CARGO_TARGET_DIR    the cargo target directory (default target-bench)
#   BATON               a baton binary to measure instead of building one
#   BENCH_SECONDS       seconds of load per run (default 10)
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

# The summary line wrk prints at the end: latencies in microseconds.
cat >"$work/done.lua" <<'EOF'
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
end
function request()
  local d = docs[i]
  i = i + step
  if i > #docs then i = first + 1 end
  return wrk.format("PUT", d[1], {["If-Match"] = d[2], ["Content-Type"] = "application/json"}, d[3])
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

# run ID WHAT URL SCRIPT THREADS CONNECTIONS SECONDS PROCESSES: one wrk run; prints a JSON line.
run() {
    local id="$1" what="$2" url="$3" script="$4" t="$5" c="$6" s="$7" procs="$8"
    local before after out line load
    load="$(cut -d' ' -f1 /proc/loadavg)"
    # shellcheck disable=SC2086 # PROCESSES is a list of names
    before="$(cpu_ticks $procs)"
    out="$(WRK_THREADS="$t" wrk -t"$t" -c"$c" -d"${s}s" -s "$work/$script.lua" "$url")"
    # shellcheck disable=SC2086
    after="$(cpu_ticks $procs)"
    line="$(sed -n 's/^BENCH //p' <<<"$out" | tail -n 1)"
    if [ -z "$line" ]; then
        jq -cn --arg id "$id" --arg w "$what" --arg e "$out" '{id: $id, what: $w, error: $e}'
        return
    fi
    jq -c --arg id "$id" --arg w "$what" --argjson t "$t" --argjson c "$c" --arg load "$load" \
        --argjson cpu "$(((after - before) * 1000000 / hz))" --arg procs "$procs" '
        . + {id: $id, what: $w, threads: $t, connections: $c, load1: $load, processes: $procs,
             rps: (.requests / (.duration_us / 1e6)),
             cpu_us_per_request: (if .requests > 0 then $cpu / .requests else null end)}' <<<"$line"
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

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
results="$work/results.jsonl"
: >"$results"
for w in "${workloads[@]}"; do
    IFS='|' read -r id what url script expected procs runs <<<"$w"
    echo "== $what"
    if ! probe "$url" "$script" "$expected"; then
        jq -cn --arg id "$id" --arg w "$what" --arg e "the probe did not answer $expected" \
            '{id: $id, what: $w, error: $e}' | tee -a "$results"
        continue
    fi
    WRK_THREADS=1 wrk -t1 -c4 -d1s -s "$work/$script.lua" "$url" >/dev/null
    run "$id" "$what" "$url" "$script" "$threads" "$connections" "$seconds" "$procs" | tee -a "$results"
    if [ "$runs" = both ]; then
        run "$id" "$what" "$url" "$script" 1 1 "$seconds" "$procs" | tee -a "$results"
    fi
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# What the servers logged at WARN or ERROR.
warnings=""
for name in upstream open secured quiet; do
    n="$(grep -c -E ' (WARN|ERROR) ' "$work/$name/stderr" || true)"
    if [ "$n" -gt 0 ]; then
        warnings="$warnings $name: $n WARN/ERROR lines (first: $(grep -m 1 -E ' (WARN|ERROR) ' "$work/$name/stderr" | cut -c 1-200));"
    fi
done

# --- docs/benchmarks.md --------------------------------------------------------------------

echo "== Writing docs/benchmarks.md"
section="$work/section.md"
{
    echo "<!-- bench:gateway:begin (written by bench/gateway.sh) -->"
    echo "Last run: $(date -u '+%Y-%m-%d %H:%M UTC'), by \`bench/gateway.sh\` ($build): wrk $(wrk --version 2>&1 | sed -n 's/^wrk \([^ ]*\).*/\1/p'),"
    echo "${seconds} s per run after 1 s of warm-up; throughput with ${connections} connections on ${threads} wrk threads,"
    echo "latency with 1 connection on 1 thread."
    echo
    echo "Machine: $(nproc) cores (\`nproc\`), $(grep -m 1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*: *//'),"
    echo "$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, $(uname -sr);"
    echo "load average $load_start at the start, $load_end at the end. $(rustc --version)."
    echo
    echo "| workload | req/s ($connections conn.) | p50 µs | p99 µs | req/s (1 conn.) | p50 µs | p99 µs | Baton CPU µs/req | errors | load |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    jq -rs '
        def commas: if length <= 3 then . else (.[:-3] | commas) + "," + .[-3:] end;
        def int: if . == null then "—" else (round | tostring | commas) end;
        def us: if . == null then "—" else (. * 10 | round / 10 | tostring) end;
        . as $all
        | reduce .[].id as $id ([]; if index([$id]) then . else . + [$id] end)
        | .[] as $id
        | [$all[] | select(.id == $id)] as $g
        | ([$g[] | select(.connections != 1)] | .[0]) as $l
        | ([$g[] | select(.connections == 1)] | .[0]) as $one
        | if $g[0].error then
            "| \($g[0].what) | **failed**: \($g[0].error | gsub("\\|"; "/") | gsub("\n"; " ") | .[:200]) | | | | | | | | |"
          else
            "| \($l.what) | \($l.rps | int) | \($l.p50_us | us) | \($l.p99_us | us) | \($one.rps | int) | \($one.p50_us | us) | \($one.p99_us | us) | \($l.cpu_us_per_request | us) | \([$g[] | .status_errors + .socket_errors] | add | int) | \($l.load1)\(if $one then " / " + $one.load1 else "" end) |"
          end' "$results"
    echo
    echo "\"Baton CPU µs/req\" is the user and system CPU time of the Baton processes a request"
    echo "goes through (the gateway, and the upstream for proxied rows) over the ${connections}-connection run,"
    echo "per request. \"errors\" counts wrk's status errors (4xx and 5xx) and socket errors over both runs."
    echo "\"load\" is the 1-minute load average before each run.${warnings:+ The servers logged:$warnings}"
    echo
    jq -rs '
        def us: if . == null then "—" else (. * 10 | round / 10 | tostring) end;
        # run(ID; ONE): the run of workload ID at 1 connection (ONE true) or at many.
        def run($id; $one): [.[] | select(.id == $id and (.connections == 1) == $one and (.error | not))] | .[0];
        def p50($a; $b): if $a == null or $b == null then null else $a.p50_us - $b.p50_us end;
        def cpu($a; $b): if $a == null or $b == null then null else $a.cpu_us_per_request - $b.cpu_us_per_request end;
        def row($what; $a; $b): "| \($what) | \(p50(run($a; true); run($b; true)) | us) | \(cpu(run($a; false); run($b; false)) | us) |";
        "What the layers cost: differences of the p50 at 1 connection, and of the CPU time per",
        "request over the throughput run.",
        "",
        "| difference | p50 µs | Baton CPU µs/req |",
        "| --- | ---: | ---: |",
        row("security on (JWT) minus off, resource GET"; "get200_jwt"; "get200"),
        row("security on (JWT) minus off, proxy route"; "proxy_jwt"; "proxy"),
        row("access log on (the default) minus off, resource GET"; "get200"; "get200_quiet"),
        row("proxy route minus the upstream directly (the extra hop)"; "proxy"; "direct"),
        row("proxy route with security minus the upstream directly"; "proxy_jwt"; "direct")
        ' "$results"
    echo
    echo "Raw results (one line per wrk run; latencies in µs):"
    echo
    echo '```json'
    cat "$results"
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
