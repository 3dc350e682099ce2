//! Path scrubbing and string sanitizing.
//!
//! Without a route template the path is the only place user content can hide
//! in a request line, so each segment is classified and anything that looks
//! like an identifier, address, token or free text becomes a placeholder.

use std::borrow::Cow;

use percent_encoding::percent_decode;

// The detectors the scrub shares with the path allowlist, query values and
// the audit: one copy, in `detect`.
pub(crate) use super::detect::ids::prefixed_id;
pub(crate) use super::detect::{is_account_id, is_email, is_jwt, is_number};
pub use super::detect::{is_token, is_uuid};

/// The most path segments kept; the rest become one `…` segment.
pub const MAX_SEGMENTS: usize = 32;
/// The longest segment kept as it is; longer ones are `{text}`.
pub const MAX_SEGMENT_LEN: usize = 64;

/// What a scrubbed path segment was replaced with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placeholder {
    /// An e-mail address.
    Email,
    /// A UUID.
    Uuid,
    /// An Atlassian account ID (`557058:<uuid>`, 24 hex digits, `digits:…`).
    AccountId,
    /// A JSON Web Token.
    Jwt,
    /// A long high-entropy token (keys, session IDs, hashes).
    Token,
    /// A number.
    Number,
    /// An IPv4 or IPv6 address.
    Ip,
    /// Percent-encoded, non-ASCII, over-long or otherwise free text.
    Text,
}

impl Placeholder {
    /// The placeholder as written in the path (`{email}` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Placeholder::Email => "{email}",
            Placeholder::Uuid => "{uuid}",
            Placeholder::AccountId => "{account_id}",
            Placeholder::Jwt => "{jwt}",
            Placeholder::Token => "{token}",
            Placeholder::Number => "{id}",
            Placeholder::Ip => "{ip}",
            Placeholder::Text => "{text}",
        }
    }
}

/// A scrubbed path and the first account ID seen in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrubbedPath<'a> {
    /// The path with placeholders.
    pub path: String,
    /// The first segment that was an Atlassian account ID, decoded.
    pub account_id: Option<Cow<'a, str>>,
}

/// Scrubs a raw (percent-encoded) request path.
///
/// ```
/// let s = privlog::scrub_path("/users/jane.doe%40example.com/pages/12345/a1b2c3d4-e5f6-4789-8abc-def012345678");
/// assert_eq!(s.path, "/users/{email}/pages/{id}/{uuid}");
/// ```
pub fn scrub_path(raw: &str) -> ScrubbedPath<'_> {
    let mut path = String::with_capacity(raw.len().min(256));
    let account_id = scrub_path_into(raw, &mut path);
    ScrubbedPath { path, account_id }
}

/// [`scrub_path`] appending the path to `out` (a buffer the caller reuses);
/// returns the first account ID seen.
pub(crate) fn scrub_path_into<'a>(raw: &'a str, out: &mut String) -> Option<Cow<'a, str>> {
    let body = raw.strip_prefix('/').unwrap_or(raw);
    out.push('/');
    let mut path = PathScrub {
        body,
        out,
        copied: 0,
        account_id: None,
    };
    let bytes = body.as_bytes();
    let mut start = 0;
    for _ in 0..MAX_SEGMENTS {
        let (len, bits) = scan_segment(bytes.get(start..).unwrap_or_default());
        let end = start + len;
        path.segment(start, end, bits);
        if end >= bytes.len() {
            path.out.push_str(body.get(path.copied..).unwrap_or(""));
            return path.account_id;
        }
        start = end + 1;
    }
    // What follows the last slash read becomes one `…` segment.
    path.out.push_str(body.get(path.copied..start).unwrap_or(""));
    path.out.push('…');
    path.account_id
}

