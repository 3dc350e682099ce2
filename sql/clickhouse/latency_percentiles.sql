-- Request duration percentiles per UTC day, in microseconds. Days with
-- accounts but fewer than 5 vouched ones (account_src = 'app') within every
-- key period (kid, epoch) are withheld (k-anonymity, k = 5), as in
-- daily_active_accounts.sql.
SELECT
    toDate(ts) AS day,
    count() AS requests,
    quantileExact(0.50)(duration_us) AS p50_us,
    quantileExact(0.95)(duration_us) AS p95_us,
    quantileExact(0.99)(duration_us) AS p99_us
FROM privlog_records
WHERE toDate(ts) IN
(
    SELECT released_day
    FROM
    (
        SELECT
            toDate(ts) AS released_day,
            uniqExactIf(assumeNotNull(account), isNotNull(account)) AS period_accounts,
            uniqExactIf(assumeNotNull(account), isNotNull(account) AND ifNull(account_src, '') = 'app') AS period_vouched
        FROM privlog_records
        GROUP BY released_day, kid, epoch
    )
    GROUP BY released_day
    HAVING sum(period_accounts) = 0 OR max(period_vouched) >= 5
)
GROUP BY day
ORDER BY day;
