//! Identifiers and secrets: e-mail addresses, Atlassian account IDs, UUIDs,
//! JWTs, high-entropy tokens, numbers, product user keys and prefixed handles.

/// `local@domain.tld`, loosely: something before the `@`, a dot inside the
/// domain, neither end of the domain a dot.
pub fn is_email(s: &str) -> bool {
    let b = s.as_bytes();
    match b.iter().position(|&c| c == b'@') {
        Some(at) => {
            let domain = b.get(at + 1..).unwrap_or_default();
            at > 0
                && domain.first().is_some_and(|&c| c != b'.')
                && domain.last() != Some(&b'.')
                && domain.contains(&b'.')
        }
        None => false,
    }
}

/// A UUID: `8-4-4-4-12` hex digits.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// An Atlassian account ID: `557058:<uuid>`, another `digits:<id>` (1 to 10
/// digits, then 8 to 64 letters, digits or `-`), or 24 hex digits.
pub fn is_account_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() == 24 && b.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    prefixed_id(b).is_some_and(|id| id.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-'))
}

/// The part after `:` of `s` if `s` is 1 to 10 digits, `:` and 8 to 64 more
/// bytes.
pub(crate) fn prefixed_id(s: &[u8]) -> Option<&[u8]> {
    let digits = s.iter().take(11).take_while(|c| c.is_ascii_digit()).count();
    match s.get(digits..) {
        Some([b':', id @ ..]) if (1..=10).contains(&digits) && (8..=64).contains(&id.len()) => Some(id),
        _ => None,
    }
}

/// A JSON Web Token: three base64url parts separated by dots, the first a
/// JSON object header (`eyJ…`).
pub fn is_jwt(s: &str) -> bool {
    if !s.starts_with("eyJ") {
        return false;
    }
    let mut parts = s.split('.');
    let (Some(h), Some(p), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let b64 = |x: &str| x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    h.starts_with("eyJ") && p.len() >= 2 && b64(h) && b64(p) && b64(sig)
}

/// A long token: 16 or more bytes of hex with a digit, or of the base64 and
/// slug alphabets mixing digits, upper and lower case letters with a run of
/// 16 or more between `-`, `_` and `.` (keys, session IDs, hashes). Words and
/// slugs (`release-notes-2026`) are not tokens.
pub fn is_token(s: &str) -> bool {
    if s.len() < 16 {
        return false;
    }
    let b = s.as_bytes();
    if b.iter().all(u8::is_ascii_hexdigit) && b.iter().any(u8::is_ascii_digit) {
        return true;
    }
    let allowed = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'+' | b'/' | b'=' | b'.'));
    if !allowed {
        return false;
    }
    let (digits, upper, lower) = letter_classes(b);
    let classes = usize::from(digits > 0) + usize::from(upper > 0) + usize::from(lower > 0);
    // Real words are separated by dashes, underscores or dots into short runs.
    let longest_run = s.split(['-', '_', '.']).map(str::len).max().unwrap_or(0);
    classes >= 2 && longest_run >= 16 && (digits >= 2 || upper >= 2)
}

/// The shortest run [`is_random_token`] considers.
pub const MIN_RANDOM_TOKEN_LEN: usize = 20;

/// A stricter [`is_token`] for scanning free text, where words must not be
/// findings: a run of 20 or more bytes (between `-`, `_`, `+`) mixing digits
/// and letters of both cases, with at least 3.5 bits of entropy per byte.
pub fn is_random_token(s: &[u8]) -> bool {
    if s.len() < MIN_RANDOM_TOKEN_LEN {
        return false;
    }
    let longest_run = s
        .split(|b| matches!(b, b'-' | b'_' | b'+'))
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    if longest_run < MIN_RANDOM_TOKEN_LEN {
        return false;
    }
    let (digits, upper, lower) = letter_classes(s);
    let classes = usize::from(digits > 0) + usize::from(upper > 0) + usize::from(lower > 0);
    if classes < 2 || (digits < 2 && upper < 2) {
        return false;
    }
    entropy(s) >= 3.5
}

/// How many digits, upper and lower case ASCII letters `b` holds.
fn letter_classes(b: &[u8]) -> (usize, usize, usize) {
    b.iter().fold((0, 0, 0), |(d, u, l), c| {
        (
            d + usize::from(c.is_ascii_digit()),
            u + usize::from(c.is_ascii_uppercase()),
            l + usize::from(c.is_ascii_lowercase()),
        )
    })
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

/// A number worth a placeholder: 2 to 20 ASCII digits (single digits, such as
/// the `2` of `/rest/api/2/`, are kept).
pub fn is_number(s: &str) -> bool {
    (2..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A Jira/Confluence Data Center user key: `JIRAUSER` and digits, any case
/// (`JIRAUSER10100`).
pub fn is_user_key(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.get(..8), b.get(8..)) {
        (Some(prefix), Some(digits)) => {
            prefix.eq_ignore_ascii_case(b"JIRAUSER")
                && !digits.is_empty()
                && digits.len() <= 20
                && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// A handle: `~` or `@` directly followed by a name or an ID (`~jane.doe`,
/// `~557058:3f2a…`, `@jdoe`), as in personal-space keys and mentions. The
/// rest holds at least one letter or digit and no second `@`.
pub fn is_handle(s: &str) -> bool {
    handle_body(s).is_some()
}

/// What follows the `~` or `@` of a handle.
pub(super) fn handle_body(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('~').or_else(|| s.strip_prefix('@'))?;
    let ok = rest.bytes().any(|b| b.is_ascii_alphanumeric() || !b.is_ascii())
        && !rest.contains(['@', '/', ' '])
        && !rest.starts_with(['~', '.']);
    ok.then_some(rest)
}
