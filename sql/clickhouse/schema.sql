-- privlog record schema v1 as a ClickHouse MergeTree table, for ClickHouse
-- 20.1 and later: `ts` keeps the records' milliseconds. ClickHouse before 20.1
-- (Debian's 18.16) has no DateTime64: there write `ts DateTime('UTC')`, which
-- keeps whole seconds. The queries work with either.
-- Load NDJSON record files, skipping up to 1000 torn or damaged lines per insert:
--   clickhouse-client --query "INSERT INTO privlog_records SETTINGS date_time_input_format = 'best_effort', input_format_allow_errors_num = 1000, input_format_skip_unknown_fields = 1 FORMAT JSONEachRow" < {files}
CREATE TABLE IF NOT EXISTS privlog_records
(
    v UInt8,
    ts DateTime64(3, 'UTC'),
    client Nullable(String),
    method String,
    route Nullable(String),
    path String,
    query Nullable(String),
    status Nullable(UInt16),
    req_bytes UInt64,
    resp_bytes UInt64,
    ttfb_us Nullable(UInt64),
    duration_us UInt64,
    outcome String,
    proto String,
    account Nullable(String),
    account_src Nullable(String),
    tenant Nullable(String),
    epoch String,
    kid String,
    -- set only on records kept by sampling: count each as 1 / sample_rate requests
    sample_rate Nullable(Float64)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (toDate(ts), method, path, ts);
