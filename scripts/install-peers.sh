#!/usr/bin/env bash
# Installs the real peers privlog's tests use, only those that are missing.
# Each area lists what it needs in scripts/peers/*.apt ("command debian-package"
# per line) and scripts/peers/*.pip ("python-module pypi-package" per line).
# Safe to run repeatedly; installs nothing when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
need_apt=()
need_pip=()
shopt -s nullglob
for f in scripts/peers/*.apt; do
  while read -r cmd pkg; do
    [ -z "${cmd:-}" ] || [ "${cmd:0:1}" = "#" ] && continue
    have "$cmd" || need_apt+=("$pkg")
  done < "$f"
done
for f in scripts/peers/*.pip; do
  while read -r module pkg; do
    [ -z "${module:-}" ] || [ "${module:0:1}" = "#" ] && continue
    python3 -c "import $module" >/dev/null 2>&1 || need_pip+=("$pkg")
  done < "$f"
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-peers: missing Debian packages: ${need_apt[*]}; run as root or: sudo apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
  echo "install-peers: installing ${need_apt[*]}" >&2
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "install-peers: installing Python packages ${need_pip[*]}" >&2
  python3 -m pip install -q "${need_pip[@]}"
fi
# rsyslog conflicts with syslog-ng as a Debian package: unpacked beside it.
scripts/peers/rsyslog.sh install
echo "install-peers: all peers present" >&2