/// The length of the segment `rest` starts with (up to the first `/`) and
/// the classes of its bytes, ORed.
#[inline(always)]
fn scan_segment(rest: &[u8]) -> (usize, u16) {
    let mut bits = 0;
    // Eight bytes per step, unrolled: the loop overhead is paid once.
    let (chunks, tail) = rest.as_chunks::<8>();
    for (n, chunk) in chunks.iter().enumerate() {
        for (j, &b) in chunk.iter().enumerate() {
            if b == b'/' {
                return (n * 8 + j, bits);
            }
            bits |= BYTE_CLASS[usize::from(b)];
        }
    }
    let done = rest.len() - tail.len();
    for (j, &b) in tail.iter().enumerate() {
        if b == b'/' {
            return (done + j, bits);
        }
        bits |= BYTE_CLASS[usize::from(b)];
    }
    (rest.len(), bits)
}

/// The state of [`scrub_path_into`]: kept segments and their slashes are
/// copied in runs, `copied` being where the part of `body` not yet written
/// starts.
struct PathScrub<'a, 'o> {
    body: &'a str,
    out: &'o mut String,
    copied: usize,
    account_id: Option<Cow<'a, str>>,
}

impl<'a> PathScrub<'a, '_> {
    /// Handles the segment `body[start..end]`, whose byte classes are `bits`.
    #[inline(always)]
    fn segment(&mut self, start: usize, end: usize, bits: u16) {
        let len = end - start;
        // Short words and numbers, most segments, are settled here.
        let placeholder = if bits & !SHORT_WORD == 0 && len < 16 {
            if bits != DIGIT || len < 2 {
                return;
            }
            Placeholder::Number
        } else if len == 0 {
            return;
        } else {
            match self.classify(start, end, bits) {
                Some(p) => p,
                None => return,
            }
        };
        self.out.push_str(self.body.get(self.copied..start).unwrap_or(""));
        self.out.push_str(placeholder.as_str());
        self.copied = end;
    }

    /// [`classify_scanned`] for the non-empty segment `body[start..end]`,
    /// noting the first account ID.
    #[inline(never)]
    fn classify(&mut self, start: usize, end: usize, bits: u16) -> Option<Placeholder> {
        let seg = self.body.get(start..end).unwrap_or("");
        let p = classify_scanned(seg, bits)?;
        if p == Placeholder::AccountId && self.account_id.is_none() {
            self.account_id = Some(if bits & PERCENT != 0 {
                percent_decode(seg.as_bytes()).decode_utf8_lossy()
            } else {
                Cow::Borrowed(seg)
            });
        }
        Some(p)
    }
}

// Byte classes, one bit each, so that the OR over a segment tells which kinds
// of byte it holds. Letters are split at `f` so that "hex only" is a mask test.
const DIGIT: u16 = 1;
const LOWER_HEX: u16 = 1 << 1;
const LOWER_REST: u16 = 1 << 2;
const UPPER_HEX: u16 = 1 << 3;
const UPPER_REST: u16 = 1 << 4;
const DASH: u16 = 1 << 5;
const UNDERSCORE: u16 = 1 << 6;
const DOT: u16 = 1 << 7;
const TILDE: u16 = 1 << 8;
const COLON: u16 = 1 << 9;
const AT: u16 = 1 << 10;
const PERCENT: u16 = 1 << 11;
/// `+ / =`: allowed in tokens, not in kept segments.
const TOKEN_SYMBOL: u16 = 1 << 12;
/// Every other byte, including control and non-ASCII bytes.
const OTHER: u16 = 1 << 13;

const LOWER: u16 = LOWER_HEX | LOWER_REST;
const UPPER: u16 = UPPER_HEX | UPPER_REST;
const HEX: u16 = DIGIT | LOWER_HEX | UPPER_HEX;
/// The bytes a segment may hold and still be kept as it is.
const PLAIN: u16 = DIGIT | LOWER | UPPER | DASH | UNDERSCORE | DOT | TILDE;
/// The bytes of a segment that, under 16 bytes, can only be a number or kept.
const SHORT_WORD: u16 = PLAIN & !DOT;

const BYTE_CLASS: [u16; 256] = {
    let mut t = [OTHER; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match c as u8 {
            b'0'..=b'9' => DIGIT,
            b'a'..=b'f' => LOWER_HEX,
            b'g'..=b'z' => LOWER_REST,
            b'A'..=b'F' => UPPER_HEX,
            b'G'..=b'Z' => UPPER_REST,
            b'-' => DASH,
            b'_' => UNDERSCORE,
            b'.' => DOT,
            b'~' => TILDE,
            b':' => COLON,
            b'@' => AT,
            b'%' => PERCENT,
            b'+' | b'/' | b'=' => TOKEN_SYMBOL,
            _ => OTHER,
        };
        c += 1;
    }
    t
};

