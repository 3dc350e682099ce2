-- Request duration percentiles per UTC day, in microseconds.
SELECT
    CAST(ts AS DATE) AS day,
    count(*) AS requests,
    quantile_disc(duration_us, 0.50) AS p50_us,
    quantile_disc(duration_us, 0.95) AS p95_us,
    quantile_disc(duration_us, 0.99) AS p99_us
FROM privlog_records
GROUP BY day
ORDER BY day;
