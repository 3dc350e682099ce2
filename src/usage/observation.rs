//! The fields of one record that statistics use, parsed from an NDJSON line
//! without building a full `Record`.

use std::borrow::Cow;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{AccountSource, Record, SCHEMA_VERSION};

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
    /// Where the account came from; `None` when the record does not say
    /// (or names a source privlog does not know), which vouches for nothing.
    pub account_src: Option<AccountSource>,
    /// Tenant pseudonym.
    pub tenant: Option<Cow<'a, str>>,
    /// The key period the pseudonyms belong to (`2026-11`, `static`), or
    /// `None` when the record does not say.
    pub epoch: Option<Cow<'a, str>>,
    /// The fingerprint of the key the pseudonyms were made with, or `None`
    /// when the record does not say.
    pub kid: Option<Cow<'a, str>>,
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
    #[serde(default, deserialize_with = "crate::record::deserialize_account_source")]
    account_src: Option<AccountSource>,
    #[serde(borrow, default)]
    tenant: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    epoch: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
}

impl<'a> Observation<'a> {
    /// Parses one NDJSON record line (schema v1). `None` for anything that is
    /// not a complete v1 record: torn, damaged, another schema version.
    pub fn parse(line: &'a [u8]) -> Option<Self> {
        // privlog writes fields in one fixed order without whitespace; a
        // scanner for exactly that layout is several times faster than a
        // general JSON parser. Anything else (escapes, another order, other
        // writers) takes the general path.
        let text = std::str::from_utf8(line).ok()?;
        if let Some(o) = Scanner::new(text).canonical() {
            return Some(o);
        }
        Self::parse_general(line)
    }

    fn parse_general(line: &'a [u8]) -> Option<Self> {
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
            account_src: l.account_src,
            tenant: l.tenant,
            epoch: l.epoch,
            kid: l.kid,
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
            account_src: r.account_src,
            tenant: r.tenant.as_deref().map(Cow::Borrowed),
            epoch: Some(Cow::Borrowed(&r.epoch)),
            kid: Some(Cow::Borrowed(&r.kid)),
        }
    }

    /// The route template, or the scrubbed path when there is none: the key
    /// statistics group by.
    pub fn route_or_path(&self) -> &str {
        self.route.as_deref().unwrap_or(&self.path)
    }

    /// The account when the application vouched for it
    /// ([`AccountSource::App`]); accounts the request only claimed (a JWT
    /// read without verification, a header, a query parameter, a path) are
    /// `None` here.
    pub fn vouched_account(&self) -> Option<&str> {
        self.account
            .as_deref()
            .filter(|_| self.account_src.is_some_and(AccountSource::is_vouched))
    }
}

/// Reads a line in the exact layout of privlog's NDJSON encoder.
struct Scanner<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(s: &'a str) -> Self {
        Scanner { s, pos: 0 }
    }

    #[inline]
    fn lit(&mut self, lit: &str) -> Option<()> {
        if self.s.as_bytes().get(self.pos..self.pos + lit.len())? == lit.as_bytes() {
            self.pos += lit.len();
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes or control characters.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        let b = self.s.as_bytes();
        if b.get(self.pos) != Some(&b'"') {
            return None;
        }
        let start = self.pos + 1;
        let i = start + find_special(b.get(start..)?)?;
        if b[i] != b'"' {
            return None;
        }
        self.pos = i + 1;
        // Both ends are ASCII quotes, so these are character boundaries.
        self.s.get(start..i)
    }

    #[inline]
    fn opt_string(&mut self) -> Option<Option<&'a str>> {
        if self.lit("null").is_some() {
            return Some(None);
        }
        self.string().map(Some)
    }

    #[inline]
    fn number(&mut self) -> Option<u64> {
        let b = self.s.as_bytes();
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(&c) = b.get(self.pos) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
            self.pos += 1;
        }
        // JSON numbers have no leading zeros.
        let len = self.pos - start;
        if len == 0 || (len > 1 && b[start] == b'0') {
            return None;
        }
        Some(v)
    }

    #[inline]
    fn opt_number(&mut self) -> Option<Option<u64>> {
        if self.lit("null").is_some() {
            return Some(None);
        }
        self.number().map(Some)
    }

    fn canonical(&mut self) -> Option<Observation<'a>> {
        self.lit("{\"v\":1,\"ts\":")?;
        let ts_ms = parse_ts_ms(self.string()?)?;
        self.lit(",\"client\":")?;
        self.opt_string()?;
        self.lit(",\"method\":")?;
        let method = self.string()?;
        self.lit(",\"route\":")?;
        let route = self.opt_string()?;
        self.lit(",\"path\":")?;
        let path = self.string()?;
        self.lit(",\"query\":")?;
        self.opt_string()?;
        self.lit(",\"status\":")?;
        let status = match self.opt_number()? {
            Some(n) => Some(u16::try_from(n).ok()?),
            None => None,
        };
        self.lit(",\"req_bytes\":")?;
        let req_bytes = self.number()?;
        self.lit(",\"resp_bytes\":")?;
        let resp_bytes = self.number()?;
        self.lit(",\"ttfb_us\":")?;
        self.opt_number()?;
        self.lit(",\"duration_us\":")?;
        let duration_us = self.number()?;
        self.lit(",\"outcome\":")?;
        self.string()?;
        self.lit(",\"proto\":")?;
        self.string()?;
        self.lit(",\"account\":")?;
        let account = self.opt_string()?;
        // Records written before `account_src` existed do not have it.
        let account_src = if self.lit(",\"account_src\":").is_some() {
            match self.opt_string()? {
                Some(s) => AccountSource::parse(s),
                None => None,
            }
        } else {
            None
        };
        self.lit(",\"tenant\":")?;
        let tenant = self.opt_string()?;
        self.lit(",\"epoch\":")?;
        let epoch = self.string()?;
        self.lit(",\"kid\":")?;
        let kid = self.string()?;
        self.lit("}")?;
        if !self.s[self.pos..].trim_ascii().is_empty() {
            return None;
        }
        Some(Observation {
            ts_ms,
            method: Cow::Borrowed(method),
            route: route.map(Cow::Borrowed),
            path: Cow::Borrowed(path),
            status,
            req_bytes,
            resp_bytes,
            duration_us,
            account: account.map(Cow::Borrowed),
            account_src,
            tenant: tenant.map(Cow::Borrowed),
            epoch: Some(Cow::Borrowed(epoch)),
            kid: Some(Cow::Borrowed(kid)),
        })
    }
}

