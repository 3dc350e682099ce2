-- The 20 most requested routes (the route template, or the scrubbed path
-- when there is none), with their share of all requests. Routes seen by
-- 1 to 4 accounts are withheld (k-anonymity, k = 5).
SELECT
    coalesce(route, path) AS route,
    count(*) AS requests,
    count(DISTINCT account) AS distinct_accounts,
    round(100.0 * count(*) / (SELECT count(*) FROM privlog_records), 2) AS share_pct
FROM privlog_records
GROUP BY 1
HAVING count(DISTINCT account) = 0 OR count(DISTINCT account) >= 5
ORDER BY requests DESC, route
LIMIT 20;
