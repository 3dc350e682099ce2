-- The 20 most requested routes (the route template, or the scrubbed path
-- when there is none). Routes seen by 1 to 4 accounts are withheld.
SELECT
    coalesce(route, path) AS route,
    count(*) AS requests,
    count(DISTINCT account) AS distinct_accounts,
    round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS share_pct
FROM privlog_records
GROUP BY 1
HAVING count(DISTINCT account) = 0 OR count(DISTINCT account) >= 5
ORDER BY requests DESC, route
LIMIT 20;
