-- Daily active accounts: distinct account pseudonyms per UTC day, and those
-- the application vouched for (account_src = 'app'). Days with accounts but
-- fewer than 5 vouched ones are withheld (k-anonymity, k = 5): accounts a
-- request only claims (a JWT read without verification, a header, a query
-- parameter, a path) never count toward k.
SELECT
    toDate(ts) AS day,
    count() AS requests,
    uniqExactIf(assumeNotNull(account), isNotNull(account)) AS active_accounts,
    uniqExactIf(assumeNotNull(tenant), isNotNull(tenant)) AS active_tenants,
    uniqExactIf(assumeNotNull(account), isNotNull(account) AND ifNull(account_src, '') = 'app') AS vouched_accounts
FROM privlog_records
GROUP BY day
HAVING active_accounts = 0 OR vouched_accounts >= 5
ORDER BY day;
