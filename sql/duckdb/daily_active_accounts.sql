-- Daily active accounts: per UTC day, the accounts the application vouched
-- for (account_src = 'app'), counted within one key period (kid, epoch): a
-- person's pseudonym changes with the key and its epoch, so accounts of two
-- key periods are never added up, and a day over several key periods shows
-- its busiest one. Days with accounts but fewer than 5 vouched ones in every
-- key period are withheld (k-anonymity, k = 5): accounts a request only
-- claims (a JWT read without verification, a header, a query parameter, a
-- path) never count toward k. distinct_accounts counts every account
-- pseudonym, claimed ones included: anyone can inflate it, so publish
-- active_accounts.
WITH per_key_period AS (
    SELECT
        CAST(ts AS DATE) AS day,
        count(*) AS requests,
        count(DISTINCT account) AS accounts,
        count(DISTINCT CASE WHEN account_src = 'app' THEN account END) AS vouched,
        count(DISTINCT tenant) AS tenants
    FROM privlog_records
    GROUP BY day, kid, epoch
)
SELECT
    day,
    sum(requests) AS requests,
    max(vouched) AS active_accounts,
    sum(accounts) AS distinct_accounts,
    sum(tenants) AS active_tenants
FROM per_key_period
GROUP BY day
HAVING sum(accounts) = 0 OR max(vouched) >= 5
ORDER BY day;
