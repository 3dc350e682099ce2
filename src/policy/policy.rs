use std::fmt;

use http::HeaderName;

use super::compiled::MAX_CAPTURED;
use super::{IpPolicy, PathPolicy, QueryPolicy, Rotation, Rule, RuleError, RuleSet, TrustedProxies, defaults};

/// Where account and tenant IDs come from, besides what the application tells
/// the layer itself (see [`AccountId`](crate::AccountId)), which always wins.
///
/// Order of precedence for the account: the application, the Connect JWT
/// `sub`, configured headers, configured query parameters, an account ID found
/// in the path. For the tenant: the application, the JWT `iss`, configured
/// headers, configured query parameters. The first source that holds a value
/// decides, even one too long to be an ID (the record then has no account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountSources {
    /// Read `sub`/`iss` from `Authorization: JWT …` and `?jwt=`.
    pub connect_jwt: bool,
    /// Headers whose value is the account ID.
    pub account_headers: Vec<HeaderName>,
    /// Headers whose value is the tenant ID.
    pub tenant_headers: Vec<HeaderName>,
    /// Query parameters whose value is the account ID.
    pub account_query: Vec<String>,
    /// Query parameters whose value is the tenant ID.
    pub tenant_query: Vec<String>,
    /// Use an account ID found in the path when nothing better is known.
    pub path_account_ids: bool,
}

impl Default for AccountSources {
    fn default() -> Self {
        AccountSources {
            connect_jwt: false,
            account_headers: Vec::new(),
            tenant_headers: Vec::new(),
            account_query: Vec::new(),
            tenant_query: Vec::new(),
            path_account_ids: defaults::PATH_ACCOUNT_IDS,
        }
    }
}

/// The privacy policy applied to every record.
///
/// The default is the secure baseline: IPs truncated to /24 and /48,
/// forwarding headers ignored, every query parameter dropped, no headers
/// logged, pseudonyms rotated monthly, account IDs only from the application
/// and from paths, and paths without a route template written through the
/// path allowlist ([`PathPolicy::Allowlist`]). [`Policy::atlassian_connect`]
/// adds what a Connect add-on needs.
///
/// ```
/// use privlog::{IpPolicy, Policy, Rotation, TrustedProxies};
/// let policy = Policy::atlassian_connect()
///     .rotation(Rotation::Daily)
///     .ip(IpPolicy::Pseudonymize)
///     .trusted_proxies(TrustedProxies::parse(["10.0.0.0/8"])?);
/// # Ok::<(), privlog::CidrError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub(crate) ip: IpPolicy,
    pub(crate) trusted: TrustedProxies,
    pub(crate) query: QueryPolicy,
    pub(crate) rotation: Rotation,
    pub(crate) sources: AccountSources,
    pub(crate) path: PathPolicy,
    /// Operator rules and safe words, compiled by [`Policy::compile`].
    pub(crate) rules: RuleSet,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ip: IpPolicy::default(),
            trusted: TrustedProxies::default(),
            query: QueryPolicy::default(),
            rotation: Rotation::default(),
            sources: AccountSources::default(),
            path: defaults::PATH_POLICY,
            rules: RuleSet::default(),
        }
    }
}

/// Query keys the Atlassian Connect preset never logs: the JWT, the customer's
/// site URL and context parameters that identify people.
pub const CONNECT_DENIED_QUERY: [&str; 6] = ["jwt", "xdm_e", "xdm_c", "cp", "user_id", "user_key"];

impl Policy {
    /// The secure baseline (same as `Default`).
    pub fn new() -> Self {
        Self::default()
    }

    /// The Atlassian Connect preset: accounts and tenants from Connect JWTs
    /// (`Authorization: JWT …` or `?jwt=`), `lic` and `cv` kept from the query,
    /// and `jwt`, `xdm_e`, `xdm_c`, `cp`, `user_id`, `user_key` never logged.
    pub fn atlassian_connect() -> Self {
        let mut p = Self::default();
        p.sources.connect_jwt = true;
        p.query = QueryPolicy::drop_all().allow(["lic", "cv"]).deny(CONNECT_DENIED_QUERY);
        p
    }

    /// Sets the IP policy. Defaults to truncating to
    /// [`IPV4_PREFIX`](defaults::IPV4_PREFIX) and [`IPV6_PREFIX`](defaults::IPV6_PREFIX).
    pub fn ip(mut self, ip: IpPolicy) -> Self {
        self.ip = ip;
        self
    }

    /// Sets the trusted reverse proxies. Defaults to none.
    pub fn trusted_proxies(mut self, trusted: TrustedProxies) -> Self {
        self.trusted = trusted;
        self
    }

    /// Sets the query policy. Defaults to dropping every parameter.
    pub fn query(mut self, query: QueryPolicy) -> Self {
        self.query = query;
        self
    }

    /// Sets the pseudonym rotation. Defaults to [`ROTATION`](defaults::ROTATION).
    pub fn rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// Reads accounts and tenants from Connect JWTs. Defaults to off (on in the Connect preset).
    pub fn connect_jwt(mut self, on: bool) -> Self {
        self.sources.connect_jwt = on;
        self
    }

