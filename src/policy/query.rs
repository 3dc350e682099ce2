use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use super::scrub::{classify_value, sanitize_text};

/// Which query parameters reach the `query` field.
///
/// Everything is dropped unless its key is allowlisted; a denied key is never
/// logged even if it is also allowlisted. Allowlisted values that look like
/// personal data or secrets (e-mails, account IDs, tokens) are still replaced
/// with placeholders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryPolicy {
    allow: Vec<String>,
    deny: Vec<String>,
}

/// The longest `query` value written.
pub const MAX_QUERY_LEN: usize = 512;

impl QueryPolicy {
    /// Drops every query parameter (the default).
    pub fn drop_all() -> Self {
        Self::default()
    }

    /// Keeps the parameters with these keys (exact, case-sensitive).
    pub fn allow<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allow.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Never keeps these keys, whatever the allowlist says.
    pub fn deny<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.deny.extend(keys.into_iter().map(Into::into));
        self
    }

    /// The allowlisted keys.
    pub fn allowed(&self) -> &[String] {
        &self.allow
    }

    /// The denied keys.
    pub fn denied(&self) -> &[String] {
        &self.deny
    }

    /// Filters a raw query string; `None` when nothing is kept.
    pub fn filter(&self, raw: &str) -> Option<String> {
        let mut out = String::new();
        self.filter_into(raw, &mut out).then_some(out)
    }

    /// [`QueryPolicy::filter`] appending the kept pairs to `out` (a buffer
    /// the caller reuses); returns whether any pair was kept.
    pub(crate) fn filter_into(&self, raw: &str, out: &mut String) -> bool {
        if self.allow.is_empty() {
            return false;
        }
        let start = out.len();
        let mut rest = Some(raw);
        for _ in 0..64 {
            let Some(current) = rest else { break };
            let (pair, next) = split_at(current, b'&');
            rest = next;
            let (k, v) = split_at(pair, b'=');
            let key = decode(k);
            if !self.allow.iter().any(|a| *a == key) || self.deny.iter().any(|d| *d == key) {
                continue;
            }
            let value = decode(v.unwrap_or(""));
            let value: Cow<'_, str> = match classify_value(&value) {
                Some(p) => Cow::Borrowed(p.as_str()),
                None => sanitize_text(&value, 128),
            };
            let mark = out.len();
            if mark > start {
                out.push('&');
            } else {
                out.reserve(raw.len().min(MAX_QUERY_LEN));
            }
            out.push_str(&sanitize_text(&key, 64));
            out.push('=');
            push_escaped(&value, out);
            // Whole pairs only: a pair cut at the cap would leave a key that is
            // not on the allowlist or half an escape. (One pair is at most
            // 64 + 1 + 3 × 128 bytes, always under the cap.)
            if out.len() - start > MAX_QUERY_LEN {
                out.truncate(mark);
                break;
            }
        }
        out.len() > start
    }

    /// The value of the first parameter named `key` (decoded), for account sources.
    pub(crate) fn find<'a>(raw: &'a str, key: &str) -> Option<Cow<'a, str>> {
        raw.split('&').take(256).find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (decode(k) == key).then(|| decode(v))
        })
    }
}

/// `s` split at the first `sep`: what is before it, and what is after it if
/// there was one. Pairs and keys are short, so a plain loop does.
fn split_at(s: &str, sep: u8) -> (&str, Option<&str>) {
    match s.bytes().position(|b| b == sep) {
        // `sep` is ASCII, so both sides are on character boundaries.
        Some(at) => (s.get(..at).unwrap_or(""), s.get(at + 1..)),
        None => (s, None),
    }
}

/// Appends `value`, re-encoding `&`, `=` and `%` so the output stays unambiguous.
fn push_escaped(value: &str, out: &mut String) {
    let mut start = 0;
    for (i, b) in value.bytes().enumerate() {
        let esc = match b {
            b'&' => "%26",
            b'=' => "%3D",
            b'%' => "%25",
            _ => continue,
        };
        out.push_str(value.get(start..i).unwrap_or(""));
        out.push_str(esc);
        start = i + 1;
    }
    out.push_str(value.get(start..).unwrap_or(""));
}

/// `s` with `+` as space and percent-escapes decoded (lossily).
#[inline(always)]
fn decode(s: &str) -> Cow<'_, str> {
    // Most keys and values hold nothing to decode.
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    decode_escaped(s)
}

