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
SELECT
    day,
    sum(period_requests) AS requests,
    max(period_vouched) AS active_accounts,
    sum(period_accounts) AS distinct_accounts,
    sum(period_tenants) AS active_tenants
FROM
(
    SELECT
        toDate(ts) AS day,
        count() AS period_requests,
        uniqExactIf(assumeNotNull(account), isNotNull(account)) AS period_accounts,
        uniqExactIf(assumeNotNull(account), isNotNull(account) AND ifNull(account_src, '') = 'app') AS period_vouched,
        uniqExactIf(assumeNotNull(tenant), isNotNull(tenant)) AS period_tenants
    FROM privlog_records
    GROUP BY day, kid, epoch
)
GROUP BY day
HAVING distinct_accounts = 0 OR active_accounts >= 5
ORDER BY day;
