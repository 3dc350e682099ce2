//! A hand-written NDJSON encoder for [`Record`].
//!
//! The worker encodes millions of records per second; a fixed field order and a
//! branch-light string escaper keep that cheap. The encoder never trusts its
//! input: every string is escaped (control characters, `"`, `\`, DEL, C1,
//! U+2028/9) and capped, so the output is one valid JSON object per line even
//! for a `Record` built by hand.

use time::{OffsetDateTime, UtcOffset};

use super::Record;

/// The longest string (in bytes) any record field is written with; longer values
/// are cut at a character boundary and end in `…`.
pub const MAX_FIELD_LEN: usize = 2048;

/// Appends `record` to `out` as one JSON object followed by `\n`.
pub fn write_ndjson(record: &Record, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"v\":");
    write_u64(u64::from(record.v), out);
    out.extend_from_slice(b",\"ts\":\"");
    write_ts(record.ts, out);
    out.extend_from_slice(b"\",\"client\":");
    write_opt_str(record.client.as_deref(), out);
    out.extend_from_slice(b",\"method\":");
    write_str(&record.method, out);
    out.extend_from_slice(b",\"route\":");
    write_opt_str(record.route.as_deref(), out);
    out.extend_from_slice(b",\"path\":");
    write_str(&record.path, out);
    out.extend_from_slice(b",\"query\":");
    write_opt_str(record.query.as_deref(), out);
    out.extend_from_slice(b",\"status\":");
    match record.status {
        Some(s) => write_u64(u64::from(s), out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"req_bytes\":");
    write_u64(record.req_bytes, out);
    out.extend_from_slice(b",\"resp_bytes\":");
    write_u64(record.resp_bytes, out);
    out.extend_from_slice(b",\"ttfb_us\":");
    match record.ttfb_us {
        Some(t) => write_u64(t, out),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"duration_us\":");
    write_u64(record.duration_us, out);
    out.extend_from_slice(b",\"outcome\":\"");
    out.extend_from_slice(record.outcome.as_str().as_bytes());
    out.extend_from_slice(b"\",\"proto\":");
    write_str(&record.proto, out);
    out.extend_from_slice(b",\"account\":");
    write_opt_str(record.account.as_deref(), out);
    out.extend_from_slice(b",\"tenant\":");
    write_opt_str(record.tenant.as_deref(), out);
    out.extend_from_slice(b",\"epoch\":");
    write_str(&record.epoch, out);
    out.extend_from_slice(b",\"kid\":");
    write_str(&record.kid, out);
    out.extend_from_slice(b"}\n");
}

