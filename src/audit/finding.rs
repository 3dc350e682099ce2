//! What the audit reports: the kinds of findings, one finding, and how each
//! kind is masked so a report never holds the value it found.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::policy::detect::{CUSTOMER_SITE_DOMAINS, is_customer_site};

/// A kind of personal data or secret the audit looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// A full IPv4 address, also with a port or IPv4-mapped in IPv6
    /// (networks such as `203.0.113.0/24`, loopback and `0.0.0.0` are not
    /// findings).
    Ipv4,
    /// A full IPv6 address (networks such as `2001:db8:1::/48`, `::1` are not).
    Ipv6,
    /// An e-mail address, plain or percent-encoded (`%40`).
    Email,
    /// A JSON Web Token (`eyJ….….…`).
    Jwt,
    /// An Atlassian account ID (`557058:<uuid>`, `<digits>:<id>`, 24 hex
    /// digits, also after `~`).
    AccountId,
    /// A credential: `Bearer`/`Basic` authorization values, `password=`-style
    /// query or form values, `user:password@` in URLs.
    Credential,
    /// A long random-looking token (API keys, session IDs, hashes).
    Token,
    /// A payment card number with a valid Luhn check digit.
    Card,
    /// An IBAN with valid check digits.
    Iban,
    /// A phone number.
    Phone,
    /// A national identity number (US SSN shape, `078-05-1120`).
    NationalId,
    /// A host name: a customer site (`acme.atlassian.net`) anywhere, or a
    /// host name with a well-known top-level domain in a URL path or query
    /// value.
    Host,
    /// A product user key (`JIRAUSER10100`).
    UserKey,
    /// A handle in a URL: `~jane.doe`, `@jdoe`.
    Handle,
    /// A person's name in a URL: a segment after `/u/`, `/user/`, `/users/`,
    /// `/people/`, `/profile/`, or the value of `username=`, `user=` (and
    /// `name=` on profile pages), that the path allowlist would not keep.
    Name,
    /// A match of the operator rule at this position (from 0) of the rules
    /// given with [`AuditRules`](super::AuditRules); reported as
    /// `rule:<name>`.
    Rule(u16),
}

impl Kind {
    /// Every built-in kind, in report order (operator rules come after).
    pub const ALL: [Kind; 15] = [
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::Email,
        Kind::Jwt,
        Kind::AccountId,
        Kind::Credential,
        Kind::Token,
        Kind::Card,
        Kind::Iban,
        Kind::Phone,
        Kind::NationalId,
        Kind::Host,
        Kind::UserKey,
        Kind::Handle,
        Kind::Name,
    ];

    /// The kind's name in reports (`ipv4`, `email`, `account_id` …); `rule`
    /// for every operator rule (the report names the rule:
    /// [`AuditReport::kind_name`](super::AuditReport::kind_name)).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::Email => "email",
            Kind::Jwt => "jwt",
            Kind::AccountId => "account_id",
            Kind::Credential => "credential",
            Kind::Token => "token",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::Phone => "phone",
            Kind::NationalId => "national_id",
            Kind::Host => "host",
            Kind::UserKey => "user_key",
            Kind::Handle => "handle",
            Kind::Name => "name",
            Kind::Rule(_) => "rule",
        }
    }

    /// A dense index: the built-in kinds first, then the rules.
    pub(crate) fn index(self) -> usize {
        match self {
            Kind::Rule(n) => Kind::ALL.len() + usize::from(n),
            k => Kind::ALL.iter().position(|x| *x == k).unwrap_or(0),
        }
    }

    /// The kind at a dense [`index`](Kind::index).
    pub(crate) fn from_index(i: usize) -> Option<Kind> {
        match Kind::ALL.get(i) {
            Some(k) => Some(*k),
            None => u16::try_from(i - Kind::ALL.len()).ok().map(Kind::Rule),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Rule(n) => write!(f, "rule:#{n}"),
            k => f.write_str(k.as_str()),
        }
    }
}

/// One finding: its kind and, built only when asked, its masked text.
pub struct Finding<'a> {
    kind: Kind,
    mask: &'a dyn Fn() -> String,
}

impl<'a> Finding<'a> {
    pub(super) fn new(kind: Kind, mask: &'a dyn Fn() -> String) -> Self {
        Finding { kind, mask }
    }

    /// What was found.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The finding masked for reports (`j***@e***.com`, `198.***.***.***`,
    /// `***1111`); never the full value.
    pub fn masked(&self) -> String {
        (self.mask)()
    }
}

impl fmt::Debug for Finding<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finding")
            .field("kind", &self.kind)
            .field("masked", &self.masked())
            .finish()
    }
}

/// The first character of `s` (lossy), or nothing.
fn first_char(s: &[u8]) -> String {
    String::from_utf8_lossy(s)
        .chars()
        .next()
        .map(String::from)
        .unwrap_or_default()
}

