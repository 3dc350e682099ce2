//! A hand-written NDJSON encoder for [`Record`].
//!
//! The worker encodes millions of records per second; a fixed field order and a
//! branch-light string check keep that cheap. The encoder never trusts its
//! input: every string is escaped (control characters, `"`, `\`, DEL, C1,
//! U+2028/9) and capped, so the output is one valid JSON object per line even
//! for a `Record` built by hand. The one exception is text the sanitizer made
//! itself on the records of a batch (names, addresses, pseudonyms, a scrubbed
//! path), which it vouches for and the encoder copies as it is; see
//! `Vouched`.
//!
//! The constant text between two values is written in one piece together with
//! the quotes around them (a string's closing quote starts the next piece, and
//! `null` joins the piece after it), and numbers are written with their key, so
//! most fields cost one length check and one copy.

use std::cell::Cell;

use time::{Date, OffsetDateTime, Time, UtcOffset};

use super::{Outcome, Record};

/// The longest string (in bytes) any record field is written with; longer values
/// are cut at a character boundary and end in `…`.
pub const MAX_FIELD_LEN: usize = 2048;

/// Appends `record` to `out` as one JSON object followed by `\n`.
pub fn write_ndjson(record: &Record, out: &mut Vec<u8>) {
    let generated = record.vouched.generated();
    write_head(record.v, record.ts, out);
    match record.client.as_deref() {
        Some(s) => {
            out.extend_from_slice(b"\",\"client\":\"");
            write_vouched(s, generated, out);
            out.extend_from_slice(b"\",\"method\":\"");
        }
        None => out.extend_from_slice(b"\",\"client\":null,\"method\":\""),
    }
    write_vouched(&record.method, generated, out);
    match record.route.as_deref() {
        Some(s) => {
            out.extend_from_slice(b"\",\"route\":\"");
            write_body(s, out);
            out.extend_from_slice(b"\",\"path\":\"");
        }
        None => out.extend_from_slice(b"\",\"route\":null,\"path\":\""),
    }
    write_vouched(&record.path, generated && record.route.is_none(), out);
    match (record.query.as_deref(), record.status) {
        (Some(q), status) => {
            out.extend_from_slice(b"\",\"query\":\"");
            write_body(q, out);
            match status {
                Some(s) => write_key_u64(b"\",\"status\":", u64::from(s), out),
                None => out.extend_from_slice(b"\",\"status\":null"),
            }
        }
        (None, Some(s)) => write_key_u64(b"\",\"query\":null,\"status\":", u64::from(s), out),
        (None, None) => out.extend_from_slice(b"\",\"query\":null,\"status\":null"),
    }
    write_key_u64(b",\"req_bytes\":", record.req_bytes, out);
    write_key_u64(b",\"resp_bytes\":", record.resp_bytes, out);
    match record.ttfb_us {
        Some(t) => write_key_u64(b",\"ttfb_us\":", t, out),
        None => out.extend_from_slice(b",\"ttfb_us\":null"),
    }
    write_key_u64(b",\"duration_us\":", record.duration_us, out);
    match record.outcome {
        Outcome::Completed => out.extend_from_slice(b",\"outcome\":\"completed\",\"proto\":\""),
        Outcome::Aborted => out.extend_from_slice(b",\"outcome\":\"aborted\",\"proto\":\""),
        Outcome::Error => out.extend_from_slice(b",\"outcome\":\"error\",\"proto\":\""),
    }
    write_vouched(&record.proto, generated, out);
    match record.account.as_deref() {
        Some(s) => {
            out.extend_from_slice(b"\",\"account\":\"");
            write_vouched(s, generated, out);
            out.extend_from_slice(b"\",\"account_src\":");
        }
        None => out.extend_from_slice(b"\",\"account\":null,\"account_src\":"),
    }
    match record.account_src {
        Some(src) => {
            out.push(b'"');
            out.extend_from_slice(src.as_str().as_bytes());
            out.extend_from_slice(b"\",\"tenant\":");
        }
        None => out.extend_from_slice(b"null,\"tenant\":"),
    }
    match record.tenant.as_deref() {
        Some(s) => {
            out.push(b'"');
            write_vouched(s, generated, out);
            out.extend_from_slice(b"\",\"epoch\":\"");
        }
        None => out.extend_from_slice(b"null,\"epoch\":\""),
    }
    write_vouched(&record.epoch, generated, out);
    out.extend_from_slice(b"\",\"kid\":\"");
    write_vouched(&record.kid, generated, out);
    match record.sample_rate {
        Some(rate) => {
            out.extend_from_slice(b"\",\"sample_rate\":");
            out.extend_from_slice(rate.to_string().as_bytes());
            out.extend_from_slice(b"}\n");
        }
        None => out.extend_from_slice(b"\"}\n"),
    }
}

