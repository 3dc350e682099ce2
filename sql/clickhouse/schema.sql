-- privlog record schema v1 as a ClickHouse MergeTree table.
-- Load NDJSON record files (torn lines skipped, up to 1000 per insert):
--   clickhouse-client --query "INSERT INTO privlog_records SETTINGS date_time_input_format = 'best_effort', input_format_allow_errors_num = 1000 FORMAT JSONEachRow" < {files}
CREATE TABLE IF NOT EXISTS privlog_records
(
    v UInt8,
    ts DateTime64(3, 'UTC'),
    client Nullable(String),
    method LowCardinality(String),
    route Nullable(String),
    path String,
    query Nullable(String),
    status Nullable(UInt16),
    req_bytes UInt64,
    resp_bytes UInt64,
    ttfb_us Nullable(UInt64),
    duration_us UInt64,
    outcome LowCardinality(String),
    proto LowCardinality(String),
    account Nullable(String),
    tenant Nullable(String),
    epoch LowCardinality(String),
    kid LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (toDate(ts), method, path, ts);
