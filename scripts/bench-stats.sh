#!/usr/bin/env bash
# Times `privlog stats --by day,route` against DuckDB's read_json_auto computing
# the same figures over the same records, alternating, several rounds; prints
# the medians, the ratio and the peak memory of each.
#
#   scripts/bench-stats.sh              # 1.1 GB of records, 3 rounds
#   scripts/bench-stats.sh 2200000000 5 # bytes of records, rounds
#
# The records are generated once into $BENCH_DIR (default: a temp dir) and
# reused by later runs with the same directory; they are never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1100000000}
rounds=${2:-3}
dir=${BENCH_DIR:-${TMPDIR:-/tmp}/privlog-bench-stats}
mkdir -p "$dir"
data="$dir/records-$size.ndjson"

python3 -c 'import duckdb' 2>/dev/null || scripts/install-peers.sh
echo "bench-stats: building privlog (release)…" >&2
cargo build --release --quiet --all-features --bin privlog --example gen_records
if [ ! -s "$data" ]; then
  echo "bench-stats: generating $size bytes of records into $data…" >&2
  target/release/examples/gen_records --bytes "$size" > "$data.tmp"
  mv "$data.tmp" "$data"
fi

python3 - "$data" "$rounds" <<'PY'
import os, statistics, subprocess, sys, time

data, rounds = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(data)
cores = os.cpu_count()

privlog = ["target/release/privlog", "stats", "--by", "day,route", "--format", "csv", data]
# The same figures privlog computes, with DuckDB's own sketches for distinct
# counts and percentiles (privlog's are sketches too).
sql = f"""
COPY (
  SELECT CAST(ts AS DATE) AS day, coalesce(route, path) AS route,
         count(*) AS requests,
         approx_count_distinct(account) AS distinct_accounts,
         approx_count_distinct(CASE WHEN account_src = 'app' THEN account END) AS vouched_accounts,
         approx_count_distinct(tenant) AS distinct_tenants,
         approx_quantile(duration_us, 0.5) AS p50_us,
         approx_quantile(duration_us, 0.95) AS p95_us,
         approx_quantile(duration_us, 0.99) AS p99_us,
         sum(req_bytes) AS req_bytes, sum(resp_bytes) AS resp_bytes
  FROM read_json_auto('{data}', format = 'newline_delimited')
  GROUP BY ALL
) TO '/dev/stdout' (FORMAT csv)
"""
duckdb = [sys.executable, "-c", "import duckdb, sys; duckdb.connect().execute(sys.argv[1])", sql]

def run(cmd):
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"bench-stats: {cmd[0]} failed: {p.stderr.read().decode()[-2000:]}")
    p.stderr.close()
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # s, s, MiB

# Warm the page cache so neither side pays for the first read.
with open(data, "rb") as f:
    while f.read(1 << 24):
        pass

times = {"privlog": [], "duckdb": []}
cpu = {"privlog": [], "duckdb": []}
rss = {"privlog": 0.0, "duckdb": 0.0}
for r in range(rounds):
    for name, cmd in (("privlog", privlog), ("duckdb", duckdb)):
        t, c, m = run(cmd)
        times[name].append(t)
        cpu[name].append(c)
        rss[name] = max(rss[name], m)
        print(f"round {r + 1}/{rounds}: {name:8} {t:7.2f} s wall, {c:6.2f} s CPU ({size / t / 1e6:5.0f} MB/s, peak {m:4.0f} MiB)", file=sys.stderr)

import duckdb as _d
p, d = statistics.median(times["privlog"]), statistics.median(times["duckdb"])
pc, dc = statistics.median(cpu["privlog"]), statistics.median(cpu["duckdb"])
print(f"records: {size / 1e9:.2f} GB NDJSON, {cores} cores, {rounds} rounds, DuckDB {_d.__version__}")
print(f"privlog stats --by day,route : median {p:6.2f} s wall {pc:6.2f} s CPU  {size / p / 1e6:5.0f} MB/s  peak {rss['privlog']:4.0f} MiB")
print(f"duckdb read_json_auto        : median {d:6.2f} s wall {dc:6.2f} s CPU  {size / d / 1e6:5.0f} MB/s  peak {rss['duckdb']:4.0f} MiB")
print(f"ratio (wall): privlog is {d / p:.2f}x {'faster' if p < d else 'slower'} than DuckDB; CPU time ratio {dc / pc:.2f}x")
PY