/// Writes `{"v":…,"ts":"…` up to the timestamp's last character.
fn write_head(v: u32, ts: OffsetDateTime, out: &mut Vec<u8>) {
    let ts = ts_text(ts);
    match u8::try_from(v) {
        Ok(v @ 0..=9) => {
            let mut head = *b"{\"v\":0,\"ts\":\"YYYY-MM-DDTHH:MM:SS.mmmZ";
            head[5] = b'0' + v;
            head[13..].copy_from_slice(&ts);
            out.extend_from_slice(&head);
        }
        _ => {
            out.extend_from_slice(b"{\"v\":");
            write_u64(u64::from(v), out);
            out.extend_from_slice(b",\"ts\":\"");
            out.extend_from_slice(&ts);
        }
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
#[cfg(any(test, feature = "http"))]
pub(crate) fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    write_body(s, out);
    out.push(b'"');
}

/// Writes the inside of the JSON string for `s`: escaped and capped at
/// [`MAX_FIELD_LEN`], without the quotes.
///
/// Most strings are short printable ASCII without quotes or backslashes. Up
/// to 32 bytes, they are read as two overlapping words or blocks, checked,
/// and written as those two pieces, each a copy of a fixed size (shorter than
/// a copy of the exact length, which calls `memcpy`). No shift depends on
/// the length, so the compiler does not make a copy of the code per length.
#[inline(always)]
fn write_body(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let len = bytes.len();
    // Two overlapping pieces of a fixed size: the head, cut back to where
    // the tail starts, then the tail. Both are checked before either is
    // written.
    match len {
        0 => return,
        1 => {
            if let [b] = bytes
                && escape_hits(u64::from(*b) | SPACES << 8) == 0
            {
                out.push(*b);
                return;
            }
        }
        2..=3 => {
            if let (Some(head), Some(tail)) = (bytes.first_chunk::<2>(), bytes.last_chunk::<2>()) {
                let (h, t) = (u16::from_le_bytes(*head), u16::from_le_bytes(*tail));
                if escape_hits(u64::from(h) | u64::from(t) << 16 | SPACES << 32) == 0 {
                    write_overlapping(head, tail, len, out);
                    return;
                }
            }
        }
        4..=8 => {
            if let (Some(head), Some(tail)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
                let (h, t) = (u32::from_le_bytes(*head), u32::from_le_bytes(*tail));
                if escape_hits(u64::from(h) | u64::from(t) << 32) == 0 {
                    write_overlapping(head, tail, len, out);
                    return;
                }
            }
        }
        9..=16 => {
            if let (Some(head), Some(tail)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>())
                && escape_hits(u64::from_le_bytes(*head)) | escape_hits(u64::from_le_bytes(*tail)) == 0
            {
                write_overlapping(head, tail, len, out);
                return;
            }
        }
        17..=32 => {
            if let (Some(head), Some(tail)) = (bytes.first_chunk::<16>(), bytes.last_chunk::<16>())
                && !block_hits(head)
                && !block_hits(tail)
            {
                write_overlapping(head, tail, len, out);
                return;
            }
        }
        _ => {}
    }
    write_body_long(s, out);
}

/// [`write_body`] for a field the record may vouch for (see
/// [`Vouched`](super::Vouched)): a vouched string is copied as it is, within
/// the length cap.
#[inline(always)]
fn write_vouched(s: &str, vouched: bool, out: &mut Vec<u8>) {
    if vouched && s.len() <= MAX_FIELD_LEN {
        debug_assert!(escapes_nothing(s.as_bytes()), "vouched text needs escaping: {s:?}");
        out.extend_from_slice(s.as_bytes());
    } else {
        write_body(s, out);
    }
}

/// Whether the escaper writes `bytes` unchanged.
fn escapes_nothing(bytes: &[u8]) -> bool {
    let mut escaped = Vec::with_capacity(bytes.len());
    write_escaped(bytes, &mut escaped);
    escaped == bytes
}

/// Appends the `len` bytes whose first `N` are `head` and last `N` are
/// `tail` (`N <= len <= 2 * N`), as two copies of a fixed size.
#[inline(always)]
fn write_overlapping<const N: usize>(head: &[u8; N], tail: &[u8; N], len: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(head);
    out.truncate(start + len - N);
    out.extend_from_slice(tail);
}

const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);