fn write_opt_str(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) => write_str(s, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary.
pub(crate) fn cap(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// Writes `s` as a JSON string, escaped and capped at [`MAX_FIELD_LEN`].
pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    let (s, cut) = cap(s, MAX_FIELD_LEN);
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most strings are printable ASCII without quotes or backslashes: one
    // branch-free pass decides, and they are copied whole.
    if is_plain(bytes) {
        out.extend_from_slice(bytes);
    } else {
        write_escaped(bytes, out);
    }
    if cut {
        out.extend_from_slice("…".as_bytes());
    }
    out.push(b'"');
}

/// Whether `bytes` is printable ASCII without `"` or `\\` (nothing to escape),
/// checked eight bytes at a time.
fn is_plain(bytes: &[u8]) -> bool {
    let word = |chunk: &[u8]| {
        let mut w = [b' '; 8];
        if let Some(dst) = w.get_mut(..chunk.len()) {
            dst.copy_from_slice(chunk);
        }
        escape_hits(u64::from_le_bytes(w))
    };
    if bytes.len() <= 8 {
        // Padded with spaces, which need no escaping.
        return word(bytes) == 0;
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut hits = 0u64;
    for chunk in chunks.by_ref() {
        hits |= word(chunk);
    }
    if !chunks.remainder().is_empty() {
        // The last eight bytes, overlapping bytes already checked.
        hits |= word(bytes.get(bytes.len() - 8..).unwrap_or(&[]));
    }
    hits == 0
}

/// Non-zero when a byte of `w` needs escaping: a byte's high bit is set when
/// it is below 0x20, 0x7f or above, `"` or `\\`. Borrows and carries only
/// spread from a byte that is itself a hit, so the result is exact.
fn escape_hits(w: u64) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES * 0x80;
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    (w.wrapping_sub(ONES * 0x20) & !w
        | (w.wrapping_add(ONES) | w)
        | quote.wrapping_sub(ONES) & !quote
        | backslash.wrapping_sub(ONES) & !backslash)
        & HIGH
}

/// Appends the bytes of a string, escaping what JSON or a log viewer must not see raw.
fn write_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x00..=0x1f | 0x7f => Some(b""),
            // C1 controls (U+0080..U+009F) are encoded as 0xC2 0x80..0x9F.
            0xc2 if matches!(bytes.get(i + 1), Some(0x80..=0x9f)) => Some(b""),
            // U+2028 / U+2029 are 0xE2 0x80 0xA8 / 0xA9.
            0xe2 if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) => Some(b""),
            _ => None,
        };
        if let Some(esc) = esc {
            out.extend_from_slice(&bytes[start..i]);
            if esc.is_empty() {
                // Escape the code point as \u00XX (or \u2028 / \u2029).
                let (cp, width) = match b {
                    0xc2 => (u32::from(bytes[i + 1]), 2),
                    0xe2 => (0x2000 + u32::from(bytes[i + 2]) - 0x80, 3),
                    _ => (u32::from(b), 1),
                };
                out.extend_from_slice(b"\\u");
                for shift in [12u32, 8, 4, 0] {
                    out.push(HEX[((cp >> shift) & 0xf) as usize]);
                }
                i += width;
            } else {
                out.extend_from_slice(esc);
                i += 1;
            }
            start = i;
            continue;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// "00" to "99", for writing two digits at a time.
const DIGITS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// The two ASCII digits of `n % 100`.
fn two_digits(n: u32) -> [u8; 2] {
    let i = (n % 100) as usize * 2;
    [DIGITS[i], DIGITS[i + 1]]
}

pub(crate) fn write_u64(mut n: u64, out: &mut Vec<u8>) {
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while n >= 100 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&two_digits((n % 100) as u32));
        n /= 100;
    }
    if n >= 10 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&two_digits(n as u32));
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Writes `ts` as RFC 3339 UTC with millisecond precision: `2026-11-22T09:30:00.123Z`.
pub(crate) fn write_ts(ts: OffsetDateTime, out: &mut Vec<u8>) {
    let ts = ts.to_offset(UtcOffset::UTC);
    let year = ts.year().clamp(0, 9999) as u32;
    let ms = u32::from(ts.millisecond());
    let [y0, y1] = two_digits(year / 100);
    let [y2, y3] = two_digits(year);
    let [mo0, mo1] = two_digits(u32::from(u8::from(ts.month())));
    let [d0, d1] = two_digits(u32::from(ts.day()));
    let [h0, h1] = two_digits(u32::from(ts.hour()));
    let [mi0, mi1] = two_digits(u32::from(ts.minute()));
    let [s0, s1] = two_digits(u32::from(ts.second()));
    let [ms1, ms2] = two_digits(ms);
    let ms0 = b'0' + (ms / 100 % 10) as u8;
    out.extend_from_slice(&[
        y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0, s1, b'.', ms0, ms1, ms2,
        b'Z',
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Outcome;

    fn rec() -> Record {
        let mut r = Record::new(
            OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_123_456_789).unwrap_or(OffsetDateTime::UNIX_EPOCH),
            "GET",
            "/a",
        );
        r.status = Some(200);
        r.outcome = Outcome::Aborted;
        r
    }

    #[test]
    fn encoder_output_parses_back_to_the_same_record() {
        let mut r = rec();
        r.path = "/x\"y\\z\u{1b}[31m\u{2028}\u{85}\u{7f}\r\n".into();
        r.client = Some("203.0.113.0/24".into());
        let line = r.to_ndjson();
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1);
        let back: Record = serde_json::from_str(&line).expect("valid json");
        // the timestamp is written with millisecond precision
        let mut expected = r.clone();
        expected.ts = expected.ts.replace_nanosecond(123_000_000).expect("valid");
        assert_eq!(back, expected);
        assert!(!line.contains('\u{2028}') && !line.contains('\u{85}') && !line.contains('\u{1b}'));
    }

    #[test]
    fn long_fields_are_capped_at_a_char_boundary() {
        let mut r = rec();
        r.path = "é".repeat(MAX_FIELD_LEN);
        let back: Record = serde_json::from_str(&r.to_ndjson()).expect("valid json");
        assert!(back.path.len() <= MAX_FIELD_LEN + "…".len());
        assert!(back.path.ends_with('…'));
    }

    /// The encoder before the word-at-a-time string check and the digit
    /// tables, kept as the reference: the output must not change by a byte.
    mod reference {
        use time::{OffsetDateTime, UtcOffset};

        use super::super::{MAX_FIELD_LEN, Record};

        pub(super) fn write_ndjson(record: &Record, out: &mut Vec<u8>) {
            out.extend_from_slice(b"{\"v\":");
            write_u64(u64::from(record.v), out);
            out.extend_from_slice(b",\"ts\":\"");
            write_ts(record.ts, out);
            out.extend_from_slice(b"\",\"client\":");
            write_opt_str(record.client.as_deref(), out);
            out.extend_from_slice(b",\"method\":");
            write_str(&record.method, out);
            out.extend_from_slice(b",\"route\":");
            write_opt_str(record.route.as_deref(), out);
            out.extend_from_slice(b",\"path\":");
            write_str(&record.path, out);
            out.extend_from_slice(b",\"query\":");
            write_opt_str(record.query.as_deref(), out);
            out.extend_from_slice(b",\"status\":");
            match record.status {
                Some(s) => write_u64(u64::from(s), out),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"req_bytes\":");
            write_u64(record.req_bytes, out);
            out.extend_from_slice(b",\"resp_bytes\":");
            write_u64(record.resp_bytes, out);
            out.extend_from_slice(b",\"ttfb_us\":");
            match record.ttfb_us {
                Some(t) => write_u64(t, out),
                None => out.extend_from_slice(b"null"),
            }
            out.extend_from_slice(b",\"duration_us\":");
            write_u64(record.duration_us, out);
            out.extend_from_slice(b",\"outcome\":\"");
            out.extend_from_slice(record.outcome.as_str().as_bytes());
            out.extend_from_slice(b"\",\"proto\":");
            write_str(&record.proto, out);
            out.extend_from_slice(b",\"account\":");
            write_opt_str(record.account.as_deref(), out);
            out.extend_from_slice(b",\"tenant\":");
            write_opt_str(record.tenant.as_deref(), out);
            out.extend_from_slice(b",\"epoch\":");
            write_str(&record.epoch, out);
            out.extend_from_slice(b",\"kid\":");
            write_str(&record.kid, out);
            out.extend_from_slice(b"}\n");
        }

        fn write_opt_str(s: Option<&str>, out: &mut Vec<u8>) {
            match s {
                Some(s) => write_str(s, out),
                None => out.extend_from_slice(b"null"),
            }
        }

        fn write_str(s: &str, out: &mut Vec<u8>) {
            let (s, cut) = super::super::cap(s, MAX_FIELD_LEN);
            out.push(b'"');
            let bytes = s.as_bytes();
            // Most strings are printable ASCII without quotes or backslashes: one
            // branch-free pass decides, and they are copied whole.
            let plain = bytes.iter().fold(true, |ok, &b| {
                ok & (0x20..0x7f).contains(&b) & (b != b'"') & (b != b'\\')
            });
            if plain {
                out.extend_from_slice(bytes);
            } else {
                super::super::write_escaped(bytes, out);
            }
            if cut {
                out.extend_from_slice("…".as_bytes());
            }
            out.push(b'"');
        }

        fn write_u64(mut n: u64, out: &mut Vec<u8>) {
            let mut buf = [0u8; 20];
            let mut i = buf.len();
            loop {
                i -= 1;
                buf[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            out.extend_from_slice(&buf[i..]);
        }

        fn write_padded(n: u32, width: usize, out: &mut Vec<u8>) {
            let mut buf = [b'0'; 10];
            let mut n = n;
            for slot in buf[..width].iter_mut().rev() {
                *slot = b'0' + (n % 10) as u8;
                n /= 10;
            }
            out.extend_from_slice(&buf[..width]);
        }

        // Writes `ts` as RFC 3339 UTC with millisecond precision: `2026-11-22T09:30:00.123Z`.
        fn write_ts(ts: OffsetDateTime, out: &mut Vec<u8>) {
            let ts = ts.to_offset(UtcOffset::UTC);
            let year = ts.year().clamp(0, 9999) as u32;
            write_padded(year, 4, out);
            out.push(b'-');
            write_padded(u32::from(u8::from(ts.month())), 2, out);
            out.push(b'-');
            write_padded(u32::from(ts.day()), 2, out);
            out.push(b'T');
            write_padded(u32::from(ts.hour()), 2, out);
            out.push(b':');
            write_padded(u32::from(ts.minute()), 2, out);
            out.push(b':');
            write_padded(u32::from(ts.second()), 2, out);
            out.push(b'.');
            write_padded(u32::from(ts.millisecond()), 3, out);
            out.push(b'Z');
        }
    }

    fn record_strategy() -> impl proptest::strategy::Strategy<Value = Record> {
        use proptest::prelude::*;
        let text = prop_oneof![
            "[ -~]{0,40}",
            "\\PC{0,20}",
            "[\u{0}-\u{a0}\u{2028}\u{2029}\"\\\\]{0,20}",
            "[a-z/{}_]{0,3000}",
        ];
        (
            (
                any::<i64>(),
                0u32..1_000_000_000u32,
                text.clone(),
                text.clone(),
                proptest::option::of(text.clone()),
            ),
            (
                proptest::option::of(text.clone()),
                proptest::option::of(text.clone()),
                proptest::option::of(any::<u16>()),
            ),
            (
                any::<u64>(),
                prop_oneof![0u64..10, 0u64..1000, any::<u64>()],
                proptest::option::of(any::<u64>()),
                any::<u64>(),
            ),
            (
                proptest::option::of(text.clone()),
                proptest::option::of(text.clone()),
                text.clone(),
                text,
            ),
        )
            .prop_map(
                |(
                    (secs, nanos, method, path, route),
                    (client, query, status),
                    (req, resp, ttfb, dur),
                    (account, tenant, epoch, kid),
                )| {
                    let ts = OffsetDateTime::from_unix_timestamp(secs % 253_402_300_799)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
                        .replace_nanosecond(nanos)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                    let mut r = Record::new(ts, &method, &path);
                    r.route = route;
                    r.client = client;
                    r.query = query;
                    r.status = status;
                    r.req_bytes = req;
                    r.resp_bytes = resp;
                    r.ttfb_us = ttfb;
                    r.duration_us = dur;
                    r.account = account;
                    r.tenant = tenant;
                    r.epoch = epoch;
                    r.kid = kid;
                    r
                },
            )
    }

    proptest::proptest! {
        #[test]
        fn output_is_byte_for_byte_the_reference_encoders(r in record_strategy()) {
            let mut fast = Vec::new();
            write_ndjson(&r, &mut fast);
            let mut slow = Vec::new();
            reference::write_ndjson(&r, &mut slow);
            proptest::prop_assert_eq!(fast, slow);
        }

        #[test]
        fn integers_are_written_as_the_reference_writes_them(n in proptest::prop_oneof![0u64..1000, proptest::arbitrary::any::<u64>()]) {
            let mut fast = Vec::new();
            write_u64(n, &mut fast);
            proptest::prop_assert_eq!(fast, n.to_string().into_bytes());
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_fast_path_writes_what_the_escaper_writes(s in "[ -~]{0,40}|\\PC{0,40}|[\u{0}-\u{a0}\u{2028}\u{2029}]{0,20}") {
            let mut fast = Vec::new();
            write_str(&s, &mut fast);
            let mut slow = vec![b'"'];
            write_escaped(s.as_bytes(), &mut slow);
            slow.push(b'"');
            proptest::prop_assert_eq!(&fast, &slow);
            let back: String = serde_json::from_slice(&fast).expect("valid JSON string");
            proptest::prop_assert_eq!(back, s);
        }
    }

    #[test]
    fn timestamp_is_rfc3339_utc_millis() {
        let mut out = Vec::new();
        write_ts(rec().ts, &mut out);
        assert_eq!(std::str::from_utf8(&out).ok(), Some("2026-11-18T11:06:40.123Z"));
    }
}
