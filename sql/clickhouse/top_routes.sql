-- The 20 most requested routes (the route template, or the scrubbed path
-- when there is none), with their share of all requests. Routes with
-- accounts but fewer than 5 vouched ones (account_src = 'app') within every
-- key period (kid, epoch) are withheld (k-anonymity, k = 5). vouched_accounts
-- is the largest count within one key period. distinct_accounts counts every
-- account pseudonym, claimed ones included.
SELECT
    route_key,
    sum(period_requests) AS requests,
    sum(period_accounts) AS distinct_accounts,
    max(period_vouched) AS vouched_accounts,
    round(100 * requests / (SELECT count() FROM privlog_records), 2) AS share_pct
FROM
(
    SELECT
        coalesce(route, path) AS route_key,
        count() AS period_requests,
        uniqExactIf(assumeNotNull(account), isNotNull(account)) AS period_accounts,
        uniqExactIf(assumeNotNull(account), isNotNull(account) AND ifNull(account_src, '') = 'app') AS period_vouched
    FROM privlog_records
    GROUP BY route_key, kid, epoch
)
GROUP BY route_key
HAVING distinct_accounts = 0 OR vouched_accounts >= 5
ORDER BY requests DESC, route_key
LIMIT 20;
