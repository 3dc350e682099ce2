-- The 20 most requested routes (the route template, or the scrubbed path
-- when there is none), with their share of all requests. Routes seen by
-- 1 to 4 accounts are withheld (k-anonymity, k = 5).
SELECT
    coalesce(route, path) AS route_key,
    count() AS requests,
    uniqExactIf(assumeNotNull(account), isNotNull(account)) AS distinct_accounts,
    round(100 * count() / (SELECT count() FROM privlog_records), 2) AS share_pct
FROM privlog_records
GROUP BY route_key
HAVING distinct_accounts = 0 OR distinct_accounts >= 5
ORDER BY requests DESC, route_key
LIMIT 20;
