#!/usr/bin/env bash
# Fuzzes privlog's input parsers with libFuzzer, each target for a bounded time.
#
#   scripts/fuzz.sh 60            # every target, 60 s each
#   scripts/fuzz.sh 300 forwarded # one target
#
# Needs cargo-fuzz (installed from crates.io when missing). Runs on the stable
# toolchain with RUSTC_BOOTSTRAP=1, which unlocks the sanitizer flags
# cargo-fuzz passes. New corpus entries stay in fuzz/corpus/<target>/ (only the
# seed-* files are committed); a crash is saved under fuzz/artifacts/<target>/
# and makes this script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(scrub_path query_filter jwt_peek forwarded record_reader spool_recovery)
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
echo "fuzz: building ${#targets[@]} target(s)" >&2
if [ ${#targets[@]} -eq 1 ]; then cargo fuzz build -O "${targets[0]}"; else cargo fuzz build -O; fi
failed=()
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="artifacts/$t/last-run.log"
  echo "fuzz: $t for ${secs}s" >&2
  # -rss_limit_mb bounds memory per input: an input that makes a parser
  # allocate without bound is a finding too.
  if cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=1024 -max_len=65536 \
       -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    failed+=("$t")
  fi
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1)
  corpus=$(find "corpus/$t" -type f | wc -l)
  printf 'fuzz: %-14s %-5s executions=%s corpus=%s\n' "$t" "$status" "${execs:-?}" "$corpus"
  if [ "$status" = CRASH ]; then
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -5 >&2 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs under fuzz/artifacts/; reproduce with: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <artifact>)" >&2
  exit 1
fi
