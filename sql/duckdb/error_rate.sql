-- Error rate per UTC day: server errors (5xx) and requests that got no
-- response at all (aborted or failed before a response), in percent.
SELECT
    CAST(ts AS DATE) AS day,
    count(*) AS requests,
    count(*) FILTER (WHERE status >= 500) AS server_errors,
    count(*) FILTER (WHERE status IS NULL) AS no_response,
    round(100.0 * count(*) FILTER (WHERE status >= 500 OR status IS NULL) / count(*), 3) AS error_rate_pct
FROM privlog_records
GROUP BY day
ORDER BY day;
