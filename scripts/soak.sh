#!/usr/bin/env bash
# Soak test: wrk load on the soak example (an axum app with the privlog layer,
# a file sink and a sink whose faults are switched at run time) for MINUTES,
# cycling the fault sink through ok / fail / slow / stuck and restarting the
# service now and then. Between load segments it checks:
#   - the accounting identity: created = queued + dropped_queue_full +
#     dropped_shutdown + dropped_sanitize_error + dispatched, and for every sink received + recovered =
#     delivered + queued + buffered + spooled + Σ dropped;
#   - that the fault sink's delivered count equals what it really accepted;
#   - that every request wrk completed made a record;
#   - RSS and open file descriptors stay flat within each process lifetime;
# and at the end that the record file holds exactly as many lines as the file
# sink reported delivered across all restarts. Prints a summary; exits 1 on any
# failed check.
#
#   scripts/soak.sh 10                 # 10 minutes
#   SOAK_SEGMENT=30 SOAK_RESTART_EVERY=6 scripts/soak.sh 60
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
segment="${SOAK_SEGMENT:-20}"          # seconds of load between checkpoints
restart_every="${SOAK_RESTART_EVERY:-5}" # checkpoints between restarts
connections="${SOAK_CONNECTIONS:-32}"
scripts/install-peers.sh
echo "soak: building the soak example (release)" >&2
cargo build --release --example soak --quiet
bin=target/release/examples/soak
work="$(mktemp -d -t privlog-soak.XXXXXX)"
stats="$work/stats.json"
echo "soak: working in $work" >&2

