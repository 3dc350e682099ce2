//! The line scanner: splits a line into words and runs cheap detectors on the
//! few words whose characters make a finding possible.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::policy::{is_account_id, is_jwt};

/// A kind of personal data or secret the audit looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// A full IPv4 address (networks such as `203.0.113.0/24`, loopback and
    /// `0.0.0.0` are not findings).
    Ipv4,
    /// A full IPv6 address (networks such as `2001:db8:1::/48`, `::1` are not).
    Ipv6,
    /// An e-mail address, plain or percent-encoded (`%40`).
    Email,
    /// A JSON Web Token (`eyJ….….…`).
    Jwt,
    /// An Atlassian account ID (`557058:<uuid>`, `<digits>:<id>`, 24 hex digits).
    AccountId,
    /// A credential: `Bearer`/`Basic` authorization values, `password=`-style
    /// query or form values, `user:password@` in URLs.
    Credential,
    /// A long random-looking token (API keys, session IDs, hashes).
    Token,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 7] = [
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::Email,
        Kind::Jwt,
        Kind::AccountId,
        Kind::Credential,
        Kind::Token,
    ];

    /// The kind's name in reports (`ipv4`, `email`, `account_id` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::Email => "email",
            Kind::Jwt => "jwt",
            Kind::AccountId => "account_id",
            Kind::Credential => "credential",
            Kind::Token => "token",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Kind::Ipv4 => 0,
            Kind::Ipv6 => 1,
            Kind::Email => 2,
            Kind::Jwt => 3,
            Kind::AccountId => 4,
            Kind::Credential => 5,
            Kind::Token => 6,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: its kind and, built only when asked, its masked text.
pub struct Finding<'a> {
    kind: Kind,
    mask: &'a dyn Fn() -> String,
}

impl<'a> Finding<'a> {
    fn new(kind: Kind, mask: &'a dyn Fn() -> String) -> Self {
        Finding { kind, mask }
    }

    /// What was found.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The finding masked for reports (`j***@e***.com`, `198.***.***.***`);
    /// never the full value.
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

// Character classes of the word splitter.
const WORD: u8 = 1;
const DIGIT: u8 = 2;
const ALPHA: u8 = 4;
const AT: u8 = 8;
const COLON: u8 = 16;
const EQ: u8 = 32;
const PCT: u8 = 64;
const DOT: u8 = 128;

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_digit() {
            WORD | DIGIT
        } else if b.is_ascii_alphabetic() {
            WORD | ALPHA
        } else {
            match b {
                b'@' => WORD | AT,
                b':' => WORD | COLON,
                b'=' => WORD | EQ,
                b'%' => WORD | PCT,
                b'.' => WORD | DOT,
                b'-' | b'_' | b'+' | b'~' | b'$' => WORD,
                _ => 0,
            }
        };
        c += 1;
    }
    t
}

static CLASS: [u8; 256] = classes();

/// Query and form keys whose values are secrets.
const SECRET_KEYS: [&str; 16] = [
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "api-key",
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "auth",
    "sessionid",
    "session_id",
];

/// The shortest segment the token detector considers.
const MIN_TOKEN_LEN: usize = 20;

/// The record fields that hold pseudonyms, searched once per record line.
static PSEUDONYM_FIELDS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 3]> = std::sync::LazyLock::new(|| {
    [
        memchr::memmem::Finder::new(b",\"account\":\""),
        memchr::memmem::Finder::new(b",\"tenant\":\""),
        memchr::memmem::Finder::new(b",\"client\":\""),
    ]
});

