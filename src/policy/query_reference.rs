// Query filtering before the byte-table scan: split, decode, compare,
// classify, sanitize and escape each pair in turn. What it returns is what
// `QueryPolicy::filter` must return. Test code only, included (`include!`)
// into a `reference` module by the unit tests of `query.rs` and by the
// `query_filter` fuzz target; the parent module has `QueryPolicy`,
// `MAX_QUERY_LEN`, `classify_value` and `sanitize_text` in scope.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use super::{CompiledRules, MAX_QUERY_LEN, QueryPolicy, classify_value, detect, sanitize_text};

/// The query `p` keeps of `raw`, if any.
pub(super) fn filter(p: &QueryPolicy, raw: &str) -> Option<String> {
    filter_with(p, &CompiledRules::empty(), raw)
}

/// The query `p` keeps of `raw` with operator `rules`, if any.
pub(super) fn filter_with(p: &QueryPolicy, rules: &CompiledRules, raw: &str) -> Option<String> {
    if p.allowed().is_empty() {
        return None;
    }
    let mut out = String::new();
    let mut kept = String::new();
    for pair in raw.split('&').take(64) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(k);
        if !p.allowed().iter().any(|a| *a == key) || p.denied().iter().any(|d| *d == key) {
            continue;
        }
        let value = decode(v);
        let placeholder = classify_value(&value)
            .map(|p| p.as_str())
            .or_else(|| detect::detect(&value).map(|k| k.placeholder()))
            .or_else(|| rules.placeholder_for(&value));
        let value: Cow<'_, str> = match placeholder {
            Some(p) => Cow::Borrowed(p),
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

/// `s` with `+` as space and percent-escapes decoded (lossily).
pub(super) fn decode(s: &str) -> Cow<'_, str> {
    if s.contains('+') {
        let replaced = s.replace('+', " ");
        Cow::Owned(percent_decode_str(&replaced).decode_utf8_lossy().into_owned())
    } else {
        percent_decode_str(s).decode_utf8_lossy()
    }
}