/// The index of the first `"`, `\\` or control character, eight bytes at a
/// time (the bit tricks find a candidate word, a byte loop the position).
#[inline]
fn find_special(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let special = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
    let mut i = 0;
    while let Some(word) = b.get(i..i + 8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        let quote = w ^ (LO * u64::from(b'"'));
        let backslash = w ^ (LO * u64::from(b'\\'));
        let hit = (quote.wrapping_sub(LO) & !quote)
            | (backslash.wrapping_sub(LO) & !backslash)
            | (w.wrapping_sub(LO * 0x20) & !w);
        if hit & HI != 0 {
            return word.iter().position(|&c| special(c)).map(|p| i + p).or_else(|| {
                // A false candidate (a borrow across bytes): go on after it.
                b[i + 8..].iter().position(|&c| special(c)).map(|p| i + 8 + p)
            });
        }
        i += 8;
    }
    b[i..].iter().position(|&c| special(c)).map(|p| i + p)
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
        if (1..=12).contains(&mo) && (1..=days_in_month(y, mo)).contains(&d) && h < 24 && mi < 60 && sec < 61 {
            let days = days_from_civil(y, mo, d);
            return Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms);
        }
        return None;
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// The number of days of month `m` (1 to 12) of year `y` (proleptic
/// Gregorian); 0 for a month that does not exist.
pub(crate) fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        _ => 0,
    }
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
        assert!(Observation::parse(&line.as_bytes()[..line.len() / 2]).is_none());
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

    #[test]
    fn impossible_dates_are_rejected_not_rolled_over() {
        for ts in [
            "2026-02-29T00:00:00.000Z",
            "2026-02-31T00:00:00.000Z",
            "2026-04-31T12:00:00.000Z",
            "1900-02-29T00:00:00.000Z",
            "2026-00-10T00:00:00.000Z",
            "2026-01-00T00:00:00.000Z",
        ] {
            assert_eq!(parse_ts_ms(ts), None, "{ts}");
        }
        assert!(parse_ts_ms("2024-02-29T00:00:00.000Z").is_some());
        assert!(parse_ts_ms("2000-02-29T00:00:00.000Z").is_some());
        assert!(parse_ts_ms("2026-12-31T23:59:59.999Z").is_some());
    }

    #[test]
    fn lines_the_scanner_declines_still_parse() {
        let mut r = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/a\\b");
        r.account = Some("x".into());
        let line = r.to_ndjson();
        assert!(
            Scanner::new(&line).canonical().is_none(),
            "an escape takes the general path"
        );
        assert_eq!(Observation::parse(line.as_bytes()), Some(Observation::from_record(&r)));
        let reordered = r#"{"ts":"1970-01-01T00:00:00.000Z","v":1,"method":"GET","path":"/","req_bytes":0,"resp_bytes":0,"duration_us":5}"#;
        assert_eq!(Observation::parse(reordered.as_bytes()).map(|o| o.duration_us), Some(5));
        let leading_zero = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/")
            .to_ndjson()
            .replace("\"req_bytes\":0", "\"req_bytes\":01");
        assert!(Observation::parse(leading_zero.as_bytes()).is_none());
    }

    #[test]
    fn the_account_source_is_read_and_unknown_or_missing_ones_vouch_for_nothing() {
        let mut r = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/");
        r.account = Some("acc_1".into());
        r.account_src = Some(AccountSource::App);
        let line = r.to_ndjson();
        let o = Scanner::new(&line)
            .canonical()
            .expect("the fast path reads the new layout");
        assert_eq!(o.vouched_account(), Some("acc_1"));
        // A line written before the field existed: the fast path still reads it.
        let old = line.replace(",\"account_src\":\"app\"", "");
        let o = Scanner::new(&old)
            .canonical()
            .expect("the fast path reads the old layout");
        assert_eq!((o.account.as_deref(), o.account_src), (Some("acc_1"), None));
        assert_eq!(o.vouched_account(), None);
        for src in ["\"App\"", "\"verified\"", "null"] {
            let other = line.replace("\"account_src\":\"app\"", &format!("\"account_src\":{src}"));
            let o = Observation::parse(other.as_bytes()).expect("parses");
            assert_eq!(o.account_src, None, "{src}");
            assert_eq!(o.vouched_account(), None, "{src}");
            assert_eq!(
                Observation::parse_general(other.as_bytes()).map(|o| o.account_src),
                Some(None)
            );
        }
        for src in ["jwt", "header", "query", "path"] {
            let claimed = line.replace("\"account_src\":\"app\"", &format!("\"account_src\":\"{src}\""));
            let o = Observation::parse(claimed.as_bytes()).expect("parses");
            assert_eq!(o.account_src.map(AccountSource::as_str), Some(src));
            assert_eq!(o.vouched_account(), None, "{src}");
        }
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        let text = "[\\x00-~\\u{80}-\\u{10ffff}\\\\\"]{0,12}";
        (
            (
                0i64..4_000_000_000,
                text,
                prop::option::of(text),
                prop::option::of(text),
                prop::option::of(any::<u16>()),
            ),
            (
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                prop::option::of(text),
                prop::option::of(text),
                prop::option::of(prop::sample::select(vec![
                    AccountSource::App,
                    AccountSource::Jwt,
                    AccountSource::Header,
                    AccountSource::Query,
                    AccountSource::Path,
                ])),
            ),
        )
            .prop_map(
                |((secs, method, route, account, status), (req, resp, dur, tenant, client, src))| {
                    let mut r = Record::new(
                        OffsetDateTime::from_unix_timestamp(secs).expect("in range"),
                        method,
                        "/p",
                    );
                    r.route = route;
                    r.account = account;
                    r.account_src = src;
                    r.status = status;
                    r.req_bytes = req;
                    r.resp_bytes = resp;
                    r.duration_us = dur;
                    r.tenant = tenant;
                    r.client = client;
                    r
                },
            )
    }

    proptest! {
        #[test]
        fn word_at_a_time_search_finds_the_first_special_byte(b in prop::collection::vec(any::<u8>(), 0..64)) {
            let naive = b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
            prop_assert_eq!(find_special(&b), naive);
        }

        #[test]
        fn fast_and_general_parsers_agree_on_every_record(r in arb_record()) {
            let line = r.to_ndjson();
            let general = Observation::parse_general(line.trim_end().as_bytes());
            prop_assert_eq!(general.clone(), Some(Observation::from_record(&r)));
            prop_assert_eq!(Observation::parse(line.as_bytes()), general);
        }

        #[test]
        fn damaged_lines_never_panic_and_torn_ones_are_rejected(r in arb_record(), cut in 0usize..400) {
            let line = r.to_ndjson();
            let cut = cut.min(line.len().saturating_sub(2));
            let torn = &line.as_bytes()[..cut];
            prop_assert!(Observation::parse(torn).is_none());
        }

        /// Every year, month and day: the fast path accepts exactly the
        /// dates the calendar has, at the instant the time crate gives.
        #[test]
        fn fast_timestamp_path_accepts_exactly_the_calendar_s_dates(y in 1i32..9999, m in 0u8..14, d in 0u8..33) {
            let ts = format!("{y:04}-{m:02}-{d:02}T00:00:00.000Z");
            let real = time::Month::try_from(m)
                .ok()
                .and_then(|month| time::Date::from_calendar_date(y, month, d).ok())
                .map(|date| date.midnight().assume_utc().unix_timestamp() * 1000);
            prop_assert_eq!(parse_ts_ms(&ts), real, "{}", ts);
        }

        #[test]
        fn fast_timestamp_path_agrees_with_the_time_crate(secs in 0i64..8_000_000_000, ms in 0i64..1000) {
            let t = OffsetDateTime::from_unix_timestamp(secs).expect("in range") + time::Duration::milliseconds(ms);
            let line = Record::new(t, "GET", "/").to_ndjson();
            let o = Observation::parse(line.as_bytes()).expect("parses");
            prop_assert_eq!(o.ts_ms, secs * 1000 + ms);
        }
    }
}
