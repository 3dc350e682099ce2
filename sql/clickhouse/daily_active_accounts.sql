-- Daily active accounts: distinct account pseudonyms per UTC day.
-- Days seen by 1 to 4 accounts are withheld (k-anonymity, k = 5).
SELECT
    toDate(ts) AS day,
    count() AS requests,
    uniqExactIf(assumeNotNull(account), isNotNull(account)) AS active_accounts,
    uniqExactIf(assumeNotNull(tenant), isNotNull(tenant)) AS active_tenants
FROM privlog_records
GROUP BY day
HAVING active_accounts = 0 OR active_accounts >= 5
ORDER BY day;
