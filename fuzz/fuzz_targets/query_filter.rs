//! Query filtering: only allowlisted keys survive, values stay clean and
//! bounded, nothing panics, and the output is what the filtering before the
//! byte-table scan returned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privlog::QueryPolicy;
use privlog::policy::{CompiledRules, MAX_QUERY_LEN, classify_value, detect, sanitize_text};

/// The filtering the byte-table scan replaced, shared with the crate's unit
/// tests.
mod reference {
    include!("../../src/policy/query_reference.rs");
}

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let policy = QueryPolicy::drop_all().allow(["page", "q", "lang"]).deny(["q"]);
    let filtered = policy.filter(&raw);
    assert_eq!(filtered, reference::filter(&policy, &raw), "query {raw:?}");
    let connect = privlog::Policy::atlassian_connect();
    let connect = connect.get_query();
    assert_eq!(connect.filter(&raw), reference::filter(connect, &raw), "query {raw:?}");
    if let Some(out) = filtered {
        for pair in out.split('&') {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            assert!(
                key == "page" || key == "lang",
                "key {key:?} off the allowlist in {out:?}"
            );
        }
        assert!(
            out.chars()
                .all(|c| !c.is_control() && c != '\u{2028}' && c != '\u{2029}'),
            "control character in {out:?}"
        );
        assert!(out.len() <= MAX_QUERY_LEN, "query is {} bytes", out.len());
    }
    assert!(QueryPolicy::drop_all().filter(&raw).is_none());
});
