-- Error rate per UTC day: server errors (5xx) and requests that got no
-- response at all (aborted or failed before a response), in percent.
SELECT
    toDate(ts) AS day,
    count() AS requests,
    countIf(isNotNull(status) AND assumeNotNull(status) >= 500) AS server_errors,
    countIf(isNull(status)) AS no_response,
    round(100 * (server_errors + no_response) / requests, 3) AS error_rate_pct
FROM privlog_records
GROUP BY day
ORDER BY day;
