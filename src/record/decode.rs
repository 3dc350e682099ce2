//! Decoding record lines: one NDJSON line back into a [`Record`], and the
//! longest line a record can be, which bounds every reader of record lines.

use super::{MAX_FIELD_LEN, Record};

/// The string fields of a schema v1 record line whose length a writer caps
/// at [`MAX_FIELD_LEN`]: `client`, `method`, `route`, `path`, `query`,
/// `proto`, `account`, `tenant`, `epoch` and `kid`.
const CAPPED_STRING_FIELDS: usize = 10;

/// The most bytes one capped string field can take in a line: every byte of
/// the capped value escaped as `\u00XX` (six bytes), then the `…` that marks
/// the cut.
const MAX_ESCAPED_FIELD: usize = 6 * MAX_FIELD_LEN + "…".len();

/// Room for everything else in a line: the keys and punctuation, the numbers
/// (at most 20 digits each), the timestamp, the outcome, and spaces or a
/// `\r` another writer may add.
const FIXED_PART: usize = 1024;

/// The longest line a record can be, without its line end: 123 934 bytes.
///
/// Derived from the schema: every capped string field at its cap with each
/// byte escaped, plus the fixed part. Real records are a few hundred bytes. A
/// longer line cannot be a record: readers of record lines pass over it
/// without holding it in memory and count it as one damaged line, and the
/// spool refuses a frame longer than it.
pub const MAX_LINE_LEN: usize = CAPPED_STRING_FIELDS * MAX_ESCAPED_FIELD + FIXED_PART;

/// Parses one NDJSON line (without its line end, or with surrounding
/// whitespace) as a record.
///
/// ```
/// let line = privlog::Record::new(time::OffsetDateTime::UNIX_EPOCH, "GET", "/").to_ndjson();
/// let back = privlog::record::parse_line(line.trim_end().as_bytes())?;
/// assert_eq!(back.path, "/");
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// # Errors
/// The parse error (never contains more than the position of the problem).
pub fn parse_line(line: &[u8]) -> Result<Record, serde_json::Error> {
    serde_json::from_slice(line)
}

/// The longest record there can be: every capped field at its cap, each
/// byte escaped six times over, every number at its largest.
#[cfg(test)]
pub(crate) fn worst_case_record() -> Record {
    let worst = "\u{1}".repeat(2 * MAX_FIELD_LEN);
    let mut r = Record::new(time::OffsetDateTime::UNIX_EPOCH, worst.clone(), worst.clone());
    r.v = u32::MAX;
    r.ts = time::macros::datetime!(9999-12-31 23:59:59.999 UTC);
    r.client = Some(worst.clone());
    r.route = Some(worst.clone());
    r.query = Some(worst.clone());
    r.status = Some(u16::MAX);
    r.req_bytes = u64::MAX;
    r.resp_bytes = u64::MAX;
    r.ttfb_us = Some(u64::MAX);
    r.duration_us = u64::MAX;
    r.proto = worst.clone();
    r.account = Some(worst.clone());
    r.tenant = Some(worst.clone());
    r.epoch = worst.clone();
    r.kid = worst;
    r.sample_rate = crate::record::SampleRate::new(0.000_001);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_record_is_longer_than_the_limit() {
        let line = worst_case_record().to_ndjson();
        let body = line.trim_end_matches('\n');
        assert!(
            body.len() > MAX_LINE_LEN - FIXED_PART,
            "the worst case is {} bytes",
            body.len()
        );
        assert!(body.len() <= MAX_LINE_LEN, "a record of {} bytes", body.len());
    }
}
