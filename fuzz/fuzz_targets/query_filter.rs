//! Query filtering: only allowlisted keys survive, values stay clean and
//! bounded, nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privlog::QueryPolicy;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let policy = QueryPolicy::drop_all().allow(["page", "q", "lang"]).deny(["q"]);
    if let Some(out) = policy.filter(&raw) {
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
        assert!(
            out.len() <= privlog::policy::MAX_QUERY_LEN,
            "query is {} bytes",
            out.len()
        );
    }
    assert!(QueryPolicy::drop_all().filter(&raw).is_none());
});