    /// Reads the account ID from this header. None by default.
    pub fn account_header(mut self, name: HeaderName) -> Self {
        self.sources.account_headers.push(name);
        self
    }

    /// Reads the tenant ID from this header. None by default.
    pub fn tenant_header(mut self, name: HeaderName) -> Self {
        self.sources.tenant_headers.push(name);
        self
    }

    /// Reads the account ID from this query parameter (it is never logged). None by default.
    pub fn account_query_param(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.query = self.query.deny([key.clone()]);
        self.sources.account_query.push(key);
        self
    }

    /// Reads the tenant ID from this query parameter (it is never logged). None by default.
    pub fn tenant_query_param(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.query = self.query.deny([key.clone()]);
        self.sources.tenant_query.push(key);
        self
    }

    /// Uses account IDs found in paths. Defaults to
    /// [`PATH_ACCOUNT_IDS`](defaults::PATH_ACCOUNT_IDS).
    pub fn path_account_ids(mut self, on: bool) -> Self {
        self.sources.path_account_ids = on;
        self
    }

    /// Sets how a path without a route template (404s, fallbacks, static
    /// handlers) is written. Defaults to
    /// [`PATH_POLICY`](defaults::PATH_POLICY), the allowlist.
    pub fn path_policy(mut self, path: PathPolicy) -> Self {
        self.path = path;
        self
    }

    /// Adds an operator rule: a path segment or allowlisted query value its
    /// pattern matches becomes its placeholder. Rules are tried in the order
    /// added, after the built-in detectors; checked when the policy is
    /// compiled. None by default.
    ///
    /// ```
    /// use privlog::policy::Rule;
    /// let policy = privlog::Policy::new().rule(Rule::new("employee id", r"^E[0-9]{6}$", "{employee}"));
    /// assert!(policy.validate().is_ok());
    /// ```
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.rules.push(rule);
        self
    }

    /// Adds path words that the allowlist keeps as they are (letters,
    /// digits, `.`, `-`, `_`; ASCII case ignored). None by default: the
    /// built-in vocabulary and the literal segments of the application's
    /// route templates are kept without them.
    pub fn safe_words<I, S>(mut self, words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rules.safe_words.extend(words.into_iter().map(Into::into));
        self
    }

    /// The path policy, as set by [`Policy::path_policy`].
    pub fn get_path_policy(&self) -> PathPolicy {
        self.path
    }

    /// The operator rules, as added by [`Policy::rule`].
    pub fn get_rules(&self) -> &[Rule] {
        &self.rules.rules
    }

    /// The operator safe words, as added by [`Policy::safe_words`].
    pub fn get_safe_words(&self) -> &[String] {
        &self.rules.safe_words
    }

    /// The IP policy, as set by [`Policy::ip`].
    pub fn get_ip(&self) -> IpPolicy {
        self.ip
    }

    /// The trusted proxies, as set by [`Policy::trusted_proxies`].
    pub fn get_trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// The query policy, as set by [`Policy::query`].
    pub fn get_query(&self) -> &QueryPolicy {
        &self.query
    }

    /// The pseudonym rotation, as set by [`Policy::rotation`].
    pub fn get_rotation(&self) -> Rotation {
        self.rotation
    }

    /// Where account and tenant IDs come from, as set by
    /// [`Policy::connect_jwt`], [`Policy::account_header`] and the other
    /// source setters.
    pub fn get_account_sources(&self) -> &AccountSources {
        &self.sources
    }

    /// Checks the policy for settings that cannot work: the same check the
    /// builder and configuration files run.
    ///
    /// # Errors
    /// [`PolicyError`] naming the setting and the fix.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.compile().map(drop)
    }

    /// A human-readable summary of the effective policy (never contains a key).
    pub fn describe(&self) -> String {
        let ip = match self.ip {
            IpPolicy::Truncate { v4_prefix, v6_prefix } => {
                format!("truncate to /{v4_prefix} (IPv4) and /{v6_prefix} (IPv6)")
            }
            IpPolicy::Pseudonymize => "pseudonymize (keyed, per epoch)".to_owned(),
            IpPolicy::Drop => "drop".to_owned(),
            IpPolicy::Keep => "keep full address".to_owned(),
        };
        let trusted = if self.trusted.is_empty() {
            "none (forwarding headers ignored)".to_owned()
        } else {
            self.trusted
                .networks()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let list = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
        let hdrs = |v: &[HeaderName]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.iter().map(HeaderName::as_str).collect::<Vec<_>>().join(", ")
            }
        };
        let path = match self.path {
            PathPolicy::Allowlist => "allowlist (known-safe words kept, everything else a placeholder)",
            PathPolicy::TemplateOnly => "template-only (every segment a placeholder)",
            PathPolicy::Scrub => "scrub (denylist: words that do not look personal are kept)",
        };
        let rules = if self.rules.rules.is_empty() {
            "none".to_owned()
        } else {
            self.rules
                .rules
                .iter()
                .map(|r| format!("{} -> {}", r.name, r.placeholder))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "client ip:        {ip}\n\
             trusted proxies:  {trusted}\n\
             path policy:      {path}\n\
             path rules:       {rules}\n\
             safe words:       {}\n\
             query kept:       {}\n\
             query never kept: {}\n\
             headers logged:   none\n\
             bodies read:      never\n\
             rotation:         {}\n\
             account sources:  application{}{}{}{}\n\
             tenant sources:   application{}{}{}\n",
            self.rules.safe_words.len(),
            list(self.query.allowed()),
            list(self.query.denied()),
            self.rotation.as_str(),
            if self.sources.connect_jwt {
                ", connect jwt sub"
            } else {
                ""
            },
            if self.sources.account_headers.is_empty() {
                String::new()
            } else {
                format!(", headers [{}]", hdrs(&self.sources.account_headers))
            },
            if self.sources.account_query.is_empty() {
                String::new()
            } else {
                format!(", query [{}]", list(&self.sources.account_query))
            },
            if self.sources.path_account_ids {
                ", ids in paths"
            } else {
                ""
            },
            if self.sources.connect_jwt {
                ", connect jwt iss"
            } else {
                ""
            },
            if self.sources.tenant_headers.is_empty() {
                String::new()
            } else {
                format!(", headers [{}]", hdrs(&self.sources.tenant_headers))
            },
            if self.sources.tenant_query.is_empty() {
                String::new()
            } else {
                format!(", query [{}]", list(&self.sources.tenant_query))
            },
        )
    }
}

