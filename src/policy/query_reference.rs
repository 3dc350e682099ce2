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
        let placeholder = classify_value(&value).map(|p| p.as_str()).or_else(|| named(&value, rules));
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

/// What a detector or rule names in `value`, its words or (up to three layers
/// in all) its further percent-decodings.
fn named<'r>(value: &str, rules: &'r CompiledRules) -> Option<&'r str> {
    let mut layer = value.to_owned();
    for _ in 0..3 {
        let whole = detect::detect(&layer)
            .map(|k| k.placeholder())
            .or_else(|| rules.placeholder_for(&layer));
        if whole.is_some() {
            return whole;
        }
        let words: Vec<&str> = layer
            .split(|c: char| c.is_whitespace() || "/?#&=,;()<>\"'|".contains(c))
            .filter(|w| !w.is_empty())
            .collect();
        if words.len() > 1 || words.first().is_some_and(|w| *w != layer) {
            for word in words {
                match detect::detect(word) {
                    Some(detect::Kind::Number) => {}
                    Some(k) => return Some(k.placeholder()),
                    None => {
                        if let Some(p) = rules.placeholder_for(word) {
                            return Some(p);
                        }
                    }
                }
            }
        }
        let next = percent_decode_str(&layer).decode_utf8_lossy().into_owned();
        if next == layer {
            break;
        }
        layer = next;
    }
    None
}
