-- The 20 most requested routes (the route template, or the scrubbed path
-- when there is none), with their share of all requests. Routes with
-- accounts but fewer than 5 vouched ones (account_src = 'app') within every
-- key period (kid, epoch) are withheld (k-anonymity, k = 5). vouched_accounts
-- is the largest count within one key period. distinct_accounts counts every
-- account pseudonym, claimed ones included.
WITH per_key_period AS (
    SELECT
        coalesce(route, path) AS route,
        count(*) AS requests,
        count(DISTINCT account) AS accounts,
        count(DISTINCT CASE WHEN account_src = 'app' THEN account END) AS vouched
    FROM privlog_records
    GROUP BY 1, kid, epoch
)
SELECT
    route,
    sum(requests) AS requests,
    sum(accounts) AS distinct_accounts,
    max(vouched) AS vouched_accounts,
    round(100.0 * sum(requests) / (SELECT count(*) FROM privlog_records), 2) AS share_pct
FROM per_key_period
GROUP BY route
HAVING sum(accounts) = 0 OR max(vouched) >= 5
ORDER BY requests DESC, route
LIMIT 20;
