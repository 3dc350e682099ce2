-- The 20 most requested routes (the route template, or the scrubbed path
-- when there is none), with their share of all requests. Routes with
-- accounts but fewer than 5 vouched ones (account_src = 'app') are withheld
-- (k-anonymity, k = 5).
SELECT
    coalesce(route, path) AS route_key,
    count() AS requests,
    uniqExactIf(assumeNotNull(account), isNotNull(account)) AS distinct_accounts,
    uniqExactIf(assumeNotNull(account), isNotNull(account) AND ifNull(account_src, '') = 'app') AS vouched_accounts,
    round(100 * count() / (SELECT count() FROM privlog_records), 2) AS share_pct
FROM privlog_records
GROUP BY route_key
HAVING distinct_accounts = 0 OR vouched_accounts >= 5
ORDER BY requests DESC, route_key
LIMIT 20;