/// Calls `found` with a [`Finding`] for every piece of personal data or secret in
/// `line`. Lines that are privlog records (`{"v":…`) have their `account`,
/// `tenant` and `client` values skipped when they hold pseudonyms; every other
/// field, and those fields when they hold anything else, are scanned.
pub fn scan_line(line: &[u8], found: &mut dyn FnMut(Finding<'_>)) {
    let mut skip: [(usize, usize); 3] = [(0, 0); 3];
    if line.starts_with(b"{\"v\":") {
        for (slot, finder) in skip.iter_mut().zip(PSEUDONYM_FIELDS.iter()) {
            if let Some(at) = finder.find(line) {
                let start = at + finder.needle().len();
                if let Some(len) = memchr::memchr(b'"', &line[start..])
                    && is_pseudonym(&line[start..start + len])
                {
                    *slot = (start, start + len);
                }
            }
        }
    }
    let mut i = 0;
    let mut prev_word: (usize, usize) = (0, 0);
    while i < line.len() {
        if CLASS[usize::from(line[i])] & WORD == 0 {
            i += 1;
            continue;
        }
        let start = i;
        let mut flags = 0u8;
        while i < line.len() {
            let c = CLASS[usize::from(line[i])];
            if c & WORD == 0 {
                break;
            }
            flags |= c;
            i += 1;
        }
        if skip.iter().any(|&(s, e)| s == start && e == i) {
            prev_word = (start, i);
            continue;
        }
        word(line, start, i, flags, prev_word, found);
        prev_word = (start, i);
    }
}

/// A privlog pseudonym: 22 URL-safe base64 characters.
fn is_pseudonym(v: &[u8]) -> bool {
    v.len() == 22 && v.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

fn word(line: &[u8], start: usize, end: usize, flags: u8, prev: (usize, usize), found: &mut dyn FnMut(Finding<'_>)) {
    let w = &line[start..end];
    let len = w.len();
    // `Authorization: Bearer <credential>` and the like.
    if len >= 8 {
        let p = &line[prev.0..prev.1];
        if prev.1 < start
            && (p.eq_ignore_ascii_case(b"bearer") || p.eq_ignore_ascii_case(b"basic"))
            && line[prev.1..start].iter().all(|b| *b == b' ')
        {
            found(Finding::new(Kind::Credential, &|| {
                format!("{} ***", String::from_utf8_lossy(p))
            }));
            return;
        }
    }
    // The shortest finding is an e-mail address like `a@b.co`.
    if len < 6 {
        return;
    }
    if flags & PCT != 0 {
        let has = |needle: &[u8]| w.windows(needle.len()).any(|x| x.eq_ignore_ascii_case(needle));
        if has(b"bearer%20") || has(b"basic%20") {
            found(Finding::new(Kind::Credential, &|| "Bearer ***".to_owned()));
            return;
        }
    }
    if flags & EQ != 0
        && let Some(eq) = find(w, b'=')
    {
        let key = &w[..eq];
        let value = &w[eq + 1..];
        if value.len() >= 4 && SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k.as_bytes())) {
            found(Finding::new(Kind::Credential, &|| {
                format!("{}=***", String::from_utf8_lossy(key))
            }));
            return;
        }
    }
    // `scheme://user:password@host`
    if flags & (AT | COLON) == AT | COLON
        && start >= 2
        && &line[start - 2..start] == b"//"
        && let (Some(colon), Some(at)) = (find(w, b':'), find(w, b'@'))
        && colon < at
    {
        found(Finding::new(Kind::Credential, &|| "***:***@".to_owned()));
        return;
    }
    if flags & DOT != 0
        && len >= 16
        && let Some(at) = w.windows(3).position(|x| x == b"eyJ")
    {
        let run_end = w[at..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
            .map_or(len, |p| at + p);
        let candidate = trim_dots(&w[at..run_end]);
        if std::str::from_utf8(candidate).is_ok_and(is_jwt) {
            found(Finding::new(Kind::Jwt, &|| {
                format!("eyJ*** ({} chars)", candidate.len())
            }));
            return;
        }
    }
    if flags & (AT | PCT) != 0 {
        emails(w, found);
    }
    if flags & COLON != 0 && w.iter().filter(|b| **b == b':').nth(1).is_some() {
        ipv6(line, w, end, found);
    }
    if flags & (DIGIT | DOT) == DIGIT | DOT {
        ipv4(line, start, end, found);
    }
    // The value of `key=value`, or the whole word.
    let value = match if flags & EQ != 0 { rfind(w, b'=') } else { None } {
        Some(eq) => &w[eq + 1..],
        None => w,
    };
    let value = trim_dots(value);
    if flags & DIGIT != 0 && (flags & (COLON | PCT) != 0 || value.len() == 24) && account_id(value) {
        found(Finding::new(Kind::AccountId, &|| mask_account(value)));
        return;
    }
    if len >= MIN_TOKEN_LEN {
        for seg in value.split(|b| matches!(b, b'.' | b':' | b'=' | b'@' | b'%' | b'~' | b'$')) {
            if looks_random(seg) {
                found(Finding::new(Kind::Token, &|| {
                    format!("{}*** ({} chars)", String::from_utf8_lossy(&seg[..3]), seg.len())
                }));
            }
        }
    }
}

/// Position of `b` in a short slice (words are too short for `memchr` to pay off).
fn find(s: &[u8], b: u8) -> Option<usize> {
    s.iter().position(|c| *c == b)
}

/// Last position of `b` in a short slice.
fn rfind(s: &[u8], b: u8) -> Option<usize> {
    s.iter().rposition(|c| *c == b)
}

fn trim_dots(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b'.' | b'-' | b','] = s {
        s = rest;
    }
    s
}

fn account_id(v: &[u8]) -> bool {
    let decoded;
    let v = if v.windows(3).any(|x| x.eq_ignore_ascii_case(b"%3A")) {
        decoded = String::from_utf8_lossy(v).replace("%3A", ":").replace("%3a", ":");
        decoded.as_bytes()
    } else {
        v
    };
    std::str::from_utf8(v).is_ok_and(is_account_id)
}

fn mask_account(v: &[u8]) -> String {
    match find(v, b':') {
        Some(c) => format!("{}:***", String::from_utf8_lossy(&v[..c])),
        None => format!("{}***", String::from_utf8_lossy(&v[..v.len().min(2)])),
    }
}

fn emails(w: &[u8], found: &mut dyn FnMut(Finding<'_>)) {
    let is_local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-');
    let is_domain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-');
    let mut i = 0;
    while i < w.len() {
        let (at, width) = match w[i] {
            b'@' => (i, 1),
            b'%' if w.get(i + 1..i + 3) == Some(b"40") => (i, 3),
            _ => {
                i += 1;
                continue;
            }
        };
        let local_start = w[..at].iter().rposition(|b| !is_local(*b)).map_or(0, |p| p + 1);
        let domain_start = at + width;
        let domain_end = w[domain_start..]
            .iter()
            .position(|b| !is_domain(*b))
            .map_or(w.len(), |p| domain_start + p);
        let local = &w[local_start..at];
        let domain = trim_dots(&w[domain_start..domain_end]);
        if let Some(dot) = rfind(domain, b'.') {
            let tld = &domain[dot + 1..];
            if !local.is_empty() && dot > 0 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic) {
                found(Finding::new(Kind::Email, &|| {
                    format!(
                        "{}***@{}***.{}",
                        char::from(local[0]),
                        char::from(domain[0]),
                        String::from_utf8_lossy(tld)
                    )
                }));
            }
        }
        i = domain_end.max(at + width);
    }
}

/// `/NN` right after `end` with NN below `full`: a network, not an address.
fn is_network(line: &[u8], end: usize, full: u32) -> bool {
    if line.get(end) != Some(&b'/') {
        return false;
    }
    let digits: Vec<u8> = line[end + 1..]
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits)
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .is_some_and(|n| n < full)
}

