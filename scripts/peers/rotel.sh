#!/usr/bin/env bash
# Starts or stops a private OpenTelemetry collector (rotel, from PyPI) for
# tests, on loopback only: an OTLP/HTTP receiver whose logs go to a blackhole
# exporter and, in detail, to DIR/received.log, where a test reads what arrived.
#
#   scripts/peers/rotel.sh start DIR   # prints http_port=N once it answers
#   scripts/peers/rotel.sh stop DIR
#
# Each DIR is an independent collector.
set -euo pipefail
cmd=${1:-}; dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2; exit 2
fi
case "$cmd" in
start)
  agent=$(python3 -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))' 2>/dev/null || true)
  if [ -z "$agent" ] || [ ! -x "$agent" ]; then
    echo "rotel not found: run scripts/install-peers.sh (PyPI package rotel)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
  http_port=$(free_port); grpc_port=$(free_port)
  while [ "$grpc_port" = "$http_port" ]; do grpc_port=$(free_port); done
  # Batches leave the collector after 10 ms, so what arrived shows up quickly.
  nohup "$agent" start \
    --otlp-http-endpoint "127.0.0.1:$http_port" \
    --otlp-grpc-endpoint "127.0.0.1:$grpc_port" \
    --otlp-receiver-traces-disabled --otlp-receiver-metrics-disabled \
    --exporter blackhole \
    --debug-log logs --debug-log-verbosity detailed \
    --batch-timeout 10ms \
    --pid-file "$dir/rotel.pid" --log-file "$dir/rotel.log" \
    > "$dir/received.log" 2> "$dir/stderr.log" < /dev/null &
  echo $! > "$dir/agent.pid"
  for _ in $(seq 1 100); do
    if ! kill -0 "$(cat "$dir/agent.pid")" 2>/dev/null; then
      echo "rotel exited: $(tail -5 "$dir/stderr.log" "$dir/received.log")" >&2
      exit 1
    fi
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $http_port), 0.2)" 2>/dev/null; then
      echo "http_port=$http_port"
      exit 0
    fi
    sleep 0.1
  done
  echo "rotel did not answer on 127.0.0.1:$http_port within 10 s" >&2
  kill "$(cat "$dir/agent.pid")" 2>/dev/null || true
  exit 1
  ;;
stop)
  if [ -f "$dir/agent.pid" ]; then
    pid=$(cat "$dir/agent.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/agent.pid"
  fi
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2; exit 2
  ;;
esac