/// A policy setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// More account and tenant headers than the request path captures.
    TooManyHeaders(usize),
    /// An IPv4 truncation prefix longer than an address (the prefix given).
    Ipv4Prefix(u8),
    /// An IPv6 truncation prefix longer than an address (the prefix given).
    Ipv6Prefix(u8),
    /// An operator rule or safe word that does not compile.
    Rules {
        /// Where in the policy: `rules[2] (employee-id)`, `safe_words[0]`,
        /// `rules` or `safe_words` (0-based positions, as in the list given).
        at: String,
        /// What is wrong and how to fix it.
        error: RuleError,
    },
}

impl PolicyError {
    /// A rule error located in the rule set it came from.
    pub(crate) fn rules(set: &RuleSet, error: RuleError) -> Self {
        let named = |name: &str| {
            set.rules
                .iter()
                .position(|r| r.name == name)
                .map_or_else(|| "rules".to_owned(), |i| format!("rules[{i}] ({name})"))
        };
        let at = match &error {
            RuleError::EmptyName { position } | RuleError::BadName { position } => {
                format!("rules[{}]", position.saturating_sub(1))
            }
            RuleError::DuplicateName { name } => {
                // The second rule of that name is the one at fault.
                match set.rules.iter().enumerate().filter(|(_, r)| r.name == *name).nth(1) {
                    Some((i, _)) => format!("rules[{i}] ({name})"),
                    None => "rules".to_owned(),
                }
            }
            RuleError::BadPattern { name, .. }
            | RuleError::MatchesEmpty { name }
            | RuleError::BadPlaceholder { name, .. } => named(name),
            RuleError::BadSafeWord { position, .. } | RuleError::DetectedSafeWord { position, .. } => {
                format!("safe_words[{}]", position.saturating_sub(1))
            }
            RuleError::TooManySafeWords { .. } => "safe_words".to_owned(),
            _ => "rules".to_owned(),
        };
        PolicyError::Rules { at, error }
    }

    /// Where the error is, as the `[policy]` table of a configuration file
    /// names it: [`PolicyError::setting`], or for a rule its place in the
    /// list and its name (`rules[2] (employee-id)`).
    pub fn field(&self) -> String {
        match self {
            PolicyError::Rules { at, .. } => at.clone(),
            other => other.setting().to_owned(),
        }
    }
}

impl PolicyError {
    /// The policy setting at fault, as the `[policy]` table of a
    /// configuration file names it (`ipv4_prefix`, `account_headers`, …).
    pub fn setting(&self) -> &'static str {
        match self {
            PolicyError::TooManyHeaders(_) => "account_headers",
            PolicyError::Ipv4Prefix(_) => "ipv4_prefix",
            PolicyError::Ipv6Prefix(_) => "ipv6_prefix",
            PolicyError::Rules { at, .. } if at.starts_with("safe_words") => "safe_words",
            PolicyError::Rules { .. } => "rules",
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::TooManyHeaders(n) => write!(
                f,
                "{n} account/tenant headers configured; at most {MAX_CAPTURED} are supported, remove some"
            ),
            PolicyError::Ipv4Prefix(v4) => write!(
                f,
                "ipv4 prefix {v4} is out of range; use 0-{} (default {})",
                defaults::MAX_IPV4_PREFIX,
                defaults::IPV4_PREFIX
            ),
            PolicyError::Ipv6Prefix(v6) => write!(
                f,
                "ipv6 prefix {v6} is out of range; use 0-{} (default {})",
                defaults::MAX_IPV6_PREFIX,
                defaults::IPV6_PREFIX
            ),
            PolicyError::Rules { error, .. } => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for PolicyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PolicyError::Rules { error, .. } => Some(error),
            _ => None,
        }
    }
}