fn ipv6(line: &[u8], w: &[u8], end: usize, found: &mut dyn FnMut(Finding<'_>)) {
    let cand = match rfind(w, b'=') {
        Some(eq) => &w[eq + 1..],
        None => w,
    };
    let cand = match find(cand, b'%') {
        Some(p) => &cand[..p],
        None => cand,
    };
    let cand = trim_dots(cand);
    if !cand.iter().all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.')) {
        return;
    }
    let groups = cand.split(|b| *b == b':').filter(|g| !g.is_empty()).count();
    let colons = cand.iter().filter(|b| **b == b':').count();
    // A full address has eight groups (seven colons) or a `::`; times like
    // `2026:09:30:00` have neither.
    if groups < 3 || (colons != 7 && !cand.windows(2).any(|x| x == b"::")) {
        return;
    }
    let Some(addr) = std::str::from_utf8(cand).ok().and_then(|s| s.parse::<Ipv6Addr>().ok()) else {
        return;
    };
    if addr.is_loopback() || addr.is_unspecified() || is_network(line, end, 128) {
        return;
    }
    found(Finding::new(Kind::Ipv6, &|| format!("{:x}:***", addr.segments()[0])));
}

fn ipv4(line: &[u8], start: usize, end: usize, found: &mut dyn FnMut(Finding<'_>)) {
    let mut i = start;
    while i < end {
        // `a_1.2.3.4` is an identifier, not an address.
        let boundary_before = i == 0 || !(line[i - 1].is_ascii_alphanumeric() || matches!(line[i - 1], b'.' | b'_'));
        if !line[i].is_ascii_digit() || !boundary_before {
            i += 1;
            continue;
        }
        let Some((addr, stop)) = parse_quad(&line[i..end]) else {
            i += 1;
            continue;
        };
        let after = i + stop;
        let next = line.get(after).copied();
        let next2 = line.get(after + 1).copied();
        // `1.2.3.4@example.com` is the local part of an e-mail address (found as one).
        let continues = next.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'@')
            || (next == Some(b'.') && next2.is_some_and(|b| b.is_ascii_digit()));
        if !continues
            && !addr.is_loopback()
            && !addr.is_unspecified()
            && !is_network(line, after, 32)
            && !is_product_version(line, i)
        {
            found(Finding::new(Kind::Ipv4, &|| {
                format!("{}.***.***.***", addr.octets()[0])
            }));
        }
        i = after;
    }
}

