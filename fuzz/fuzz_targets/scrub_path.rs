//! Path scrubbing: any request path scrubs to a short, clean path without
//! panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privlog::policy::{MAX_SEGMENTS, classify_value, sanitize_text, scrub_path};

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
    let _ = classify_value(&raw);
    let t = sanitize_text(&raw, 64);
    assert!(t.len() <= 64 && clean(&t));
});