/// Classifies one raw path segment; `None` means it is safe to keep as it is.
pub fn classify(seg: &str) -> Option<Placeholder> {
    if seg.is_empty() {
        return None;
    }
    let bits = seg.bytes().fold(0, |bits, b| bits | BYTE_CLASS[usize::from(b)]);
    classify_scanned(seg, bits)
}

/// [`classify`] for a non-empty segment whose byte classes are `bits`.
///
/// The classes and the length settle most segments; only those that could
/// still be an address, an account ID, a UUID, a JWT or a token get the
/// precise check, in the order [`classify_value`] applies them.
fn classify_scanned(seg: &str, bits: u16) -> Option<Placeholder> {
    let len = seg.len();
    if bits & !PLAIN == 0 {
        // No `%`: the segment is its own decoded value. No `@`: not an
        // e-mail. No `:`: not IPv6 nor a prefixed account ID.
        if bits & DOT != 0 && (bits & !(HEX | DOT) == 0 || seg.starts_with("eyJ")) {
            // Possibly IPv4 or a JWT.
            return classify_decoded(seg);
        }
        if bits == DIGIT {
            return match len {
                1 => None,
                2..=20 => Some(Placeholder::Number),
                24 => Some(Placeholder::AccountId),
                // All digits, so hex with a digit: a token.
                _ => Some(Placeholder::Token),
            };
        }
        if len < 16 {
            return None;
        }
        if len == 24 && bits & !HEX == 0 {
            return Some(Placeholder::AccountId);
        }
        if len == 36 && bits & !(HEX | DASH) == 0 && is_uuid(seg) {
            return Some(Placeholder::Uuid);
        }
        // A token mixes at least two of digits, upper and lower case letters
        // (hex with a digit always does, the all-digit case is settled above)
        // and has no `~`.
        let classes = u8::from(bits & DIGIT != 0) + u8::from(bits & LOWER != 0) + u8::from(bits & UPPER != 0);
        if classes >= 2 && bits & TILDE == 0 && is_token(seg) {
            return Some(Placeholder::Token);
        }
        return (len > MAX_SEGMENT_LEN).then_some(Placeholder::Text);
    }
    if bits & PERCENT != 0 {
        return classify_decoded(seg);
    }
    // Not plain, so free text unless it is one of the values below.
    if bits & AT != 0 {
        // `@` is in no other value's alphabet.
        return Some(if is_email(seg) {
            Placeholder::Email
        } else {
            Placeholder::Text
        });
    }
    if bits & (TOKEN_SYMBOL | OTHER) == 0 {
        // Has `:`. An IP address takes only hex digits, `:` and `.`.
        if bits & !(HEX | COLON | DOT) == 0 {
            return classify_decoded(seg);
        }
        // Else only a `digits:id` account ID, whose id has letters, digits
        // and `-` only: with no `_ . ~` in the segment, that is no second `:`.
        let account_id =
            bits & (UNDERSCORE | DOT | TILDE) == 0 && prefixed_id(seg.as_bytes()).is_some_and(|id| !id.contains(&b':'));
        return Some(if account_id {
            Placeholder::AccountId
        } else {
            Placeholder::Text
        });
    }
    // `+ / =` or other bytes: at most a token, which is 16 bytes or more.
    if len >= 16 {
        return classify_decoded(seg);
    }
    Some(Placeholder::Text)
}

/// [`classify`] without the fast paths.
fn classify_decoded(seg: &str) -> Option<Placeholder> {
    let decoded: Cow<'_, str> = if seg.contains('%') {
        percent_decode(seg.as_bytes()).decode_utf8_lossy()
    } else {
        Cow::Borrowed(seg)
    };
    let s = decoded.as_ref();
    if let Some(p) = classify_value(s) {
        return Some(p);
    }
    // Anything that needed escaping, or is long, is free text.
    let plain = seg
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if !plain || seg.len() > MAX_SEGMENT_LEN {
        return Some(Placeholder::Text);
    }
    None
}

