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
# generator do not share a core). Needs wrk (scripts/install-peers.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
WRK_THREADS=${WRK_THREADS:-1}
SERVER_THREADS=${SERVER_THREADS:-1}
SERVER_CPUS=${SERVER_CPUS:-0}
WRK_CPUS=${WRK_CPUS:-1}
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
  out=$("${pin_wrk[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" \
    -H "Authorization: $JWT" "http://127.0.0.1:$port$PATH_Q")
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

python3 - "${results[bare]}" "${results[privlog]}" "${results[tracelayer]}" <<'EOF'
import statistics, sys
bare, privlog, trace = ([float(x) for x in a.split()] for a in sys.argv[1:4])
mb, mp, mt = (statistics.median(v) for v in (bare, privlog, trace))
print(f"median requests/s: bare {mb:.0f}  privlog {mp:.0f}  tracelayer {mt:.0f}")
print(f"privlog/bare {mp / mb:.3f}  tracelayer/bare {mt / mb:.3f}")
per_round = [p / b for b, p in zip(bare, privlog)]
print("privlog/bare per round: " + " ".join(f"{r:.3f}" for r in per_round))
EOF
