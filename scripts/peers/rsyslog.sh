#!/usr/bin/env bash
# rsyslog beside syslog-ng: the two Debian packages conflict (both provide
# the system log daemon), so rsyslog is unpacked into target/peers/rsyslog
# from its .deb instead of installed; its libraries are installed as usual.
#
#   scripts/peers/rsyslog.sh install   # unpacks it (root: installs its libraries)
#   scripts/peers/rsyslog.sh locate    # prints "RSYSLOGD MODULE_DIR", or fails
set -euo pipefail
cd "$(dirname "$0")/../.."
root=target/peers/rsyslog
bin="$root/usr/sbin/rsyslogd"
moddir="$(ls -d "$root"/usr/lib/*/rsyslog 2>/dev/null | head -n1 || true)"
case "${1:-locate}" in
  install)
    if [ -x "$bin" ] && "$bin" -v >/dev/null 2>&1; then exit 0; fi
    if [ "$(id -u)" != 0 ]; then
      echo "rsyslog.sh: run as root to install rsyslog's libraries (libestr0 libfastjson4 liblognorm5)" >&2
      exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
      libestr0 libfastjson4 liblognorm5 >/dev/null
    tmp="$(mktemp -d)" && chmod 755 "$tmp"
    (cd "$tmp" && apt-get download -qq rsyslog >/dev/null)
    rm -rf "$root" && mkdir -p "$root"
    dpkg-deb -x "$tmp"/rsyslog_*.deb "$root"
    rm -rf "$tmp"
    "$root/usr/sbin/rsyslogd" -v >/dev/null
    echo "rsyslog.sh: rsyslog unpacked into $root" >&2
    ;;
  locate)
    if [ -x "$bin" ] && [ -n "$moddir" ]; then
      echo "$(pwd)/$bin $(pwd)/$moddir"
    else
      echo "rsyslog.sh: rsyslog not found in $root; run scripts/install-peers.sh" >&2
      exit 1
    fi
    ;;
esac
