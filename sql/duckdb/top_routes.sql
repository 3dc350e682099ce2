-- The 20 most requested routes (the route template, or the scrubbed path
-- when there is none), with their share of all requests. Routes with
-- accounts but fewer than 5 vouched ones (account_src = 'app') are withheld
-- (k-anonymity, k = 5).
SELECT
    coalesce(route, path) AS route,
    count(*) AS requests,
    count(DISTINCT account) AS distinct_accounts,
    count(DISTINCT CASE WHEN account_src = 'app' THEN account END) AS vouched_accounts,
    round(100.0 * count(*) / (SELECT count(*) FROM privlog_records), 2) AS share_pct
FROM privlog_records
GROUP BY 1
HAVING count(DISTINCT account) = 0
    OR count(DISTINCT CASE WHEN account_src = 'app' THEN account END) >= 5
ORDER BY requests DESC, route
LIMIT 20;
