#!/usr/bin/env bash
# Starts or stops a private ClickHouse server for tests, on loopback only.
#
#   scripts/peers/clickhouse.sh start DIR   # prints http_port=N tcp_port=M once it answers
#   scripts/peers/clickhouse.sh stop DIR
#
# DIR holds the config, data and logs; each DIR is an independent server.
# With CLICKHOUSE_ERASER_PASSWORD set, a second user `privlog_eraser` signs in
# with that password (the `default` user has none).
set -euo pipefail
cmd=${1:-}; dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2; exit 2
fi
server=$(command -v clickhouse-server || true)
if [ -z "$server" ]; then
  echo "clickhouse-server not found: run scripts/install-peers.sh (Debian package clickhouse-server)" >&2
  exit 1
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
case "$cmd" in
start)
  mkdir -p "$dir"/data "$dir"/tmp "$dir"/log "$dir"/user_files "$dir"/format_schemas
  dir=$(cd "$dir" && pwd)
  eraser=""
  if [ -n "${CLICKHOUSE_ERASER_PASSWORD:-}" ]; then
    eraser="<privlog_eraser><password>${CLICKHOUSE_ERASER_PASSWORD}</password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></privlog_eraser>"
  fi
  http_port=$(free_port); tcp_port=$(free_port)
  while [ "$tcp_port" = "$http_port" ]; do tcp_port=$(free_port); done
  cat > "$dir/users.xml" <<XML
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    $eraser
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML
  cat > "$dir/config.xml" <<XML
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/error.log</errorlog><size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$http_port</http_port>
  <tcp_port>$tcp_port</tcp_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>104857600</mark_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
XML
  "$server" --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
  echo $! > "$dir/pid"
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$http_port/ping" >/dev/null 2>&1; then
      echo "http_port=$http_port tcp_port=$tcp_port"
      exit 0
    fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "clickhouse-server exited during start-up; its log:" >&2
      tail -n 30 "$dir/log/stdout.log" "$dir/log/error.log" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 0.1
  done
  echo "clickhouse-server did not answer on 127.0.0.1:$http_port within 30 s; see $dir/log" >&2
  kill "$(cat "$dir/pid")" 2>/dev/null || true
  exit 1
  ;;
stop)
  if [ -f "$dir/pid" ]; then
    pid=$(cat "$dir/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
  fi
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
