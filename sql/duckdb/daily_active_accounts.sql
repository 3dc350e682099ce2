-- Daily active accounts: distinct account pseudonyms per UTC day.
-- Days seen by 1 to 4 accounts are withheld (k-anonymity, k = 5).
SELECT
    CAST(ts AS DATE) AS day,
    count(*) AS requests,
    count(DISTINCT account) AS active_accounts,
    count(DISTINCT tenant) AS active_tenants
FROM privlog_records
GROUP BY day
HAVING count(DISTINCT account) = 0 OR count(DISTINCT account) >= 5
ORDER BY day;