/// `Chrome/120.0.0.0` in a User-Agent: a version, not an address. A path
/// (`/ip/203.0.113.7`) has another `/` before the name.
fn is_product_version(line: &[u8], at: usize) -> bool {
    if at == 0 || line[at - 1] != b'/' {
        return false;
    }
    let name_end = at - 1;
    let name_start = line[..name_end]
        .iter()
        .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
        .map_or(0, |p| p + 1);
    let before = if name_start == 0 {
        None
    } else {
        Some(line[name_start - 1])
    };
    name_start < name_end && !matches!(before, Some(b'/'))
}

fn parse_quad(s: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (n, slot) in octets.iter_mut().enumerate() {
        if n > 0 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let digits = s[i.min(s.len())..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 3 {
            return None;
        }
        let mut v = 0u32;
        for b in &s[i..i + digits] {
            v = v * 10 + u32::from(b - b'0');
        }
        *slot = u8::try_from(v).ok()?;
        i += digits;
    }
    Some((Ipv4Addr::from(octets), i))
}

/// Long, mixed, high-entropy runs: API keys, session IDs, hashes. Words,
/// slugs and UUIDs are not tokens.
fn looks_random(seg: &[u8]) -> bool {
    if seg.len() < MIN_TOKEN_LEN {
        return false;
    }
    let longest_run = seg
        .split(|b| matches!(b, b'-' | b'_' | b'+'))
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    if longest_run < MIN_TOKEN_LEN {
        return false;
    }
    let digits = seg.iter().filter(|b| b.is_ascii_digit()).count();
    let upper = seg.iter().filter(|b| b.is_ascii_uppercase()).count();
    let lower = seg.iter().filter(|b| b.is_ascii_lowercase()).count();
    let classes = usize::from(digits > 0) + usize::from(upper > 0) + usize::from(lower > 0);
    if classes < 2 || (digits < 2 && upper < 2) {
        return false;
    }
    entropy(seg) >= 3.5
}

/// Shannon entropy in bits per byte.
fn entropy(s: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for b in s {
        counts[usize::from(*b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &str) -> Vec<(Kind, String)> {
        let mut v = Vec::new();
        scan_line(line.as_bytes(), &mut |f| v.push((f.kind(), f.masked())));
        v
    }

    fn only(line: &str) -> Vec<Kind> {
        kinds(line).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn finds_each_kind_with_a_masked_example() {
        let cases = [
            ("client 203.0.113.77 said hi", Kind::Ipv4, "203.***.***.***"),
            ("from 2001:db8:85a3::8a2e:370:7334 -", Kind::Ipv6, "2001:***"),
            ("/users/jane.doe@example.com/x", Kind::Email, "j***@e***.com"),
            ("/users/jane%40example.org", Kind::Email, "j***@e***.org"),
            (
                "?jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1NTcwNTg6ZjAwZCJ9.c2lnbmF0dXJlMTIzNDU",
                Kind::Jwt,
                "eyJ*** (",
            ),
            (
                "/accounts/557058:0c7b7d4e-6a4b-4c6b-9b7e-1f2e3d4c5b6a/h",
                Kind::AccountId,
                "557058:***",
            ),
            ("/accounts/5b10ac8d82e05b22cc7d4ef5", Kind::AccountId, "5b***"),
            ("Authorization: Bearer abcdefghijkl", Kind::Credential, "Bearer ***"),
            (
                "Authorization: basic dXNlcjpwYXNzd29yZA==",
                Kind::Credential,
                "basic ***",
            ),
            ("/login?user=x&password=hunter22", Kind::Credential, "password=***"),
            ("https://admin:s3cret@db.example.com/", Kind::Credential, "***:***@"),
            ("/download?sig=Q2hhbmdlTWVOb3dQbGVhc2U4Nzg5MzQ1", Kind::Token, "Q2h***"),
        ];
        for (line, kind, masked) in cases {
            let got = kinds(line);
            assert_eq!(got.len(), 1, "{line}: {got:?}");
            assert_eq!(got[0].0, kind, "{line}");
            assert!(got[0].1.starts_with(masked), "{line}: {}", got[0].1);
        }
    }

    #[test]
    fn networks_versions_times_and_words_are_not_findings() {
        for line in [
            "203.0.113.0/24 2001:db8:1::/48 127.0.0.1 ::1 0.0.0.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            "[22/Nov/2026:09:30:00 +0000] \"GET /release-notes-2026/getting-started-guide HTTP/1.1\" 200",
            "/items/123e4567-e89b-12d3-a456-426614174000 1.2.3 v1.2.3.4.5",
            "std::collections::HashMap abc@localhost",
            "build_1.2.3.4 done",
        ] {
            assert_eq!(only(line), vec![], "{line}");
        }
    }

    #[test]
    fn privlog_records_are_clean_but_raw_values_in_their_fields_are_not() {
        let clean = r#"{"v":1,"ts":"2026-11-22T09:30:00.123Z","client":"203.0.113.0/24","method":"GET","route":"/rest/accounts/{account_id}/history","path":"/rest/accounts/{account_id}/history","query":"lic=active&cv=1.0","status":200,"req_bytes":0,"resp_bytes":512,"ttfb_us":840,"duration_us":910,"outcome":"completed","proto":"HTTP/1.1","account":"3q2x9Vd1kQ0bZg7mH4sT1A","tenant":"Jp0cX8aWm3nR5yE2uK9fLw","epoch":"2026-11","kid":"k_5d1f0a9c"}"#;
        assert_eq!(only(clean), vec![]);
        let pseudonymized_ip = clean.replace("203.0.113.0/24", "Xq2x9Vd1kQ0bZg7mH4sT1B");
        assert_eq!(only(&pseudonymized_ip), vec![]);
        let leaked = clean.replace(
            "\"3q2x9Vd1kQ0bZg7mH4sT1A\"",
            "\"557058:0c7b7d4e-6a4b-4c6b-9b7e-1f2e3d4c5b6a\"",
        );
        assert_eq!(only(&leaked), vec![Kind::AccountId]);
        let kept_ip = clean.replace("203.0.113.0/24", "203.0.113.9");
        assert_eq!(only(&kept_ip), vec![Kind::Ipv4]);
    }

    proptest::proptest! {
        #[test]
        fn planted_items_are_found_once_each(
            local in "[a-z][a-z0-9._]{0,12}[a-z0-9]",
            domain in "[a-z][a-z0-9-]{0,10}[a-z0-9]",
            tld in "[a-z]{2,6}",
            octets in proptest::array::uniform4(1u8..=254),
            prefix in 1u32..=999_999,
            id in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ) {
            // 127.x.x.x is loopback, not a finding
            let first = if octets[0] == 127 { 128 } else { octets[0] };
            let ip = format!("{first}.{}.{}.{}", octets[1], octets[2], octets[3]);
            let line = format!(
                "{ip} - - [22/Nov/2026:09:30:00 +0000] \"GET /u/{local}@{domain}.{tld}/a/{prefix}:{id} HTTP/1.1\" 200 5 \"-\" \"curl/8.5.0\""
            );
            let mut got = only(&line);
            got.sort();
            proptest::prop_assert_eq!(got, vec![Kind::Ipv4, Kind::Email, Kind::AccountId], "{}", line);
        }

        #[test]
        fn scrubbed_paths_hold_nothing_to_find(
            segments in proptest::collection::vec(proptest::prop_oneof![
                "[a-z]{1,8}[0-9a-z._]{0,8}@[a-z]{2,8}\\.(com|org|io)",
                "[0-9]{6}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                "[0-9a-f]{24}",
                "eyJ[A-Za-z0-9_-]{10,40}\\.eyJ[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{10,40}",
                "[A-Za-z0-9]{24,48}",
                "[a-z]{1,12}(-[a-z]{1,12}){0,3}",
                "[0-9]{1,8}",
            ], 1..8),
        ) {
            let raw = format!("/{}", segments.join("/"));
            let scrubbed = crate::policy::scrub_path(&raw).path;
            let found = kinds(&scrubbed);
            proptest::prop_assert!(found.is_empty(), "{} -> {} -> {:?}", raw, scrubbed, found);
        }
    }

    #[test]
    fn scanner_never_panics_on_arbitrary_bytes() {
        proptest::proptest!(|(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512))| {
            scan_line(&bytes, &mut |f| { let _ = f.masked(); });
        });
    }
}
