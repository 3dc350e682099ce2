//! The policy compiled: checked once, and laid out as the request path and
//! the worker read it.
//!
//! [`Policy`] is plain data that callers build and change freely;
//! [`Policy::compile`] checks every setting once and returns a
//! [`CompiledPolicy`]: the [`CaptureConfig`] the request path copies by, and
//! the rules the sanitizer applies, among them where account and tenant IDs
//! come from as ordered data ([`Precedence`]).

use std::ops::Range;

use http::HeaderName;

use super::defaults::{MAX_IPV4_PREFIX, MAX_IPV6_PREFIX};
use super::{CompiledRules, IpPolicy, PathPolicy, Policy, PolicyError, QueryPolicy, Rotation, TrustedProxies};

/// How many values of one header kind the request path keeps (forwarding
/// headers may repeat; account headers are configured by name).
pub(crate) const MAX_CAPTURED: usize = 4;

/// Which request parts the request path keeps for the worker.
#[derive(Debug, Clone, Default)]
pub(crate) struct CaptureConfig {
    /// Keep `Authorization` (Connect JWT source on).
    pub(crate) authorization: bool,
    /// Account headers, then tenant headers.
    pub(crate) id_headers: Vec<HeaderName>,
    /// Keep `Forwarded` / `X-Forwarded-For` (trusted proxies configured).
    pub(crate) forwarding: bool,
}

/// A place an account or tenant ID is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// What the application told the layer ([`AccountId`](crate::AccountId),
    /// [`TenantId`](crate::TenantId)).
    App,
    /// The Connect JWT: `sub` for the account, `iss` for the tenant.
    Jwt,
    /// The configured headers, the first one with a value.
    Header,
    /// The configured query parameters, the first one with a value.
    Query,
    /// An account ID found in the path (accounts only).
    Path,
}

/// Where the account comes from, first to last. The first source that holds
/// a value decides, even when that value is too long to be an ID (the
/// record then has no account, and no later source is asked).
pub(crate) const ACCOUNT_PRECEDENCE: [Source; 5] =
    [Source::App, Source::Jwt, Source::Header, Source::Query, Source::Path];

/// Where the tenant comes from, first to last, as [`ACCOUNT_PRECEDENCE`].
pub(crate) const TENANT_PRECEDENCE: [Source; 4] = [Source::App, Source::Jwt, Source::Header, Source::Query];

/// The sources a policy reads, in the order of precedence: a fixed array,
/// so walking it costs no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Precedence {
    sources: [Source; 5],
    len: usize,
}

impl Precedence {
    /// The sources of `order` that `reads` keeps, in `order`'s order.
    fn of(order: &[Source], reads: impl Fn(Source) -> bool) -> Self {
        let mut p = Precedence {
            sources: [Source::App; 5],
            len: 0,
        };
        for &s in order.iter().filter(|&&s| reads(s)) {
            if let Some(slot) = p.sources.get_mut(p.len) {
                *slot = s;
                p.len += 1;
            }
        }
        p
    }

    /// The sources, first to last.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Source> + '_ {
        self.sources.iter().take(self.len).copied()
    }

    /// Whether `source` is read at all.
    pub(crate) fn reads(&self, source: Source) -> bool {
        self.iter().any(|s| s == source)
    }
}

/// A [`Policy`] checked and laid out for use: what the request path copies
/// and what the sanitizer applies. Made only by [`Policy::compile`].
#[derive(Clone, Debug)]
pub(crate) struct CompiledPolicy {
    /// What the request path copies.
    pub(crate) capture: CaptureConfig,
    /// The client IP policy.
    pub(crate) ip: IpPolicy,
    /// The proxies whose forwarding headers are believed.
    pub(crate) trusted: TrustedProxies,
    /// The query allowlist.
    pub(crate) query: QueryPolicy,
    /// The pseudonym rotation.
    pub(crate) rotation: Rotation,
    /// Where the account comes from, first to last.
    pub(crate) account: Precedence,
    /// Where the tenant comes from, first to last.
    pub(crate) tenant: Precedence,
    /// The captured header values (indices into the captured spans) that
    /// hold the account.
    pub(crate) account_headers: Range<usize>,
    /// The captured header values that hold the tenant.
    pub(crate) tenant_headers: Range<usize>,
    /// Query parameters holding the account, first to last.
    pub(crate) account_query: Vec<String>,
    /// Query parameters holding the tenant, first to last.
    pub(crate) tenant_query: Vec<String>,
    /// How a path without a route template is written.
    pub(crate) path: PathPolicy,
    /// The operator rules (one `RegexSet`) and safe words, compiled once.
    pub(crate) rules: CompiledRules,
}