/// Masks a value of `kind`; `value` is the whole value the detector saw.
pub(super) fn mask(kind: Kind, value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    match kind {
        Kind::Ipv4 | Kind::Ipv6 => mask_ip(&text),
        Kind::Email => mask_email(value),
        Kind::Jwt => format!("eyJ*** ({} chars)", value.len()),
        Kind::AccountId => {
            let v = value.strip_prefix(b"~").unwrap_or(value);
            match v.iter().position(|b| *b == b':') {
                Some(c) => format!("{}:***", String::from_utf8_lossy(&v[..c])),
                None => format!("{}***", String::from_utf8_lossy(&v[..v.len().min(2)])),
            }
        }
        Kind::Token => format!(
            "{}*** ({} chars)",
            String::from_utf8_lossy(&value[..value.len().min(3)]),
            value.len()
        ),
        Kind::Card => {
            let digits: Vec<u8> = value.iter().copied().filter(u8::is_ascii_digit).collect();
            format!(
                "***{}",
                String::from_utf8_lossy(&digits[digits.len().saturating_sub(4)..])
            )
        }
        Kind::Iban => format!(
            "{}***",
            String::from_utf8_lossy(&value[..value.len().min(2)]).to_uppercase()
        ),
        Kind::Phone => {
            let digits: Vec<u8> = value.iter().copied().filter(u8::is_ascii_digit).collect();
            format!(
                "***{}",
                String::from_utf8_lossy(&digits[digits.len().saturating_sub(2)..])
            )
        }
        Kind::NationalId => "***-**-****".to_owned(),
        Kind::Host => mask_host(&text),
        Kind::UserKey => "JIRAUSER***".to_owned(),
        Kind::Handle => format!(
            "{}{}***",
            first_char(value),
            first_char(value.get(1..).unwrap_or_default())
        ),
        Kind::Name => text
            .split([' ', '/', '+'])
            .filter(|w| !w.is_empty())
            .map(|w| format!("{}***", first_char(w.as_bytes())))
            .collect::<Vec<_>>()
            .join(" "),
        Kind::Credential => "***".to_owned(),
        Kind::Rule(_) => format!("*** ({} chars)", text.chars().count()),
    }
}

/// `j***@e***.com`
fn mask_email(v: &[u8]) -> String {
    let at = v.iter().rposition(|b| *b == b'@').unwrap_or(0);
    let (local, domain) = (&v[..at], v.get(at + 1..).unwrap_or_default());
    let tld = domain.rsplit(|b| *b == b'.').next().unwrap_or_default();
    format!(
        "{}***@{}***.{}",
        first_char(local),
        first_char(domain),
        String::from_utf8_lossy(tld)
    )
}

/// `198.***.***.***`, `2001:***`; an IPv4-mapped address as IPv4.
fn mask_ip(text: &str) -> String {
    match parse_ip(text) {
        Some(IpAddr::V4(a)) => format!("{}.***.***.***", a.octets()[0]),
        Some(IpAddr::V6(a)) => format!("{:x}:***", a.segments()[0]),
        None => "***".to_owned(),
    }
}

/// An IP address with an optional port, brackets or zone; IPv4-mapped IPv6
/// addresses come back as IPv4.
pub(super) fn parse_ip(text: &str) -> Option<IpAddr> {
    let t = text
        .strip_prefix('[')
        .map_or(text, |r| r.split(']').next().unwrap_or(r));
    let t = t.split('%').next().unwrap_or(t);
    if let Ok(v6) = t.parse::<std::net::Ipv6Addr>() {
        return Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        });
    }
    let v4 = t.split(':').next().unwrap_or(t);
    v4.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// `***.atlassian.net` for a customer site, `***.com` for another host.
fn mask_host(text: &str) -> String {
    let host = match text.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => text,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if is_customer_site(host) {
        let lower = host.to_ascii_lowercase();
        if let Some(d) = CUSTOMER_SITE_DOMAINS.iter().find(|d| lower.ends_with(*d)) {
            return format!("***.{d}");
        }
    }
    format!("***.{}", host.rsplit('.').next().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_the_report_needs() {
        let cases = [
            (Kind::Card, "4111-1111-1111-1111", "***1111"),
            (Kind::Iban, "de89370400440532013000", "DE***"),
            (Kind::Phone, "+44 20 7946 0958", "***58"),
            (Kind::NationalId, "078-05-1120", "***-**-****"),
            (Kind::Host, "acme.atlassian.net", "***.atlassian.net"),
            (Kind::Host, "shop.example.com:8443", "***.com"),
            (Kind::UserKey, "JIRAUSER10100", "JIRAUSER***"),
            (Kind::Handle, "~jane.doe", "~j***"),
            (Kind::Name, "jane/doe", "j*** d***"),
            (Kind::Name, "Jane Doe", "J*** D***"),
            (Kind::Ipv4, "203.0.113.9:443", "203.***.***.***"),
            (Kind::Ipv4, "::ffff:203.0.113.9", "203.***.***.***"),
            (Kind::Ipv6, "[2001:db8::1]:443", "2001:***"),
            (Kind::AccountId, "~557058:0c7b7d4e", "557058:***"),
            (Kind::Rule(0), "E1234567", "*** (8 chars)"),
        ];
        for (kind, value, masked) in cases {
            assert_eq!(mask(kind, value.as_bytes()), masked, "{kind} {value}");
        }
    }

    #[test]
    fn dense_indexes_round_trip() {
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
            assert_eq!(Kind::from_index(i), Some(*k));
        }
        assert_eq!(Kind::Rule(3).index(), Kind::ALL.len() + 3);
        assert_eq!(Kind::from_index(Kind::ALL.len() + 3), Some(Kind::Rule(3)));
    }
}
