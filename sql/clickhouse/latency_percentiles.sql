-- Request duration percentiles per UTC day, in microseconds.
SELECT
    toDate(ts) AS day,
    count() AS requests,
    quantileExact(0.50)(duration_us) AS p50_us,
    quantileExact(0.95)(duration_us) AS p95_us,
    quantileExact(0.99)(duration_us) AS p99_us
FROM privlog_records
GROUP BY day
ORDER BY day;