#[inline(never)]
fn decode_escaped(s: &str) -> Cow<'_, str> {
    if s.contains('+') {
        let replaced = s.replace('+', " ");
        Cow::Owned(percent_decode_str(&replaced).decode_utf8_lossy().into_owned())
    } else {
        percent_decode_str(s).decode_utf8_lossy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowlisted_keys_survive() {
        let q = QueryPolicy::drop_all().allow(["lic", "cv", "jwt"]).deny(["jwt"]);
        assert_eq!(
            q.filter("xdm_e=https%3A%2F%2Facme.atlassian.net&lic=active&cv=1.2&jwt=eyJ.x.y&q=secret")
                .as_deref(),
            Some("lic=active&cv=1.2")
        );
        assert_eq!(QueryPolicy::default().filter("a=b"), None);
    }

    #[test]
    fn allowlisted_values_are_still_scrubbed() {
        let q = QueryPolicy::drop_all().allow(["user", "x"]);
        assert_eq!(
            q.filter("user=jane%40example.com&x=a%26b").as_deref(),
            Some("user={email}&x=a%26b")
        );
    }

    #[test]
    fn the_cap_keeps_whole_allowlisted_pairs_only() {
        let p = QueryPolicy::drop_all().allow(["page", "lang"]);
        let raw = format!("page=a{}&lang={}&page=x", "=".repeat(120), "%3D".repeat(120));
        let out = p.filter(&raw).expect("kept");
        assert!(out.len() <= MAX_QUERY_LEN);
        for pair in out.split('&') {
            let (k, v) = pair.split_once('=').expect("key=value");
            assert!(k == "page" || k == "lang", "{k:?} in {out:?}");
            assert!(!v.ends_with('%') && !v.ends_with("%3"), "escape cut in {v:?}");
        }
    }

    /// Filtering before pairs were split with byte loops, kept as the reference.
    fn filter_reference(p: &QueryPolicy, raw: &str) -> Option<String> {
        if p.allow.is_empty() {
            return None;
        }
        let mut out = String::new();
        let mut kept = String::new();
        for pair in raw.split('&').take(64) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode_reference(k);
            if !p.allow.iter().any(|a| *a == key) || p.deny.iter().any(|d| *d == key) {
                continue;
            }
            let value = decode_reference(v);
            let value: Cow<'_, str> = match classify_value(&value) {
                Some(p) => Cow::Borrowed(p.as_str()),
                None => sanitize_text(&value, 128),
            };
            kept.clear();
            kept.push_str(&sanitize_text(&key, 64));
            kept.push('=');
            let mut rest = value.as_ref();
            while let Some(at) = rest.find(['&', '=', '%']) {
                kept.push_str(&rest[..at]);
                kept.push_str(match rest.as_bytes()[at] {
                    b'&' => "%26",
                    b'=' => "%3D",
                    _ => "%25",
                });
                rest = &rest[at + 1..];
            }
            kept.push_str(rest);
            let sep = usize::from(!out.is_empty());
            if out.len() + sep + kept.len() > MAX_QUERY_LEN {
                break;
            }
            if sep == 1 {
                out.push('&');
            }
            out.push_str(&kept);
        }
        (!out.is_empty()).then_some(out)
    }

    /// The decoding before the fast path, kept as the reference.
    fn decode_reference(s: &str) -> Cow<'_, str> {
        if s.contains('+') {
            let replaced = s.replace('+', " ");
            Cow::Owned(percent_decode_str(&replaced).decode_utf8_lossy().into_owned())
        } else {
            percent_decode_str(s).decode_utf8_lossy()
        }
    }

    fn query() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("lic".to_owned()),
            Just("cv".to_owned()),
            Just("jwt".to_owned()),
            Just("l%69c".to_owned()),
            Just("c+v".to_owned()),
            Just("c v".to_owned()),
            "[a-z%+&=]{0,4}",
        ];
        let value = prop_oneof![
            "[a-z0-9.]{0,12}",
            "[a-zA-Z0-9@:._%+=&-]{0,40}",
            Just("jane%40example.com".to_owned()),
            Just("a%26b%3Dc%25".to_owned()),
            Just("%E2%80%A8%1b[31m%00".to_owned()),
            "[=]{0,130}",
            "\\PC{0,20}",
        ];
        let pair = (key, proptest::option::of(value)).prop_map(|(k, v)| v.map_or(k.clone(), |v| format!("{k}={v}")));
        proptest::collection::vec(pair, 0..80).prop_map(|pairs| pairs.join("&"))
    }

    proptest::proptest! {
        #[test]
        fn filtering_matches_the_reference(raw in query()) {
            let p = QueryPolicy::drop_all().allow(["lic", "cv", "jwt", "c v"]).deny(["jwt"]);
            proptest::prop_assert_eq!(p.filter(&raw), filter_reference(&p, &raw));
        }

        #[test]
        fn decoding_matches_the_reference(s in "[a-z%+0-9A-F&=]{0,24}|\\PC{0,24}") {
            proptest::prop_assert_eq!(decode(&s), decode_reference(&s));
        }

        #[test]
        fn separators_in_kept_values_are_reencoded(v in "[a-z&=%+ ]{0,24}") {
            let raw = format!("k={}", v.replace('%', "%25").replace('&', "%26").replace('=', "%3D"));
            let mut want = String::from("k=");
            for c in v.replace('+', " ").chars() {
                match c {
                    '&' => want.push_str("%26"),
                    '=' => want.push_str("%3D"),
                    '%' => want.push_str("%25"),
                    c => want.push(c),
                }
            }
            let p = QueryPolicy::drop_all().allow(["k"]);
            proptest::prop_assert_eq!(p.filter(&raw), Some(want));
        }
    }

    #[test]
    fn filter_into_appends_to_the_buffer() {
        let p = QueryPolicy::drop_all().allow(["lic"]);
        let mut out = String::from("x");
        assert!(p.filter_into("a=1&lic=active", &mut out));
        assert_eq!(out, "xlic=active");
        assert!(!p.filter_into("a=1", &mut out));
        assert_eq!(out, "xlic=active");
    }

    #[test]
    fn find_decodes() {
        assert_eq!(QueryPolicy::find("a=1&jwt=t%2Bk", "jwt").as_deref(), Some("t+k"));
    }
}
