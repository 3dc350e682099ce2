#!/usr/bin/env bash
# End-to-end load test on loopback: the hello-world server of
# examples/bench_server.rs in three modes (bare, privlog writing to a file,
# tower-http TraceLayer with JSON logs to a file), driven by wrk in
# alternation for several rounds. Prints requests/s per round, the median of
# each mode, and the ratios privlog/bare and tracelayer/bare.
#
#   scripts/loadtest.sh                      # 5 rounds of 10 s per mode
#   ROUNDS=3 DURATION=5 scripts/loadtest.sh  # shorter
#
# Settings (environment): ROUNDS (5), DURATION seconds per run (10),
# CONNECTIONS (32), WRK_THREADS (1), SERVER_THREADS (1), SERVER_CPUS and
# WRK_CPUS (taskset CPU lists, default "0" and "1" so the server and the load
# generator do not share a core), PRIVLOG_CPUS (unset: privlog's worker and
# sink threads stay with the server on SERVER_CPUS; set, e.g. "1": they are
# moved there once the server runs, as a server with a spare core would
# schedule them). Needs wrk (scripts/install-peers.sh).
#
# Besides requests/s it prints the CPU time each kind of server thread spent
# per request (from /proc, user + system): the request threads, privlog's
# worker and its sink threads, and the ratios of those totals. Unlike
# requests/s these barely move when the machine is busy with something else.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
SERVER_THREADS=${SERVER_THREADS:-1}
SERVER_CPUS=${SERVER_CPUS:-0}
WRK_CPUS=${WRK_CPUS:-1}
PRIVLOG_CPUS=${PRIVLOG_CPUS:-}
MODES=(bare privlog tracelayer)

if ! command -v wrk >/dev/null 2>&1; then
  echo "loadtest: wrk is missing; install it with scripts/install-peers.sh (Debian package wrk)" >&2
  exit 1
fi
# `taskset -c CPUS` where taskset exists (util-linux); runs unpinned otherwise.
pin_server=()
pin_wrk=()
if command -v taskset >/dev/null 2>&1; then
  pin_server=(taskset -c "$SERVER_CPUS")
  pin_wrk=(taskset -c "$WRK_CPUS")
fi

echo "loadtest: building examples/bench_server.rs (release)" >&2
cargo build --release --example bench_server >&2
server=target/release/examples/bench_server
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# An Atlassian Connect JWT, as a Jira add-on receives on every request.
JWT='JWT eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1NTcwNTg6ZjBlMWQyYzMtYjRhNS00Njk3LTg4OTktYWFiYmNjZGRlZWZmIiwiaXNzIjoiamlyYToxZjRjNmQwZS0yYjNhLTRjNWQtOGU5Zi0wYTFiMmMzZDRlNWYiLCJpYXQiOjE3OTUwMDAwMDAsImV4cCI6MTc5NTAwMDE4MH0.c2lnbmF0dXJl'
PATH_Q='/rest/api/3/issue/PROJ-123/comment?lic=active&cv=1001.0.0'

