-- Request duration percentiles per UTC day, in microseconds. Days with
-- accounts but fewer than 5 vouched ones (account_src = 'app') within every
-- key period (kid, epoch) are withheld (k-anonymity, k = 5), as in
-- daily_active_accounts.sql.
WITH released AS (
    SELECT day
    FROM (
        SELECT
            CAST(ts AS DATE) AS day,
            count(DISTINCT account) AS accounts,
            count(DISTINCT CASE WHEN account_src = 'app' THEN account END) AS vouched
        FROM privlog_records
        GROUP BY day, kid, epoch
    )
    GROUP BY day
    HAVING sum(accounts) = 0 OR max(vouched) >= 5
)
SELECT
    CAST(ts AS DATE) AS day,
    count(*) AS requests,
    quantile_disc(duration_us, 0.50) AS p50_us,
    quantile_disc(duration_us, 0.95) AS p95_us,
    quantile_disc(duration_us, 0.99) AS p99_us
FROM privlog_records
WHERE CAST(ts AS DATE) IN (SELECT day FROM released)
GROUP BY day
ORDER BY day;
