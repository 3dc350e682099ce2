-- Daily active accounts: distinct account pseudonyms per UTC day, and those
-- the application vouched for (account_src = 'app'). Days with accounts but
-- fewer than 5 vouched ones are withheld (k-anonymity, k = 5): accounts a
-- request only claims (a JWT read without verification, a header, a query
-- parameter, a path) never count toward k.
SELECT
    CAST(ts AS DATE) AS day,
    count(*) AS requests,
    count(DISTINCT account) AS active_accounts,
    count(DISTINCT tenant) AS active_tenants,
    count(DISTINCT CASE WHEN account_src = 'app' THEN account END) AS vouched_accounts
FROM privlog_records
GROUP BY day
HAVING count(DISTINCT account) = 0
    OR count(DISTINCT CASE WHEN account_src = 'app' THEN account END) >= 5
ORDER BY day;