/// [`write_body`] for text longer than 32 bytes or with a byte to escape.
#[inline(never)]
fn write_body_long(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    // Up to 64 bytes: two overlapping halves of 32, written one after the
    // other with the overlap cut off in between.
    if let (33..=64, Some(head), Some(tail)) = (bytes.len(), bytes.first_chunk::<32>(), bytes.last_chunk::<32>())
        && !(pair_hits(head) || pair_hits(tail))
    {
        let start = out.len();
        out.extend_from_slice(head);
        out.truncate(start + bytes.len() - 32);
        out.extend_from_slice(tail);
        return;
    }
    let (s, cut) = cap(s, MAX_FIELD_LEN);
    let bytes = s.as_bytes();
    if is_plain(bytes) {
        out.extend_from_slice(bytes);
    } else {
        write_escaped(bytes, out);
    }
    if cut {
        out.extend_from_slice("…".as_bytes());
    }
}

/// Whether `bytes` is printable ASCII without `"` or `\\` (nothing to escape).
///
/// Short strings are read as two overlapping words (bytes read twice change
/// nothing), longer ones sixteen bytes at a time with an overlapping last block.
#[inline]
fn is_plain(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len > 16 {
        // `any` rather than a fold: a fold is vectorized across blocks, byte
        // by byte, which is much slower for the short strings of a record.
        let (blocks, _) = bytes.as_chunks::<16>();
        return !blocks.iter().any(block_hits) && bytes.last_chunk::<16>().is_some_and(|last| !block_hits(last));
    }
    if len >= 8 {
        let (Some(head), Some(tail)) = (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) else {
            return false;
        };
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(head);
        block[8..].copy_from_slice(tail);
        return !block_hits(&block);
    }
    let word = if len >= 4 {
        let (Some(head), Some(tail)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) else {
            return false;
        };
        u64::from(u32::from_le_bytes(*head)) | u64::from(u32::from_le_bytes(*tail)) << 32
    } else {
        // Up to three bytes, padded with spaces, which need no escaping.
        let at = |i: usize| bytes.get(i).copied().unwrap_or(b' ');
        u64::from_le_bytes([
            at(0),
            at(len / 2),
            at(len.wrapping_sub(1)),
            b' ',
            b' ',
            b' ',
            b' ',
            b' ',
        ])
    };
    escape_hits(word) == 0
}

/// Whether a byte of `block` needs escaping; written so that it compiles to a
/// few vector compares.
#[inline]
fn block_hits(block: &[u8; 16]) -> bool {
    // As `i8`, the bytes below 0x20 and those from 0x80 on are less than 0x20.
    block.iter().fold(false, |hit, &b| {
        hit | ((b as i8) < 0x20) | (b == 0x7f) | (b == b'"') | (b == b'\\')
    })
}

