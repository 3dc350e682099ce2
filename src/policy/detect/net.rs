//! Network addresses: IPv4 and IPv6 addresses (with or without a port,
//! IPv4-mapped) and host names.

use std::net::{Ipv4Addr, Ipv6Addr};

/// An IP address: IPv4 (`203.0.113.9`, `10.1.2.3:8080`), IPv6
/// (`2001:db8::1`, `fe80::1%eth0`, `[2001:db8::1]:443`), IPv4-mapped IPv6
/// (`::ffff:203.0.113.9`). Loopback and unspecified addresses count too.
pub fn is_ip(s: &str) -> bool {
    if s.len() < 2 || s.len() > 64 {
        return false;
    }
    if let Some(rest) = s.strip_prefix('[') {
        // `[v6]` or `[v6]:port`
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return port_ok && is_ipv6(addr);
    }
    if is_ipv6(s) {
        return true;
    }
    // `v4` or `v4:port`
    let (addr, port_ok) = match s.split_once(':') {
        Some((addr, port)) => (addr, is_port(port)),
        None => (s, true),
    };
    port_ok
        && addr.len() >= 7
        && addr.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && addr.parse::<Ipv4Addr>().is_ok()
}

/// IPv6 text, with an optional `%zone`.
fn is_ipv6(s: &str) -> bool {
    let addr = s.split_once('%').map_or(s, |(a, _)| a);
    addr.len() >= 2
        && addr.contains(':')
        && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        && addr.parse::<Ipv6Addr>().is_ok()
}

/// 1 to 5 digits, at most 65535.
fn is_port(s: &str) -> bool {
    (1..=5).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u16>().is_ok()
}

/// Domains whose sub-domains are customer sites: always host names.
pub const CUSTOMER_SITE_DOMAINS: [&str; 3] = ["atlassian.com", "atlassian.net", "jira.com"];

/// Top-level domains recognised in a name with a single dot, sorted. Those
/// that are also common file extensions (`ai`, `md`, `py`, `rs`, `sh`,
/// `zip` …) are left out, so `readme.md` is not a host; with two dots or
/// more any alphabetic top-level domain that is not a file extension counts.
pub(super) const TLDS: [&str; 72] = [
    "app", "at", "au", "be", "biz", "br", "ca", "cloud", "cn", "co", "com", "cz", "de", "dev", "dk", "edu", "es", "eu",
    "fi", "fr", "gov", "gr", "hk", "hu", "ie", "il", "info", "int", "io", "ir", "it", "jp", "kr", "lt", "lu", "lv",
    "me", "mil", "mx", "my", "net", "news", "nl", "no", "nz", "online", "org", "ph", "pk", "pro", "pt", "ro", "ru",
    "se", "sg", "shop", "si", "site", "sk", "store", "tech", "th", "tr", "tv", "tw", "ua", "uk", "us", "vn", "website",
    "xyz", "za",
];

/// The longest host name (RFC 1035).
const MAX_HOST_LEN: usize = 253;

/// A host name: two or more labels of letters, digits and inner `-` (1 to 63
/// bytes each), the last alphabetic (or `xn--…`), any case, optionally with
/// `:port` or a trailing dot; with a known top-level domain, or two dots or
/// more and a last label that is not a file extension (`app.min.js` is a
/// file). Sub-domains of [`CUSTOMER_SITE_DOMAINS`] (`acme.atlassian.net`)
/// always are.
pub fn is_host(s: &str) -> bool {
    let s = match s.rsplit_once(':') {
        Some((host, port)) if is_port(port) => host,
        Some(_) => return false,
        None => s,
    };
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.len() < 4 || s.len() > MAX_HOST_LEN {
        return false;
    }
    let mut labels = 0usize;
    for label in s.split('.') {
        let b = label.as_bytes();
        let ok = (1..=63).contains(&b.len())
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b.first() != Some(&b'-')
            && b.last() != Some(&b'-');
        if !ok {
            return false;
        }
        labels += 1;
    }
    let tld = s.rsplit('.').next().unwrap_or("");
    let tld_ok = tld.len() >= 2 && (tld.bytes().all(|c| c.is_ascii_alphabetic()) || starts_with_ci(tld, "xn--"));
    if labels < 2 || !tld_ok {
        return false;
    }
    if is_customer_site(s) {
        return true;
    }
    let known = TLDS.binary_search_by(|t| super::vocabulary::cmp_ci(t, tld)).is_ok();
    known || (labels >= 3 && !super::vocabulary::is_file_extension(tld))
}

/// Whether the last label of `host` (after an optional `:port` and trailing
/// dot are removed) is one of the well-known top-level domains [`is_host`]
/// accepts after a single dot (`com`, `net`, `de` …), in any ASCII case.
/// Names whose last label is only "not a file extension" (`backup.tar.gz`,
/// `q3.report.xlsx`) are not.
pub fn has_known_tld(host: &str) -> bool {
    let host = match host.rsplit_once(':') {
        Some((h, port)) if is_port(port) => h,
        _ => host,
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    match host.rsplit_once('.') {
        Some((_, tld)) => TLDS.binary_search_by(|t| super::vocabulary::cmp_ci(t, tld)).is_ok(),
        None => false,
    }
}

/// Whether `host` (without port) is a sub-domain of one of
/// [`CUSTOMER_SITE_DOMAINS`], in any ASCII case.
pub fn is_customer_site(host: &str) -> bool {
    CUSTOMER_SITE_DOMAINS.iter().any(|d| {
        host.len() > d.len() + 1
            && host.as_bytes().get(host.len() - d.len() - 1) == Some(&b'.')
            && host
                .get(host.len() - d.len()..)
                .is_some_and(|end| end.eq_ignore_ascii_case(d))
    })
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}
