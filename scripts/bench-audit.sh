#!/usr/bin/env bash
# Measures `privlog audit` throughput on generated input: an nginx
# combined-format access log (a full IP on every line, an e-mail, JWT or token
# on every 50th) and privlog NDJSON records. Prints wall-clock MB/s for 1 and
# 2 scanning threads and MB per CPU-second (stable on a busy machine).
#
#   scripts/bench-audit.sh            # 256 MB of each
#   SIZE_MB=1024 scripts/bench-audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-256}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cargo build --release --quiet --all-features --bin privlog
python3 - "$dir" "$SIZE_MB" <<'PY'
import sys
out, size = sys.argv[1], int(sys.argv[2]) << 20
ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
def access(i):
    m = i % 50
    if m == 0: path = f"/rest/users/user{i}@example.com/profile"
    elif m == 1: path = "/plugin?jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1NTcwNTg6ZjAwZCJ9.c2lnbmF0dXJl"
    elif m == 2: path = f"/download?sig=Q2hhbmdlTWVOb3dQbGVhc2U4Nzg5{i:08d}"
    else: path = f"/rest/api/2/issue/PROJ-{i % 9973}/comments?startAt=0&maxResults=50"
    return (f'198.51.{(i // 250) % 250}.{i % 250} - - [22/Nov/2026:09:30:{i % 60:02d} +0000] '
            f'"GET {path} HTTP/1.1" 200 {512 + i % 4096} "https://app.example.com/" "{ua}"\n')
def record(i):
    return ('{"v":1,"ts":"2026-11-22T09:30:00.%03dZ","client":"203.0.113.0/24","method":"GET",'
            '"route":"/rest/accounts/{account_id}/history","path":"/rest/accounts/{account_id}/history",'
            '"query":"lic=active&cv=1.0","status":200,"req_bytes":0,"resp_bytes":%d,"ttfb_us":840,'
            '"duration_us":910,"outcome":"completed","proto":"HTTP/1.1","account":"3q2x9Vd1kQ0bZg7mH4sT1A",'
            '"tenant":"Jp0cX8aWm3nR5yE2uK9fLw","epoch":"2026-11","kid":"k_5d1f0a9c"}\n') % (i % 1000, i % 9000)
for name, gen in (("access.log", access), ("records.ndjson", record)):
    chunk = "".join(gen(i) for i in range(20000)).encode()
    with open(f"{out}/{name}", "wb") as f:
        written = 0
        while written < size:
            f.write(chunk)
            written += len(chunk)
PY
for input in access.log records.ndjson; do
  mb=$(( $(stat -c %s "$dir/$input") / 1000000 ))
  for threads in 1 2; do
    TIMEFORMAT='%R %U %S'
    t=$( { time target/release/privlog audit --threads "$threads" --examples 0 "$dir/$input" >/dev/null 2>&1 || true; } 2>&1 )
    read -r real user sys <<<"$t"
    awk -v f="$input" -v n="$threads" -v mb="$mb" -v r="$real" -v u="$user" -v s="$sys" \
      'BEGIN { printf "%-15s threads=%d  %6d MB  %6.2f s  %6.0f MB/s wall  %6.0f MB per CPU-second\n", f, n, mb, r, mb / r, mb / (u + s) }'
  done
done
