#!/usr/bin/env bash
# Server CPU per tools/call: run ../shared/bench/bench.sh against a running
# server and divide the CPU its processes (uvicorn and its workers) used by
# the calls made.
#   scripts/cpu_per_call.sh PID URL TOKEN [CONCURRENCY [SECONDS]]
# PID is the uvicorn (parent) process; prints calls/s, p99 and µs per call.
set -euo pipefail
pid=${1:?PID}; url=${2:?URL}; token=${3:?TOKEN}; conc=${4:-16}; secs=${5:-10}
here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH_SH:-$here/../../shared/bench/bench.sh}
pids="$pid $(pgrep -P "$pid" | tr '\n' ' ' || true)"
ticks() {
    local total=0 p t
    for p in $pids; do
        for t in /proc/"$p"/task/*/stat; do
            [ -r "$t" ] || continue
            read -r -a f < "$t"
            total=$((total + f[13] + f[14]))
        done
    done
    echo "$total"
}
before=$(ticks)
result=$(WARMUP=0 "$bench" "$url" "$token" "$conc" "$secs" 2>/dev/null | grep '^RESULT')
after=$(ticks)
value() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }
calls=$(value requests)
echo "calls/s=$(value calls_per_s) p99=$(value p99_ms)ms errors=$(value errors)" \
     "server_cpu_us_per_call=$(( (after - before) * 1000000 / $(getconf CLK_TCK) / calls ))"
