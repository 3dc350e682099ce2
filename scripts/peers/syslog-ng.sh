#!/usr/bin/env bash
# Starts or stops a throw-away syslog-ng (3.38) on 127.0.0.1 for privlog's tests.
#
#   scripts/peers/syslog-ng.sh start DIR   # writes DIR/ports.env, returns once listening
#   scripts/peers/syslog-ng.sh stop DIR
#   TCP_PORT=N scripts/peers/syslog-ng.sh start DIR2   # same port again (restart tests)
#
# Sources: RFC 5424 over TCP (octet counting), UDP, TLS (RFC 5425, a test CA
# and server certificate made here with openssl), a Unix datagram socket
# (DIR/log.sock) and a Unix stream socket (DIR/stream.sock, one message per
# line). Each source writes what it received to DIR/<transport>.log,
# one JSON object per message: the parsed header fields, the structured data,
# the MSG and the raw message as received.
#
# DIR/ports.env holds TCP_PORT, UDP_PORT, TLS_PORT, UNIX_SOCKET,
# UNIX_STREAM_SOCKET and CA_CERT.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

find_syslog_ng() {
  for c in syslog-ng /usr/sbin/syslog-ng; do
    if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return; fi
  done
  echo "syslog-ng.sh: syslog-ng not found; install it with scripts/install-peers.sh (Debian package syslog-ng-core)" >&2
  exit 1
}

free_port() {
  python3 -c 'import socket,sys
s=socket.socket(socket.AF_INET, getattr(socket, sys.argv[1]))
s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"
}

make_certs() {
  command -v openssl >/dev/null 2>&1 || {
    echo "syslog-ng.sh: openssl not found; install it with scripts/install-peers.sh (Debian package openssl)" >&2
    exit 1
  }
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj "/CN=privlog test CA" -keyout ca.key -out ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt 2>/dev/null
  )
}

start() {
  local bin; bin=$(find_syslog_ng)
  make_certs
  local tcp udp tls
  # Preset TCP_PORT / UDP_PORT / TLS_PORT (a restarted server) are kept.
  tcp=${TCP_PORT:-$(free_port SOCK_STREAM)}; udp=${UDP_PORT:-$(free_port SOCK_DGRAM)}
  tls=${TLS_PORT:-$(free_port SOCK_STREAM)}
  while [ "$tls" = "$tcp" ]; do tls=$(free_port SOCK_STREAM); done
  local json='$(format-json --key PRI --key FACILITY --key SEVERITY --key HOST --key PROGRAM --key PID --key MSGID --key ISODATE --key MESSAGE --key RAWMSG --scope sdata)\n'
  cat > "$dir/syslog-ng.conf" <<CONF
@version: 3.38
options { keep-hostname(yes); chain-hostnames(no); use-dns(no); dns-cache(no); stats-freq(0); log-msg-size(65536); };
template t_json { template("$json"); };
source s_tcp { syslog(ip(127.0.0.1) port($tcp) transport("tcp") flags(store-raw-message)); };
source s_udp { syslog(ip(127.0.0.1) port($udp) transport("udp") flags(store-raw-message)); };
source s_tls { syslog(ip(127.0.0.1) port($tls) transport("tls") flags(store-raw-message)
  tls(key-file("$dir/server.key") cert-file("$dir/server.crt") peer-verify(optional-untrusted))); };
source s_unix { unix-dgram("$dir/log.sock" flags(syslog-protocol, store-raw-message)); };
source s_unix_stream { unix-stream("$dir/stream.sock" flags(syslog-protocol, store-raw-message)); };
destination d_tcp { file("$dir/tcp.log" template(t_json) flush-lines(1)); };
destination d_udp { file("$dir/udp.log" template(t_json) flush-lines(1)); };
destination d_tls { file("$dir/tls.log" template(t_json) flush-lines(1)); };
destination d_unix { file("$dir/unix.log" template(t_json) flush-lines(1)); };
destination d_unix_stream { file("$dir/unix-stream.log" template(t_json) flush-lines(1)); };
log { source(s_tcp); destination(d_tcp); };
log { source(s_udp); destination(d_udp); };
log { source(s_tls); destination(d_tls); };
log { source(s_unix); destination(d_unix); };
log { source(s_unix_stream); destination(d_unix_stream); };
CONF
  "$bin" -F -f "$dir/syslog-ng.conf" -R "$dir/syslog-ng.persist" -p "$dir/syslog-ng.pid" \
    -c "$dir/syslog-ng.ctl" >"$dir/syslog-ng.out" 2>&1 </dev/null &
  echo $! > "$dir/syslog-ng.launcher.pid"
  for _ in $(seq 1 200); do
    if [ -S "$dir/log.sock" ] && [ -S "$dir/stream.sock" ] && (exec 3<>"/dev/tcp/127.0.0.1/$tcp") 2>/dev/null \
      && (exec 3<>"/dev/tcp/127.0.0.1/$tls") 2>/dev/null; then
      printf 'TCP_PORT=%s\nUDP_PORT=%s\nTLS_PORT=%s\nUNIX_SOCKET=%s\nUNIX_STREAM_SOCKET=%s\nCA_CERT=%s\n' \
        "$tcp" "$udp" "$tls" "$dir/log.sock" "$dir/stream.sock" "$dir/ca.crt" > "$dir/ports.env"
      return 0
    fi
    if ! kill -0 "$(cat "$dir/syslog-ng.launcher.pid")" 2>/dev/null; then
      echo "syslog-ng.sh: syslog-ng exited during start-up:" >&2
      cat "$dir/syslog-ng.out" >&2
      exit 1
    fi
    sleep 0.05
  done
  echo "syslog-ng.sh: syslog-ng did not start listening within 10 s; its output:" >&2
  cat "$dir/syslog-ng.out" >&2
  stop
  exit 1
}

stop() {
  local pidfile="$dir/syslog-ng.launcher.pid"
  [ -f "$pidfile" ] || return 0
  local pid; pid=$(cat "$pidfile")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
