# Sourced by the benchmark scripts whose report is written by a Node script: exports what
# the report says of the machine and the toolchains (BENCH_NPROC, BENCH_CPU, BENCH_MEMORY,
# BENCH_DATE, BENCH_RUSTC, BENCH_NODE).
export_machine() {
    BENCH_NPROC="$(nproc)"
    BENCH_CPU="$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
    BENCH_MEMORY="$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    BENCH_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
    BENCH_RUSTC="$(rustc --version)"
    BENCH_NODE="$(node --version)"
    export BENCH_NPROC BENCH_CPU BENCH_MEMORY BENCH_DATE BENCH_RUSTC BENCH_NODE
}
