-- privlog record schema v1 as a DuckDB view over NDJSON files (plain or .gz).
-- Torn or damaged lines (a crash mid-write) are skipped: read_json ignores
-- lines it cannot parse, and the WHERE clause drops incomplete rows.
CREATE OR REPLACE VIEW privlog_records AS
SELECT *
FROM read_json(
    '{files}',
    format = 'newline_delimited',
    ignore_errors = true,
    columns = {
        v: 'UTINYINT',
        ts: 'TIMESTAMP',
        client: 'VARCHAR',
        method: 'VARCHAR',
        route: 'VARCHAR',
        path: 'VARCHAR',
        query: 'VARCHAR',
        status: 'USMALLINT',
        req_bytes: 'UBIGINT',
        resp_bytes: 'UBIGINT',
        ttfb_us: 'UBIGINT',
        duration_us: 'UBIGINT',
        outcome: 'VARCHAR',
        proto: 'VARCHAR',
        account: 'VARCHAR',
        account_src: 'VARCHAR',
        tenant: 'VARCHAR',
        epoch: 'VARCHAR',
        kid: 'VARCHAR',
        sample_rate: 'DOUBLE'
    }
)
WHERE v = 1 AND ts IS NOT NULL AND method IS NOT NULL AND path IS NOT NULL
  AND duration_us IS NOT NULL AND kid IS NOT NULL AND epoch IS NOT NULL;
