#!/usr/bin/env bash
# Runs privlog's whole test suite on a fresh Debian machine: installs the real
# peers the tests talk to (only those missing), then builds once and tests.
#
#   scripts/test.sh            # everything
#   scripts/test.sh --lib      # extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-peers.sh
cargo test --all-targets --all-features "$@"
cargo test --doc --all-features