cat >"$work/paths.lua" <<'LUA'
-- A mix of routed, scrubbed and hostile paths, some with Connect JWTs.
local paths = {
  "/",
  "/rest/accounts/557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff/history",
  "/rest/accounts/5b10ac8d82e05b22cc7d4ef5/history?lic=active&cv=1.2&jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
  "/users/jane%40example.com/settings?token=sk_live_51HxTzQ2eZvKYlo2C8nR4u7Wq",
  "/search/caf%C3%A9%0d%0a%1b%5b31m?q=secret",
  "/a%e2%80%a8b/%c2%85/%22%7d",
}
request = function()
  return wrk.format(nil, paths[math.random(#paths)])
end
LUA

pid=""
addr=""
start_server() {
  rm -f "$stats"
  "$bin" --addr 127.0.0.1:0 --dir "$work" --stats-file "$stats" --queue-capacity 4096 >>"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    [ -s "$stats" ] && break
    sleep 0.1
  done
  addr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["addr"])' "$stats")
}

stop_server() {
  kill -TERM "$pid"
  wait "$pid" || { echo "soak: service exited with an error (see $work/server.log)" >&2; failures=$((failures + 1)); }
}

fetch_stats() { curl -sf "http://$addr/privlog/stats"; }

# Waits until two snapshots 300 ms apart are identical (the pipeline is quiet),
# then prints that snapshot.
quiet_stats() {
  local a b
  a=$(fetch_stats)
  for _ in $(seq 100); do
    sleep 0.3
    b=$(fetch_stats)
    [ "$a" = "$b" ] && { echo "$b"; return; }
    a="$b"
  done
  echo "$b"
}

# check.py STATS_JSON EXPECTED_MIN_CREATED -> prints problems, one per line
check() {
  python3 - "$1" "$2" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); min_created = int(sys.argv[2])
bad = []
if s["created"] != s["queued"] + s["dropped_queue_full"] + s["dropped_shutdown"] + s["dropped_sanitize_error"] + s["dispatched"]:
    bad.append("pipeline identity broken: %r" % {k: s[k] for k in ("created", "queued", "dropped_queue_full", "dropped_shutdown", "dropped_sanitize_error", "dispatched")})
for k in s["sinks"]:
    lhs = k["received"] + k["recovered"]
    rhs = k["delivered"] + k["queued"] + k["buffered"] + k["spooled"] + sum(k["dropped"].values())
    if lhs != rhs:
        bad.append("sink %s identity broken: %d != %d (%r)" % (k["name"], lhs, rhs, k))
    if k["received"] != s["dispatched"]:
        bad.append("sink %s received %d of %d dispatched" % (k["name"], k["received"], s["dispatched"]))
    if k["name"] == "fault" and k["delivered"] != s["fault_accepted"]:
        bad.append("fault sink reports %d delivered but accepted %d" % (k["delivered"], s["fault_accepted"]))
if not s["balanced"]:
    bad.append("Stats::is_balanced() is false")
if s["created"] < min_created:
    bad.append("created %d < %d requests completed" % (s["created"], min_created))
print("\n".join(bad))
PY
}

# Checks the record file of the process that just stopped against its final
# stats (line count = file sink delivered; every line valid and clean), then
# removes it so a long soak does not fill the disk.
verify_file() {
  local f="$1" delivered lines bad
  delivered=$(field "$f" '[k for k in s["sinks"] if k["name"].startswith("file")][0]["delivered"]')
  v=$("$bin" --verify "$work/records.ndjson")
  lines=$(field "$v" 's["lines"]')
  bad=$(field "$v" 's["invalid"]')
  if [ "$lines" -ne "$delivered" ]; then
    echo "soak: CHECK FAILED: record file has $lines lines, file sink delivered $delivered" >&2
    failures=$((failures + 1))
  fi
  if [ "$bad" -ne 0 ]; then
    echo "soak: CHECK FAILED: $bad invalid record lines" >&2
    failures=$((failures + 1))
  fi
  total_lines=$((total_lines + lines))
  file_delivered=$((file_delivered + delivered))
  bad_lines=$((bad_lines + bad))
  rm -f "$work/records.ndjson"
}

field() { python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

failures=0
checkpoints=0
restarts=0
total_requests=0
file_delivered=0
total_lines=0
bad_lines=0
process_requests=0
rss_log="$work/rss.txt"
: >"$rss_log"
faults=(ok fail ok slow ok stuck ok)
end=$(( $(date +%s) + minutes * 60 ))
start_server
echo "soak: ${minutes} min, ${segment}s segments, ${connections} connections, restart every ${restart_every} checkpoints" >&2
printf '%-8s %-6s %9s %10s %10s %9s %8s %4s\n' time fault requests created dropped delivered rss_kb fds
i=0
while [ "$(date +%s)" -lt "$end" ]; do
  mode=${faults[$((i % ${#faults[@]}))]}
  curl -sf -X POST "http://$addr/privlog/fault/$mode" >/dev/null
  wrk -t2 -c"$connections" -d"${segment}s" -s "$work/paths.lua" "http://$addr/" >"$work/wrk-$i.txt" 2>&1 || true
  n=$(awk '/requests in/ {print $1}' "$work/wrk-$i.txt")
  n=${n:-0}
  process_requests=$((process_requests + n))
  total_requests=$((total_requests + n))
  # A stuck sink stays stuck through the checkpoint: its counters are still exact.
  s=$(quiet_stats)
  problems=$(check "$s" "$process_requests")
  checkpoints=$((checkpoints + 1))
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  fds=$(ls "/proc/$pid/fd" | wc -l)
  echo "$mode $rss $fds" >>"$rss_log"
  dropped=$(field "$s" 's["dropped_queue_full"] + sum(sum(k["dropped"].values()) for k in s["sinks"])')
  delivered=$(field "$s" 'min(k["delivered"] for k in s["sinks"])')
  printf '%-8s %-6s %9s %10s %10s %9s %8s %4s\n' "$(date -u +%H:%M:%S)" "$mode" "$n" \
    "$(field "$s" 's["created"]')" "$dropped" "$delivered" "$rss" "$fds"
  if [ -n "$problems" ]; then
    echo "soak: CHECK FAILED at checkpoint $checkpoints:" >&2
    echo "$problems" >&2
    failures=$((failures + 1))
  fi
  i=$((i + 1))
  if [ $((i % restart_every)) -eq 0 ] && [ "$(date +%s)" -lt "$end" ]; then
    # Every other restart happens with the fault sink stuck: shutdown must
    # still return at its deadline with balanced accounting.
    [ $(( (i / restart_every) % 2 )) -eq 0 ] && curl -sf -X POST "http://$addr/privlog/fault/stuck" >/dev/null
    stop_server
    f=$(cat "$stats")
    problems=$(check "$f" "$process_requests")
    [ "$(field "$f" 's["final"]')" = True ] || problems="$problems"$'\n'"no final stats after shutdown"
    if [ -n "$problems" ]; then
      echo "soak: CHECK FAILED after restart: $problems" >&2
      failures=$((failures + 1))
    fi
    verify_file "$f"
    echo "soak: restart $((restarts + 1)): shutdown_complete=$(field "$f" 's["shutdown_complete"]')" >&2
    restarts=$((restarts + 1))
    process_requests=0
    start_server
  fi
done
curl -sf -X POST "http://$addr/privlog/fault/ok" >/dev/null
stop_server
f=$(cat "$stats")
problems=$(check "$f" "$process_requests")
[ -z "$problems" ] || { echo "soak: CHECK FAILED at the end: $problems" >&2; failures=$((failures + 1)); }
verify_file "$f"
# RSS and fds: the records held in memory are capped (hand-off queue plus
# each sink's queue), so RSS depends on the fault mode but must not grow over
# time: for each mode, the last checkpoint may not exceed the first by more
# than 50% + 16 MiB, and no checkpoint may exceed 256 MiB. Open fds may vary by 8.
stable=$(python3 - "$rss_log" <<'PY'
import sys, collections
modes = collections.OrderedDict()
all_fds = []
for line in open(sys.argv[1]):
    mode, rss, fds = line.split()
    modes.setdefault(mode, []).append(int(rss))
    all_fds.append(int(fds))
out = []
for mode, rss in modes.items():
    ok = rss[-1] <= rss[0] * 1.5 + 16384 and max(rss) <= 256 * 1024
    out.append("%s fault=%s rss_kb first=%d last=%d max=%d (%d checkpoints)" % ("ok" if ok else "GROWING", mode, rss[0], rss[-1], max(rss), len(rss)))
if all_fds:
    ok = max(all_fds) - min(all_fds) <= 8
    out.append("%s open fds %d..%d" % ("ok" if ok else "GROWING", min(all_fds), max(all_fds)))
print("\n".join(out))
PY
)
echo "soak: ---- summary ----"
echo "soak: duration ${minutes} min, checkpoints $checkpoints, restarts $restarts"
echo "soak: requests completed (wrk) $total_requests, record lines written $total_lines (file sink delivered $file_delivered), invalid lines $bad_lines"
echo "$stable" | sed 's/^/soak: /'
grep -q GROWING <<<"$stable" && { echo "soak: CHECK FAILED: memory or fds grew" >&2; failures=$((failures + 1)); }
if [ "$failures" -gt 0 ]; then
  echo "soak: FAILED ($failures failed checks; logs in $work)" >&2
  exit 1
fi
echo "soak: PASSED (logs in $work)"