/// Classifies a decoded value as personal data or a secret, if it is one.
pub fn classify_value(s: &str) -> Option<Placeholder> {
    // Most segments and values are short words: without `@`, `:` or `.` and
    // under 16 bytes nothing but a number can match (an e-mail needs `@`, an
    // account ID `:` or 24 bytes, a UUID 36, a JWT two dots, a token 16).
    if s.len() < 16 && !s.bytes().any(|b| matches!(b, b'@' | b':' | b'.')) {
        return is_number(s).then_some(Placeholder::Number);
    }
    classify_value_full(s)
}

/// Whether `s` has the shape of an IP address the standard parser could
/// accept: hex digits, `:` and `.` only, with a `:` (IPv6) or three `.` (IPv4).
fn could_be_ip(s: &str) -> bool {
    let (mut colons, mut dots) = (0usize, 0usize);
    for b in s.bytes() {
        match b {
            b':' => colons += 1,
            b'.' => dots += 1,
            b if b.is_ascii_hexdigit() => {}
            _ => return false,
        }
    }
    colons > 0 || dots == 3
}

/// [`classify_value`] without the short-word fast path.
fn classify_value_full(s: &str) -> Option<Placeholder> {
    if is_email(s) {
        Some(Placeholder::Email)
    } else if s.len() >= 7 && s.len() <= 45 && could_be_ip(s) && s.parse::<std::net::IpAddr>().is_ok() {
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

/// Makes a string safe to write: control characters (C0, DEL, C1), U+2028/9
/// and ANSI escape sequences removed, and the length capped at `max` bytes.
pub fn sanitize_text(s: &str, max: usize) -> Cow<'_, str> {
    let clean = s.chars().all(|c| !is_unsafe_char(c));
    if clean && s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max));
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip a CSI sequence: ESC [ params final-byte.
            if chars.peek() == Some(&'[') {
                chars.next();
                for n in chars.by_ref() {
                    if ('@'..='~').contains(&n) {
                        break;
                    }
                }
            }
            continue;
        }
        if is_unsafe_char(c) {
            continue;
        }
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn is_unsafe_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scrubbing_table() {
        let cases = [
            ("/", "/"),
            ("/health", "/health"),
            ("/rest/api/2/issue/10042", "/rest/api/2/issue/{id}"),
            ("/users/jane@example.com", "/users/{email}"),
            ("/users/jane%40example.com", "/users/{email}"),
            ("/a/557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff/b", "/a/{account_id}/b"),
            ("/a/557058%3Af0e1d2c3-b4a5-4697-8899-aabbccddeeff", "/a/{account_id}"),
            ("/a/5b10ac8d82e05b22cc7d4ef5", "/a/{account_id}"),
            ("/a/f0e1d2c3-b4a5-4697-8899-aabbccddeeff", "/a/{uuid}"),
            ("/t/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "/t/{jwt}"),
            ("/k/sk_live_51HxTzQ2eZvKYlo2C8nR4u7Wq", "/k/{token}"),
            ("/k/9f86d081884c7d659a2feaa0c55ad015", "/k/{token}"),
            ("/search/hello%20world", "/search/{text}"),
            ("/wiki/Caf%C3%A9", "/wiki/{text}"),
            ("/docs/release-notes-for-november", "/docs/release-notes-for-november"),
            ("/static/app.min.js", "/static/app.min.js"),
            ("/lookup/203.0.113.7", "/lookup/{ip}"),
            ("/lookup/2001%3Adb8%3A%3A7", "/lookup/{ip}"),
            ("/lookup/2001:db8::7/x", "/lookup/{ip}/x"),
        ];
        for (raw, want) in cases {
            assert_eq!(scrub_path(raw).path, want, "{raw}");
        }
    }

    #[test]
    fn scrub_path_into_appends_to_the_buffer() {
        let mut out = String::from("kept");
        let id = scrub_path_into("/a/557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff/10", &mut out);
        assert_eq!(out, "kept/a/{account_id}/{id}");
        assert_eq!(id.as_deref(), Some("557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff"));
    }

    #[test]
    fn account_id_in_path_is_reported_decoded() {
        let s = scrub_path("/rest/accounts/557058%3Af0e1d2c3-b4a5-4697-8899-aabbccddeeff/history");
        assert_eq!(
            s.account_id.as_deref(),
            Some("557058:f0e1d2c3-b4a5-4697-8899-aabbccddeeff")
        );
    }

    #[test]
    fn many_segments_are_capped() {
        let raw = "/a".repeat(10_000);
        let s = scrub_path(&raw);
        assert_eq!(s.path.matches('/').count(), MAX_SEGMENTS + 1);
    }

    #[test]
    fn sanitize_removes_controls_and_ansi() {
        assert_eq!(
            sanitize_text("a\u{1b}[31mred\u{1b}[0m\r\n\u{85}\u{2028}b", 100),
            "aredb"
        );
        assert_eq!(sanitize_text("abcdef", 3), "abc");
    }

    /// Scrubbing before the byte-class fast paths (shared with the fuzz target).
    mod reference {
        include!("scrub_reference.rs");
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9._~-]{0,20}",
            "[0-9]{0,22}",
            "[0-9a-fA-F:.]{0,40}",
            "[a-zA-Z0-9@:._%+/=-]{0,40}",
            "(%[0-9a-fA-F]{2}|[a-z0-9@.:]){0,20}",
            "[0-9]{0,12}:[a-zA-Z0-9-]{0,70}",
            "eyJ[a-zA-Z0-9_.-]{0,30}",
            "[0-9a-f]{24}",
            any::<std::net::IpAddr>().prop_map(|ip| ip.to_string()),
            "\\PC{0,20}",
            // Around the lengths the byte-class fast paths decide on.
            "[a-zA-Z0-9._~-]{14,18}",
            "[0-9a-fA-F]{22,26}",
            "[0-9]{1,3}|[0-9]{14,26}",
            "[0-9a-fA-F-]{34,38}",
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-fA-F]{4}-[0-9a-f]{4}-[0-9a-f]{11,13}",
            "[a-zA-Z0-9_+/=~-]{12,20}",
            "[a-z0-9_.~-]{1,12}@[a-z0-9_.~-]{0,12}",
            "[0-9]{0,4}[.:][0-9a-f.:]{0,16}",
            "eyJ[a-zA-Z0-9_-]{0,6}(\\.[a-zA-Z0-9_-]{0,6}){0,3}",
            "[a-z]{0,6}[%:@.][a-z0-9]{0,6}",
        ]
    }

    proptest! {
        #[test]
        fn classify_matches_the_reference(seg in segment()) {
            prop_assert_eq!(is_email(&seg), reference::is_email(&seg));
            prop_assert_eq!(is_account_id(&seg), reference::is_account_id(&seg));
            prop_assert_eq!(is_jwt(&seg), reference::is_jwt(&seg));
            prop_assert_eq!(classify(&seg), reference::classify(&seg));
            prop_assert_eq!(classify_value(&seg), reference::classify_value(&seg));
        }

        #[test]
        fn scrubbing_matches_the_reference(segs in proptest::collection::vec(segment(), 0..40), lead in any::<bool>()) {
            let raw = format!("{}{}", if lead { "/" } else { "" }, segs.join("/"));
            let s = scrub_path(&raw);
            let (path, account_id) = reference::scrub_path(&raw);
            prop_assert_eq!(&s.path, &path);
            prop_assert_eq!(s.account_id.map(Cow::into_owned), account_id);
        }

        #[test]
        fn fast_classification_matches_the_full_one(s in "[a-zA-Z0-9@:._%+/=-]{0,40}|\\PC{0,40}") {
            prop_assert_eq!(classify_value(&s), classify_value_full(&s));
        }

        #[test]
        fn scrubbed_paths_hold_no_control_or_escape(raw in "(/[\\PC%\u{0}-\u{1f}\u{85}\u{2028}]{0,20}){0,8}") {
            let s = scrub_path(&raw).path;
            prop_assert!(s.starts_with('/'));
            prop_assert!(!s.contains('%'));
            let ok = s.chars().all(|c| !c.is_control() && c != '\u{2028}');
            prop_assert!(ok);
        }
    }
}