# Thread name, user and system clock ticks of every thread of process $1.
cpu_snapshot() {
  local t stat f
  for t in /proc/"$1"/task/*; do
    stat=$(cat "$t/stat" 2>/dev/null) || continue
    # Fields after the ")" that closes the name: utime and stime are the 12th and 13th.
    read -r -a f <<<"${stat##*) }"
    echo "$(cat "$t/comm" 2>/dev/null) ${f[11]} ${f[12]}"
  done
}

# CPU microseconds per request by kind of thread, between two snapshots.
cpu_per_request() { # BEFORE AFTER REQUESTS
  python3 - "$@" "$(getconf CLK_TCK)" <<'EOF'
import sys
before, after, requests, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def load(path):
    ticks = {}
    for line in open(path):
        name, user, system = line.rsplit(None, 2)
        kind = "worker" if name == "privlog-worker" else "sinks" if name.startswith("privlog-sink") else "server"
        ticks[kind] = ticks.get(kind, 0) + int(user) + int(system)
    return ticks
b, a = load(before), load(after)
us = {k: (a[k] - b.get(k, 0)) / hz / max(requests, 1) * 1e6 for k in a}
print(" ".join(f"{k} {us[k]:.2f}" for k in ("server", "worker", "sinks") if k in us) + f" total {sum(us.values()):.2f}")
EOF
}

run_mode() { # run_mode MODE ROUND -> prints requests/s
  local mode=$1 round=$2 port log out rps
  port=$(free_port)
  log="$work/$mode.log"
  rm -f "$log"
  # Started directly (taskset execs it), so $! is the server and gets the SIGINT.
  "${pin_server[@]}" "$server" --mode "$mode" --addr "127.0.0.1:$port" --log "$log" \
    --threads "$SERVER_THREADS" 2>"$work/$mode.$round.stderr" &
  server_pid=$!
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.05
  done
  if [ -n "$PRIVLOG_CPUS" ] && [ "$mode" = privlog ]; then
    for t in /proc/"$server_pid"/task/*; do
      case $(cat "$t/comm" 2>/dev/null) in
      privlog-*) taskset -pc "$PRIVLOG_CPUS" "${t##*/}" >/dev/null ;;
      esac
    done
  fi
  cpu_snapshot "$server_pid" >"$work/cpu.before"
  out=$("${pin_wrk[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
    -H "Authorization: $JWT" "http://127.0.0.1:$port$PATH_Q")
  cpu_snapshot "$server_pid" >"$work/cpu.after"
  kill -INT "$server_pid"
  for _ in $(seq 1 200); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  # Write the log out now, not during the next mode's run.
  sync "$log" 2>/dev/null || sync
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  if [ -z "$rps" ]; then
    echo "loadtest: wrk printed no Requests/sec for $mode:" >&2
    echo "$out" >&2
    exit 1
  fi
  if [ "$mode" = privlog ]; then
    # The server prints its accounting at shutdown; every request must be in the file.
    grep -h '^privlog:' "$work/$mode.$round.stderr" >&2 || true
    echo "loadtest: privlog wrote $(wc -l <"$log") records" >&2
  fi
  rm -f "$log"
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu_per_request "$work/cpu.before" "$work/cpu.after" "$requests" >"$work/cpu.$mode.$round"
  echo "loadtest: $mode round $round CPU us per request: $(cat "$work/cpu.$mode.$round")" >&2
  echo "$rps"
}

declare -A results
echo "loadtest: $ROUNDS rounds x ${DURATION}s per mode, $CONNECTIONS connections, server on CPU $SERVER_CPUS, wrk on CPU $WRK_CPUS" >&2
for round in $(seq 1 "$ROUNDS"); do
  line="round $round:"
  # Rotate the order each round so no mode always follows the same one.
  for i in 0 1 2; do
    mode=${MODES[$(((round - 1 + i) % 3))]}
    rps=$(run_mode "$mode" "$round")
    line+=" $mode $rps"
    results[$mode]+="$rps "
  done
  echo "$line"
done

cpu_summary=$(for mode in "${MODES[@]}"; do cat "$work"/cpu."$mode".*; done)
python3 - "${results[bare]}" "${results[privlog]}" "${results[tracelayer]}" "$cpu_summary" "$ROUNDS" <<'EOF'
import statistics, sys
bare, privlog, trace = ([float(x) for x in a.split()] for a in sys.argv[1:4])
mb, mp, mt = (statistics.median(v) for v in (bare, privlog, trace))
print(f"median requests/s: bare {mb:.0f}  privlog {mp:.0f}  tracelayer {mt:.0f}")
print(f"privlog/bare {mp / mb:.3f}  tracelayer/bare {mt / mb:.3f}")
per_round = [p / b for b, p in zip(bare, privlog)]
print("privlog/bare per round: " + " ".join(f"{r:.3f}" for r in per_round))
lines, rounds = sys.argv[4].splitlines(), int(sys.argv[5])
print("median CPU microseconds per request (user + system, by thread):")
totals = {}
for mode, chunk in zip(("bare", "privlog", "tracelayer"), (lines[i * rounds:(i + 1) * rounds] for i in range(3))):
    kinds = {}
    for line in chunk:
        words = line.split()
        for k, v in zip(words[0::2], words[1::2]):
            kinds.setdefault(k, []).append(float(v))
    totals[mode] = statistics.median(kinds["total"])
    print(f"  {mode:<10} " + "  ".join(f"{k} {statistics.median(v):.2f}" for k, v in kinds.items()))
# With the server's core saturated, requests/s follow the CPU time each
# request costs there; this ratio moves far less than requests/s when the
# machine is busy with something else (it counts every thread, so it holds
# only while all of the server's threads share its cores).
print(
    f"by CPU time per request: privlog/bare {totals['bare'] / totals['privlog']:.3f}"
    f"  tracelayer/bare {totals['bare'] / totals['tracelayer']:.3f}"
)
EOF
