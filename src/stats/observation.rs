//! The fields of one record that statistics use, parsed from an NDJSON line
//! without building a full `Record`.

use std::borrow::Cow;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Record, SCHEMA_VERSION};

/// What statistics need from one record, borrowed from a line or a [`Record`].
///
/// Strings are borrowed from the line whenever they contain no JSON escape,
/// so parsing a line allocates nothing in the common case.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Observation<'a> {
    /// Request start, milliseconds since the Unix epoch (UTC).
    pub ts_ms: i64,
    /// HTTP method.
    pub method: Cow<'a, str>,
    /// Route template when known.
    pub route: Option<Cow<'a, str>>,
    /// Scrubbed path.
    pub path: Cow<'a, str>,
    /// Response status, `None` without a response.
    pub status: Option<u16>,
    /// Request body bytes.
    pub req_bytes: u64,
    /// Response body bytes.
    pub resp_bytes: u64,
    /// Request start to last byte, microseconds.
    pub duration_us: u64,
    /// Account pseudonym.
    pub account: Option<Cow<'a, str>>,
    /// Tenant pseudonym.
    pub tenant: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Line<'a> {
    v: u32,
    #[serde(borrow)]
    ts: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    route: Option<Cow<'a, str>>,
    #[serde(borrow)]
    path: Cow<'a, str>,
    #[serde(default)]
    status: Option<u16>,
    req_bytes: u64,
    resp_bytes: u64,
    duration_us: u64,
    #[serde(borrow, default)]
    account: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tenant: Option<Cow<'a, str>>,
}

impl<'a> Observation<'a> {
    /// Parses one NDJSON record line (schema v1). `None` for anything that is
    /// not a complete v1 record: torn, damaged, another schema version.
    pub fn parse(line: &'a [u8]) -> Option<Self> {
        let l: Line<'a> = serde_json::from_slice(line).ok()?;
        if l.v != SCHEMA_VERSION {
            return None;
        }
        Some(Observation {
            ts_ms: parse_ts_ms(&l.ts)?,
            method: l.method,
            route: l.route,
            path: l.path,
            status: l.status,
            req_bytes: l.req_bytes,
            resp_bytes: l.resp_bytes,
            duration_us: l.duration_us,
            account: l.account,
            tenant: l.tenant,
        })
    }

    /// The observation of a record.
    pub fn from_record(r: &'a Record) -> Self {
        let nanos = r.ts.unix_timestamp_nanos();
        Observation {
            ts_ms: i64::try_from(nanos.div_euclid(1_000_000)).unwrap_or(0),
            method: Cow::Borrowed(&r.method),
            route: r.route.as_deref().map(Cow::Borrowed),
            path: Cow::Borrowed(&r.path),
            status: r.status,
            req_bytes: r.req_bytes,
            resp_bytes: r.resp_bytes,
            duration_us: r.duration_us,
            account: r.account.as_deref().map(Cow::Borrowed),
            tenant: r.tenant.as_deref().map(Cow::Borrowed),
        }
    }

    /// The route template, or the scrubbed path when there is none: the key
    /// statistics group by.
    pub fn route_or_path(&self) -> &str {
        self.route.as_deref().unwrap_or(&self.path)
    }
}

/// Parses an RFC 3339 timestamp into Unix milliseconds. The form privlog
/// writes (`2026-11-22T09:30:00.123Z`) takes a fast path.
pub(crate) fn parse_ts_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
    {
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let mut v = 0i64;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + i64::from(c - b'0');
            }
            Some(v)
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
        if (1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && sec < 61 {
            let days = days_from_civil(y, mo, d);
            return Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms);
        }
        return None;
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_written_record_parses_back_to_its_fields() {
        let mut r = Record::new(time::macros::datetime!(2026-11-22 09:30:00.123 UTC), "GET", "/a/{uuid}");
        r.route = Some("/a/{id}".into());
        r.status = Some(404);
        r.req_bytes = 7;
        r.resp_bytes = 9;
        r.duration_us = 1234;
        r.account = Some("acc_x\"y".into());
        let line = r.to_ndjson();
        let o = Observation::parse(line.trim_end().as_bytes()).expect("parses");
        assert_eq!(o, Observation::from_record(&r));
    }

    #[test]
    fn torn_lines_and_other_schemas_are_rejected() {
        let line = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/").to_ndjson();
        assert!(Observation::parse(line[..line.len() / 2].as_bytes()).is_none());
        let v2 = line.replacen("{\"v\":1", "{\"v\":2", 1);
        assert!(Observation::parse(v2.as_bytes()).is_none());
        assert!(Observation::parse(b"not json").is_none());
    }

    #[test]
    fn other_rfc3339_forms_are_accepted() {
        assert_eq!(parse_ts_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_ts_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_ts_ms("1970-13-01T00:00:00.000Z"), None);
    }

    proptest! {
        #[test]
        fn fast_timestamp_path_agrees_with_the_time_crate(secs in 0i64..8_000_000_000, ms in 0i64..1000) {
            let t = OffsetDateTime::from_unix_timestamp(secs).expect("in range") + time::Duration::milliseconds(ms);
            let line = Record::new(t, "GET", "/").to_ndjson();
            let o = Observation::parse(line.as_bytes()).expect("parses");
            prop_assert_eq!(o.ts_ms, secs * 1000 + ms);
        }
    }
}
