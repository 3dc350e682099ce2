-- Error rate per UTC day: server errors (5xx) and requests that got no
-- response at all (aborted or failed before a response), in percent. Days
-- with accounts but fewer than 5 vouched ones (account_src = 'app') within
-- every key period (kid, epoch) are withheld (k-anonymity, k = 5), as in
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
    count(*) FILTER (WHERE status >= 500) AS server_errors,
    count(*) FILTER (WHERE status IS NULL) AS no_response,
    round(100.0 * count(*) FILTER (WHERE status >= 500 OR status IS NULL) / count(*), 3) AS error_rate_pct
FROM privlog_records
WHERE CAST(ts AS DATE) IN (SELECT day FROM released)
GROUP BY day
ORDER BY day;
