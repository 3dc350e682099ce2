// Path scrubbing before the byte-class fast paths: split on `/`, decode, then
// try each kind of value in turn. What it returns is what `scrub_path` and the
// classifiers must return. Test code only, included (`include!`) into a
// `reference` module by the unit tests of `scrub.rs` and by the `scrub_path`
// fuzz target; the parent module has `Placeholder`, `MAX_SEGMENTS`,
// `MAX_SEGMENT_LEN`, `is_uuid` and `is_token` in scope.

use std::borrow::Cow;

use super::{MAX_SEGMENT_LEN, MAX_SEGMENTS, Placeholder, is_token, is_uuid};

/// A segment with its `%XX` escapes decoded (invalid UTF-8 replaced).
fn percent_decode_lossy(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Classifies one raw path segment.
pub(crate) fn classify(seg: &str) -> Option<Placeholder> {
    if seg.is_empty() {
        return None;
    }
    let decoded: Cow<'_, str> = if seg.contains('%') {
        Cow::Owned(percent_decode_lossy(seg))
    } else {
        Cow::Borrowed(seg)
    };
    if let Some(p) = classify_value(decoded.as_ref()) {
        return Some(p);
    }
    let plain = seg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if !plain || seg.len() > MAX_SEGMENT_LEN {
        return Some(Placeholder::Text);
    }
    None
}

/// Classifies a decoded value, without any fast path or IP pre-check.
pub(crate) fn classify_value(s: &str) -> Option<Placeholder> {
    if is_email(s) {
        Some(Placeholder::Email)
    } else if s.len() >= 7 && s.len() <= 45 && s.parse::<std::net::IpAddr>().is_ok() {
        Some(Placeholder::Ip)
    } else if is_account_id(s) {
        Some(Placeholder::AccountId)
    } else if is_uuid(s) {
        Some(Placeholder::Uuid)
    } else if is_jwt(s) {
        Some(Placeholder::Jwt)
    } else if is_number(s) {
        Some(Placeholder::Number)
    } else if is_token(s) {
        Some(Placeholder::Token)
    } else {
        None
    }
}

pub(crate) fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        }
        None => false,
    }
}

pub(crate) fn is_account_id(s: &str) -> bool {
    if s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    match s.split_once(':') {
        Some((prefix, rest)) => {
            !prefix.is_empty()
                && prefix.len() <= 10
                && prefix.bytes().all(|b| b.is_ascii_digit())
                && rest.len() >= 8
                && rest.len() <= 64
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        None => false,
    }
}

pub(crate) fn is_jwt(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(h), Some(p), Some(sig), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let b64 = |x: &str| x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    h.starts_with("eyJ") && p.len() >= 2 && b64(h) && b64(p) && b64(sig)
}

fn is_number(s: &str) -> bool {
    s.len() >= 2 && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The scrubbed path and the first account ID seen, decoded.
pub(crate) fn scrub_path(raw: &str) -> (String, Option<String>) {
    let mut out = String::new();
    let mut account_id = None;
    let trimmed = raw.strip_prefix('/').unwrap_or(raw);
    for (i, seg) in trimmed.split('/').enumerate() {
        out.push('/');
        if i == MAX_SEGMENTS {
            out.push('…');
            break;
        }
        match classify(seg) {
            None => out.push_str(seg),
            Some(p) => {
                if p == Placeholder::AccountId && account_id.is_none() {
                    account_id = Some(percent_decode_lossy(seg));
                }
                out.push_str(p.as_str());
            }
        }
    }
    (out, account_id)
}
