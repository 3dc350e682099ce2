#!/usr/bin/env bash
# Benchmark: request latency with a healthy sink, a sink 100x too slow and a
# sink stuck forever. privlog's request path only does a non-blocking
# hand-off, so the percentiles should match; what changes is how many records
# are dropped (and counted).
#
#   scripts/stuck-sink-latency.sh            # 20 s per run
#   scripts/stuck-sink-latency.sh 60 64      # 60 s per run, 64 connections
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
connections="${2:-32}"
scripts/install-peers.sh
cargo build --release --example soak --quiet
bin=target/release/examples/soak
work="$(mktemp -d -t privlog-latency.XXXXXX)"
trap 'rm -rf "$work"' EXIT
printf '%-6s %10s %9s %9s %9s %9s %12s\n' sink req/s p50 p90 p99 max records_dropped
for fault in ok slow stuck; do
  "$bin" --addr 127.0.0.1:0 --dir "$work/$fault" --stats-file "$work/$fault.json" --fault "$fault" \
    >"$work/$fault.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -s "$work/$fault.json" ] && break; sleep 0.1; done
  addr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["addr"])' "$work/$fault.json")
  # Warm up, then measure.
  wrk -t2 -c"$connections" -d2s "http://$addr/rest/accounts/5b10ac8d82e05b22cc7d4ef5/history" >/dev/null
  wrk -t2 -c"$connections" -d"${secs}s" --latency "http://$addr/rest/accounts/5b10ac8d82e05b22cc7d4ef5/history" \
    >"$work/$fault.wrk"
  dropped=$(curl -sf "http://$addr/privlog/stats" |
    python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["dropped_queue_full"] + sum(sum(k["dropped"].values()) for k in s["sinks"]))')
  kill -TERM "$pid"
  wait "$pid" || true
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/$fault.wrk")
  pct() { awk -v p="$1" '$1 == p {print $2}' "$work/$fault.wrk"; }
  max=$(awk '/Latency/ && !/Distribution/ {print $4; exit}' "$work/$fault.wrk")
  printf '%-6s %10s %9s %9s %9s %9s %12s\n' "$fault" "$rps" "$(pct 50%)" "$(pct 90%)" "$(pct 99%)" "$max" "$dropped"
done
echo "(wrk -t2 -c$connections -d${secs}s --latency; the 'slow' sink takes 1 ms per record, 'stuck' never returns)"
