#!/usr/bin/env bash
# Installs the real peers privlog's tests use, only those that are missing:
# Debian packages (as root) and Python packages. Safe to run repeatedly.
set -euo pipefail
need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
# Each entry: "command package"
for pair in ; do
  cmd=${pair%% *}; pkg=${pair#* }
  have "$cmd" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-peers: missing ${need_apt[*]}; run as root or install them: apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
  echo "install-peers: installing ${need_apt[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