impl IpPolicy {
    /// Checks the truncation prefixes: no longer than an address.
    ///
    /// # Errors
    /// [`PolicyError::Ipv4Prefix`] or [`PolicyError::Ipv6Prefix`].
    pub(crate) fn check(&self) -> Result<(), PolicyError> {
        if let IpPolicy::Truncate { v4_prefix, v6_prefix } = *self {
            if v4_prefix > MAX_IPV4_PREFIX {
                return Err(PolicyError::Ipv4Prefix(v4_prefix));
            }
            if v6_prefix > MAX_IPV6_PREFIX {
                return Err(PolicyError::Ipv6Prefix(v6_prefix));
            }
        }
        Ok(())
    }
}

impl Policy {
    /// Checks every setting and lays the policy out as the request path and
    /// the worker use it. The one place a policy is validated: the builder,
    /// configuration files and `privlog check` all come here.
    ///
    /// # Errors
    /// [`PolicyError`] naming the setting and the fix.
    pub(crate) fn compile(&self) -> Result<CompiledPolicy, PolicyError> {
        let s = &self.sources;
        let (n_account, n_tenant) = (s.account_headers.len(), s.tenant_headers.len());
        if n_account + n_tenant > MAX_CAPTURED {
            return Err(PolicyError::TooManyHeaders(n_account + n_tenant));
        }
        self.ip.check()?;
        let rules = self.rules.compile().map_err(|e| PolicyError::rules(&self.rules, e))?;
        let reads = |headers: usize, query: usize| {
            move |source| match source {
                Source::App => true,
                Source::Jwt => s.connect_jwt,
                Source::Header => headers > 0,
                Source::Query => query > 0,
                Source::Path => s.path_account_ids,
            }
        };
        Ok(CompiledPolicy {
            capture: CaptureConfig {
                authorization: s.connect_jwt,
                id_headers: s.account_headers.iter().chain(&s.tenant_headers).cloned().collect(),
                forwarding: !self.trusted.is_empty(),
            },
            ip: self.ip,
            trusted: self.trusted.clone(),
            query: self.query.clone(),
            rotation: self.rotation,
            account: Precedence::of(&ACCOUNT_PRECEDENCE, reads(n_account, s.account_query.len())),
            tenant: Precedence::of(&TENANT_PRECEDENCE, reads(n_tenant, s.tenant_query.len())),
            account_headers: 0..n_account,
            tenant_headers: n_account..n_account + n_tenant,
            account_query: s.account_query.clone(),
            tenant_query: s.tenant_query.clone(),
            path: self.path,
            rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_keeps_only_the_sources_the_policy_reads() {
        let p = Policy::new().path_account_ids(false).compile().expect("valid");
        assert_eq!(p.account.iter().collect::<Vec<_>>(), [Source::App]);
        assert_eq!(p.tenant.iter().collect::<Vec<_>>(), [Source::App]);
        let p = Policy::atlassian_connect()
            .account_header(HeaderName::from_static("x-account"))
            .tenant_query_param("site")
            .compile()
            .expect("valid");
        assert_eq!(
            p.account.iter().collect::<Vec<_>>(),
            [Source::App, Source::Jwt, Source::Header, Source::Path]
        );
        assert_eq!(
            p.tenant.iter().collect::<Vec<_>>(),
            [Source::App, Source::Jwt, Source::Query]
        );
        assert_eq!((p.account_headers, p.tenant_headers), (0..1, 1..1));
    }

    #[test]
    fn the_capture_copies_what_the_sources_read() {
        let p = Policy::new()
            .account_header(HeaderName::from_static("x-account"))
            .tenant_header(HeaderName::from_static("x-site"))
            .compile()
            .expect("valid");
        assert!(!p.capture.authorization && !p.capture.forwarding);
        assert_eq!(p.capture.id_headers, ["x-account", "x-site"]);
        let p = Policy::atlassian_connect()
            .trusted_proxies(TrustedProxies::parse(["10.0.0.0/8"]).expect("cidr"))
            .compile()
            .expect("valid");
        assert!(p.capture.authorization && p.capture.forwarding);
    }

    #[test]
    fn settings_that_cannot_work_are_refused_naming_the_setting() {
        let too_many = (0..=MAX_CAPTURED).fold(Policy::new(), |p, i| {
            p.tenant_header(HeaderName::try_from(format!("x-t{i}")).expect("name"))
        });
        let e = too_many.compile().expect_err("refused");
        assert_eq!((e.setting(), e), ("account_headers", PolicyError::TooManyHeaders(5)));
        for (ip, setting) in [
            (
                IpPolicy::Truncate {
                    v4_prefix: 33,
                    v6_prefix: 48,
                },
                "ipv4_prefix",
            ),
            (
                IpPolicy::Truncate {
                    v4_prefix: 24,
                    v6_prefix: 129,
                },
                "ipv6_prefix",
            ),
        ] {
            let e = Policy::new().ip(ip).compile().expect_err("refused");
            assert_eq!(e.setting(), setting, "{e}");
        }
        let edge = IpPolicy::Truncate {
            v4_prefix: MAX_IPV4_PREFIX,
            v6_prefix: MAX_IPV6_PREFIX,
        };
        assert!(Policy::new().ip(edge).compile().is_ok());
    }

    #[test]
    fn the_rules_are_compiled_once_with_the_policy() {
        use crate::policy::{PathPolicy, Rule};
        let p = Policy::atlassian_connect()
            .rule(Rule::new("employee-id", r"^E[0-9]{6}$", "{employee}"))
            .safe_words(["widgets", "Gallery"])
            .compile()
            .expect("valid");
        assert_eq!(p.path, PathPolicy::Allowlist);
        assert_eq!(p.rules.rule_count(), 1);
        assert_eq!(p.rules.placeholder_for("E123456"), Some("{employee}"));
        assert!(p.rules.is_safe_word("gallery"));
        assert_eq!(Policy::new().compile().expect("valid").path, PathPolicy::Allowlist);
    }

    #[test]
    fn a_bad_rule_is_refused_naming_the_rule_and_the_fix() {
        use crate::policy::Rule;
        let p = Policy::new()
            .rule(Rule::new("a", "^a$", "{a}"))
            .rule(Rule::new("b", "^b$", "{b}"))
            .rule(Rule::new("employee-id", "E[0-9", "{employee}"));
        let e = p.compile().expect_err("refused");
        assert_eq!((e.setting(), e.field().as_str()), ("rules", "rules[2] (employee-id)"));
        assert!(e.to_string().contains("fix the regular expression"), "{e}");
        let e = Policy::new()
            .rule(Rule::new("x", "x", "X"))
            .compile()
            .expect_err("refused");
        assert_eq!(e.field(), "rules[0] (x)");
        let e = Policy::new()
            .safe_words(["fine", "jane@example.com"])
            .compile()
            .expect_err("refused");
        assert_eq!((e.setting(), e.field().as_str()), ("safe_words", "safe_words[1]"));
        assert!(!e.to_string().contains("jane@"), "{e}");
        let e = Policy::new()
            .rule(Rule::new("d", "^d$", "{d}"))
            .rule(Rule::new("d", "^e$", "{e}"))
            .compile()
            .expect_err("refused");
        assert_eq!(e.field(), "rules[1] (d)");
    }
}
