-- Error rate per UTC day: server errors (5xx) and requests that got no
-- response at all (aborted or failed before a response), in percent. Days
-- with accounts but fewer than 5 vouched ones (account_src = 'app') within
-- every key period (kid, epoch) are withheld (k-anonymity, k = 5), as in
-- daily_active_accounts.sql.
SELECT
    toDate(ts) AS day,
    count() AS requests,
    countIf(isNotNull(status) AND assumeNotNull(status) >= 500) AS server_errors,
    countIf(isNull(status)) AS no_response,
    round(100 * (server_errors + no_response) / requests, 3) AS error_rate_pct
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
