//! What a record line must look like on the wire.

/// Asserts that `line` is what a record must look like on the wire: one JSON
/// object, one line, capped, no raw control characters, and no control
/// characters (C0, DEL, C1, U+2028/9, ESC) in any decoded string value.
pub fn assert_clean_line(line: &str, max_len: usize) {
    assert!(line.ends_with('\n'), "record line must end in a newline: {line:?}");
    assert_eq!(line.matches('\n').count(), 1, "one line per record: {line:?}");
    assert!(
        line.len() <= max_len,
        "record line is {} bytes, cap {max_len}",
        line.len()
    );
    assert!(
        line.trim_end_matches('\n').chars().all(|c| !is_unsafe(c)),
        "raw control character in {line:?}"
    );
    let v: serde_json::Value = serde_json::from_str(line).expect("record line is valid JSON");
    let obj = v.as_object().expect("record line is a JSON object");
    for (k, v) in obj {
        if let Some(s) = v.as_str() {
            assert!(
                s.chars().all(|c| !is_unsafe(c)),
                "control character in field {k}: {s:?}"
            );
            assert!(
                s.len() <= privlog::record::MAX_FIELD_LEN + '…'.len_utf8(),
                "field {k} is {} bytes, over the cap",
                s.len()
            );
        }
    }
}

pub fn is_unsafe(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// The longest record line the built-in encoder can produce: every string
/// field capped at `MAX_FIELD_LEN` bytes, escaped (at most 6 output bytes per
/// input byte), plus the fixed keys and numbers.
pub fn max_line_len() -> usize {
    // 8 string fields that carry request-derived text, conservatively.
    8 * (privlog::record::MAX_FIELD_LEN * 6 + 8) + 1024
}