/// Whether a byte of `pair` needs escaping.
#[inline(always)]
fn pair_hits(pair: &[u8; 32]) -> bool {
    let (low, high) = pair.split_at(16);
    match (<&[u8; 16]>::try_from(low), <&[u8; 16]>::try_from(high)) {
        (Ok(low), Ok(high)) => block_hits(low) | block_hits(high),
        _ => true,
    }
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

/// `'0'` in every byte of a word.
const ASCII_ZEROS: u64 = u64::from_ne_bytes([b'0'; 8]);

/// The eight decimal digits of `n` (below 10^8), most significant first, as
/// the values 0 to 9 in the bytes of a little-endian word.
///
/// Splits into two halves of four digits, then pairs, then digits, all halves
/// at once in the lanes of one word (each lane is wide enough for its products).
fn digit_values(n: u32) -> u64 {
    let halves = u64::from(n / 10_000) | u64::from(n % 10_000) << 32;
    // `x * 10_486 >> 20` is `x / 100` for every x below 10^4.
    let high_pairs = ((halves * 10_486) >> 20) & (0x7f << 32 | 0x7f);
    let pairs = (halves - high_pairs * 100) << 16 | high_pairs;
    // `x * 103 >> 10` is `x / 10` for every x below 100.
    let tens = ((pairs * 103) >> 10) & 0x000f_000f_000f_000f;
    (pairs - tens * 10) << 8 | tens
}

/// The four decimal digits of `n` (below 10^4) as the values 0 to 9 in the
/// bytes of a little-endian word, as [`digit_values`] does for eight.
fn digit_values4(n: u32) -> u32 {
    // `x * 5_243 >> 19` is `x / 100` for every x below 10^4.
    let high = (n * 5_243) >> 19;
    let pairs = (n - high * 100) << 16 | high;
    let tens = ((pairs * 103) >> 10) & 0x000f_000f;
    (pairs - tens * 10) << 8 | tens
}

/// The digits of `n` (below 10^8) without leading zeros in the low bytes of
/// a little-endian word, and how many there are.
fn trimmed8(n: u32) -> (u64, usize) {
    let digits = digit_values(n);
    // Leading zeros are the low zero bytes; zero itself keeps one digit.
    let zeros = (digits.trailing_zeros() / 8).min(7);
    ((digits | ASCII_ZEROS) >> (zeros * 8), 8 - zeros as usize)
}

/// Appends `key` and the decimal digits of `n`.
#[inline(always)]
fn write_key_u64<const K: usize>(key: &[u8; K], n: u64, out: &mut Vec<u8>) {
    const { assert!(K <= 24, "the key and eight digits must fit the buffer") };
    let mut buf = [0u8; 32];
    buf[..K].copy_from_slice(key);
    let len = if n < 10_000 {
        let digits = digit_values4(n as u32);
        let zeros = (digits.trailing_zeros() / 8).min(3);
        buf[K..K + 4].copy_from_slice(&((digits | 0x3030_3030) >> (zeros * 8)).to_le_bytes());
        4 - zeros as usize
    } else if n < 100_000_000 {
        let (digits, len) = trimmed8(n as u32);
        buf[K..K + 8].copy_from_slice(&digits.to_le_bytes());
        len
    } else {
        return write_key_long(key, n, out);
    };
    // A copy of a fixed size is cheaper than one of the exact length; the
    // bytes past the digits are cut off again.
    let start = out.len();
    out.extend_from_slice(&buf[..K + 8]);
    out.truncate(start + K + len);
}

/// [`write_key_u64`] for numbers of nine digits or more.
#[inline(never)]
fn write_key_long(key: &[u8], n: u64, out: &mut Vec<u8>) {
    const E8: u64 = 100_000_000;
    let (high, low) = (n / E8, (n % E8) as u32);
    // `u64::MAX` has 20 digits: at most four above the lower sixteen.
    let (top, middle) = if high < E8 {
        (high as u32, None)
    } else {
        ((high / E8) as u32, Some((high % E8) as u32))
    };
    let (top, len) = trimmed8(top);
    out.extend_from_slice(key);
    out.extend_from_slice(top.to_le_bytes().get(..len).unwrap_or_default());
    if let Some(middle) = middle {
        out.extend_from_slice(&(digit_values(middle) | ASCII_ZEROS).to_le_bytes());
    }
    out.extend_from_slice(&(digit_values(low) | ASCII_ZEROS).to_le_bytes());
}

/// Appends the decimal digits of `n`.
pub(crate) fn write_u64(n: u64, out: &mut Vec<u8>) {
    write_key_u64(&[], n, out);
}

/// Writes `ts` as RFC 3339 UTC with millisecond precision: `2026-11-22T09:30:00.123Z`.
pub(crate) fn write_ts(ts: OffsetDateTime, out: &mut Vec<u8>) {
    out.extend_from_slice(&ts_text(ts));
}

/// `ts` as RFC 3339 UTC with millisecond precision, years clamped to 0000..=9999.
#[inline(always)]
fn ts_text(ts: OffsetDateTime) -> [u8; 24] {
    let (date, time) = if ts.offset() == UtcOffset::UTC {
        (ts.date(), ts.time())
    } else {
        to_utc(ts)
    };
    let second = (date, time.hour(), time.minute(), time.second());
    // Records come in time order: the text up to the second is made once a
    // second (per thread) and reused; only the milliseconds are new.
    let mut text = LAST_SECOND
        .try_with(|last| match last.get() {
            (Some(key), text) if key == second => text,
            _ => {
                let text = second_text(second);
                last.set((Some(second), text));
                text
            }
        })
        .unwrap_or_else(|_| second_text(second));
    // "mmmZ" from the digits "0mmm".
    let milli = (digit_values4(u32::from(time.millisecond())) | 0x3030_3030) >> 8 | u32::from(b'Z') << 24;
    text[20..].copy_from_slice(&milli.to_le_bytes());
    text
}

/// The UTC date and time of `ts`, which has another offset.
#[inline(never)]
fn to_utc(ts: OffsetDateTime) -> (Date, Time) {
    match ts.checked_to_offset(UtcOffset::UTC) {
        Some(utc) => (utc.date(), utc.time()),
        // In UTC the instant is past the last or before the first date the
        // time crate represents: written as the nearest instant of the range.
        None if ts.year() > 0 => (Date::MAX, Time::MAX),
        None => (Date::MIN, Time::MIDNIGHT),
    }
}

/// A UTC date, hour, minute and second.
type Second = (Date, u8, u8, u8);

thread_local! {
    /// The last second [`ts_text`] wrote on this thread and its text.
    static LAST_SECOND: Cell<(Option<Second>, [u8; 24])> = const { Cell::new((None, [0; 24])) };
}

/// `YYYY-MM-DDTHH:MM:SS.` followed by four bytes to overwrite, for the given
/// second, years clamped to 0000..=9999.
#[inline(never)]
fn second_text((date, hour, minute, second): Second) -> [u8; 24] {
    let (year, month, day) = date.to_calendar_date();
    let year = year.clamp(0, 9999) as u32;
    let ymd = digit_values(year * 10_000 + u32::from(u8::from(month)) * 100 + u32::from(day)) | ASCII_ZEROS;
    let hms = digit_values(u32::from(hour) * 10_000 + u32::from(minute) * 100 + u32::from(second)) | ASCII_ZEROS;
    let byte = |b: u8| u64::from(b);
    let words = [
        // YYYY-MM-
        ymd & 0xffff_ffff | byte(b'-') << 32 | (ymd >> 32 & 0xffff) << 40 | byte(b'-') << 56,
        // DDTHH:MM (the digits of `hms` are "00HHMMSS")
        ymd >> 48 | byte(b'T') << 16 | (hms >> 16 & 0xffff) << 24 | byte(b':') << 40 | (hms >> 32 & 0xffff) << 48,
        // :SS.
        byte(b':') | (hms >> 48) << 8 | byte(b'.') << 24,
    ];
    let mut text = [0u8; 24];
    for (dst, word) in text.as_chunks_mut::<8>().0.iter_mut().zip(words) {
        *dst = word.to_le_bytes();
    }
    text
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
        r.account = Some("acc".into());
        r.account_src = Some(crate::AccountSource::Jwt);
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
            out.extend_from_slice(b",\"account_src\":");
            write_opt_str(record.account_src.map(|s| s.as_str()), out);
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
            out.push(b'"');
            write_body(s, out);
            out.push(b'"');
        }

        pub(super) fn write_body(s: &str, out: &mut Vec<u8>) {
            let (s, cut) = super::super::cap(s, MAX_FIELD_LEN);
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
        pub(super) fn write_ts(ts: OffsetDateTime, out: &mut Vec<u8>) {
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

    /// Strings around the lengths where the string writer changes method
    /// (1, 2, 4, 8, 9, 16, 17, 32, 33, 64 bytes and the cap), with every kind of byte
    /// that needs escaping, anywhere in them.
    fn text_strategy() -> impl proptest::strategy::Strategy<Value = String> + Clone {
        use proptest::prelude::*;
        prop_oneof![
            "[ -~]{0,40}",
            "\\PC{0,20}",
            "[\u{0}-\u{a0}\u{2028}\u{2029}\"\\\\]{0,20}",
            "[ -~]{0,32}[\u{0}-\u{1f}\u{7f}-\u{a0}\u{2028}\u{2029}\"\\\\é€😀]?[ -~]{0,32}",
            "[a-z/{}_]{0,3000}",
            "[aé€😀]{2040,2060}",
        ]
    }

    fn record_strategy() -> impl proptest::strategy::Strategy<Value = Record> {
        use proptest::prelude::*;
        let text = text_strategy();
        let number = || {
            prop_oneof![
                0u64..10,
                0u64..20_000,
                99_999_990u64..100_000_010,
                9_999_999_999_999_990u64..10_000_000_000_000_010,
                u64::MAX - 10..=u64::MAX,
                any::<u64>(),
            ]
        };
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
            (number(), number(), proptest::option::of(number()), number()),
            (
                proptest::option::of(text.clone()),
                proptest::option::of(text.clone()),
                text.clone(),
                text,
            ),
            (
                prop_oneof![Just(crate::record::SCHEMA_VERSION), any::<u32>()],
                prop_oneof![Just(Outcome::Completed), Just(Outcome::Aborted), Just(Outcome::Error)],
                prop_oneof![Just(0i32), -86_399i32..86_400],
                proptest::option::of(proptest::sample::select(vec![
                    crate::AccountSource::App,
                    crate::AccountSource::Jwt,
                    crate::AccountSource::Header,
                    crate::AccountSource::Query,
                    crate::AccountSource::Path,
                ])),
            ),
        )
            .prop_map(
                |(
                    (secs, nanos, method, path, route),
                    (client, query, status),
                    (req, resp, ttfb, dur),
                    (account, tenant, epoch, kid),
                    (v, outcome, offset, account_src),
                )| {
                    let ts = OffsetDateTime::from_unix_timestamp(secs % 253_402_300_799)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
                        .replace_nanosecond(nanos)
                        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                    // The same instant seen from another offset, when that is representable.
                    let ts = UtcOffset::from_whole_seconds(offset)
                        .ok()
                        .and_then(|offset| ts.checked_to_offset(offset))
                        .unwrap_or(ts);
                    let mut r = Record::new(ts, &method, &path);
                    r.v = v;
                    r.route = route;
                    r.client = client;
                    r.query = query;
                    r.status = status;
                    r.req_bytes = req;
                    r.resp_bytes = resp;
                    r.ttfb_us = ttfb;
                    r.duration_us = dur;
                    r.outcome = outcome;
                    r.account = account;
                    r.account_src = account_src;
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
        fn integers_are_written_as_the_reference_writes_them(
            n in proptest::prop_oneof![
                0u64..20_000,
                99_999_990u64..100_000_010,
                9_999_999_999_999_990u64..10_000_000_000_000_010,
                u64::MAX - 10..=u64::MAX,
                proptest::arbitrary::any::<u64>(),
            ]
        ) {
            let mut fast = b"x".to_vec();
            write_u64(n, &mut fast);
            proptest::prop_assert_eq!(fast, format!("x{n}").into_bytes());
            let mut keyed = b"x".to_vec();
            write_key_u64(b",\"query\":null,\"status\":", n, &mut keyed);
            proptest::prop_assert_eq!(keyed, format!("x,\"query\":null,\"status\":{n}").into_bytes());
        }

        /// Timestamps close together, as a worker writes them: the text kept
        /// from the last second must never leak into another second.
        #[test]
        fn timestamps_in_a_row_are_written_as_the_reference_writes_them(
            start in 0i64..253_402_300_000,
            steps in proptest::collection::vec(
                proptest::prop_oneof![0i64..2_000, 0i64..100_000_000, -100_000i64..0],
                1..40,
            ),
        ) {
            let mut ms = start * 1000;
            for step in steps {
                ms = (ms + step).clamp(0, 253_402_300_799_999);
                let ts = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH);
                let mut fast = Vec::new();
                write_ts(ts, &mut fast);
                let mut slow = Vec::new();
                reference::write_ts(ts, &mut slow);
                proptest::prop_assert_eq!(fast, slow);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_fast_path_writes_what_the_escaper_writes(s in "[ -~]{0,48}|\\PC{0,40}|[ -~\u{0}-\u{a0}\u{2028}\u{2029}]{0,48}") {
            let mut fast = Vec::new();
            write_str(&s, &mut fast);
            let mut slow = vec![b'"'];
            write_escaped(s.as_bytes(), &mut slow);
            slow.push(b'"');
            proptest::prop_assert_eq!(&fast, &slow);
            let back: String = serde_json::from_slice(&fast).expect("valid JSON string");
            proptest::prop_assert_eq!(back, s);
        }

        #[test]
        fn string_writer_matches_the_reference_at_every_length(s in text_strategy(), prefix in "[ -~]{0,3}") {
            // Written after other text, as in a record: the fixed-size copies
            // must leave what came before alone and cut exactly.
            let mut fast = prefix.clone().into_bytes();
            write_body(&s, &mut fast);
            let mut slow = prefix.into_bytes();
            reference::write_body(&s, &mut slow);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn digit_words_are_the_decimal_digits() {
        for n in (0..100_000_000)
            .step_by(9_973)
            .chain(0..10_000)
            .chain(99_990_000..100_000_000)
        {
            let digits = (digit_values(n) | ASCII_ZEROS).to_le_bytes();
            assert_eq!(digits, *format!("{n:08}").as_bytes(), "{n}");
        }
        for n in 0..10_000 {
            let digits = (digit_values4(n) | 0x3030_3030).to_le_bytes();
            assert_eq!(digits, *format!("{n:04}").as_bytes(), "{n}");
        }
    }

    #[test]
    fn instants_outside_the_utc_range_are_written_as_its_ends() {
        use time::{PrimitiveDateTime, Time};
        let write = |ts: OffsetDateTime| {
            let mut out = Vec::new();
            write_ts(ts, &mut out);
            String::from_utf8(out).unwrap_or_default()
        };
        let offset = |h| UtcOffset::from_hms(h, 0, 0).unwrap_or(UtcOffset::UTC);
        let last = PrimitiveDateTime::new(Date::MAX, Time::MAX).assume_offset(offset(-1));
        assert_eq!(write(last), "9999-12-31T23:59:59.999Z");
        let first = PrimitiveDateTime::new(Date::MIN, Time::MIDNIGHT).assume_offset(offset(1));
        assert_eq!(write(first), "0000-01-01T00:00:00.000Z");
    }

    #[test]
    fn timestamp_is_rfc3339_utc_millis() {
        let mut out = Vec::new();
        write_ts(rec().ts, &mut out);
        assert_eq!(std::str::from_utf8(&out).ok(), Some("2026-11-18T11:06:40.123Z"));
    }
}
