//! Path scrubbing: any request path scrubs to a short, clean path without
//! panicking, and exactly as the split-and-decode implementation the byte-class
//! fast paths replaced.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privlog::policy::{
    MAX_SEGMENT_LEN, MAX_SEGMENTS, Placeholder, classify_segment, classify_value, is_token, is_uuid, sanitize_text,
    scrub_path,
};

/// The scrubbing the fast paths replaced, shared with the crate's unit tests.
mod reference {
    include!("../../src/policy/scrub_reference.rs");
}

fn clean(s: &str) -> bool {
    s.chars().all(|c| !c.is_control() && c != '\u{2028}' && c != '\u{2029}')
}

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let s = scrub_path(&raw);
    assert!(
        s.path.starts_with('/'),
        "scrubbed path {:?} lost its leading slash",
        s.path
    );
    assert!(!s.path.contains('%'), "percent-encoding survived in {:?}", s.path);
    assert!(clean(&s.path), "control character in {:?}", s.path);
    assert!(s.path.matches('/').count() <= MAX_SEGMENTS + 1);
    let (path, account_id) = reference::scrub_path(&raw);
    assert_eq!(s.path, path, "path {raw:?}");
    assert_eq!(s.account_id.map(|a| a.into_owned()), account_id, "path {raw:?}");
    assert_eq!(classify_segment(&raw), reference::classify(&raw), "segment {raw:?}");
    assert_eq!(classify_value(&raw), reference::classify_value(&raw), "value {raw:?}");
    let t = sanitize_text(&raw, 64);
    assert!(t.len() <= 64 && clean(&t));
});
