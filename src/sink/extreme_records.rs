//! Captures with extreme clock readings and counters (times past the year
//! 9999 and before 1970, the ends of `u64`) through the sanitizer and every
//! encoder: nothing panics, every record stays within what the schema can
//! hold, and every output is valid.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::capture::{Capture, TEXT_CAPACITY};
use crate::record::write_ndjson;
use crate::sanitize::Sanitizer;
use crate::{MasterKey, Policy, Record, Rotation};

/// The earliest and latest times a record holds: four-digit years, milliseconds.
const FIRST: OffsetDateTime = datetime!(0000-01-01 00:00:00 UTC);
const LAST: OffsetDateTime = datetime!(9999-12-31 23:59:59.999 UTC);

/// Seconds since 1970 of 10000-01-01 and of 0000-01-01.
const YEAR_10000: i64 = 253_402_300_800;
const YEAR_0: i64 = -62_167_219_200;

/// `secs` and `nanos` after 1970 (before, when negative), when a
/// `SystemTime` can hold it.
fn system_time(secs: i64, nanos: u32) -> Option<SystemTime> {
    let whole = if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    whole?.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// The record time the sanitizer must write for a start `nanos` after 1970:
/// cut to the millisecond, within the years 0000 to 9999.
fn expected_ts(nanos: i128) -> OffsetDateTime {
    let millis = nanos.div_euclid(1_000_000) * 1_000_000;
    match OffsetDateTime::from_unix_timestamp_nanos(millis) {
        Ok(t) if t < FIRST => FIRST,
        Ok(t) if t > LAST => LAST,
        Ok(t) => t,
        Err(_) if millis < 0 => FIRST,
        Err(_) => LAST,
    }
}

fn seconds() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MAX),
        Just(i64::MIN),
        (YEAR_10000 - 3..YEAR_10000 + 3),
        (YEAR_0 - 3..YEAR_0 + 3),
        (-3i64..3),
        // What `--clock-offset-days 2930000` gives today, and around it.
        (YEAR_10000..YEAR_10000 + 400 * 365 * 86_400),
    ]
}

fn counter() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0), Just(u64::MAX), Just(u64::MAX - 1), Just(1 << 53), any::<u64>()]
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        Just(Duration::from_micros(u64::MAX)),
        any::<(u64, u32)>().prop_map(|(s, n)| Duration::new(s, n % 1_000_000_000)),
    ]
}

/// Every line of `body` is one JSON value.
fn json_lines(body: &[u8]) -> Result<Vec<serde_json::Value>, TestCaseError> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).map_err(|e| TestCaseError::fail(format!("invalid JSON line: {e}"))))
        .collect()
}

/// A string of decimal digits only: a Unix time in nanoseconds, not negative.
fn unsigned_digits(v: &serde_json::Value) -> bool {
    v.as_str()
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks every encoder's output for `r`, whose `ts` text is `ts`.
fn check_encoders(r: &Record, ts: &str) -> Result<(), TestCaseError> {
    // NDJSON: one line, no control character, parses back to the record.
    let mut line = Vec::new();
    write_ndjson(r, &mut line);
    prop_assert_eq!(line.last(), Some(&b'\n'));
    prop_assert!(!line[..line.len() - 1].iter().any(|b| b.is_ascii_control()));
    let back = crate::record::parse_line(&line).map_err(|e| TestCaseError::fail(format!("parse back: {e}")))?;
    prop_assert_eq!(&back, r);

    // Syslog: RFC 5424, the record's time as TIMESTAMP, printable ASCII.
    let mut msg = Vec::new();
    super::syslog::Header::new().encode(r, &mut msg);
    let text = String::from_utf8(msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let head = format!("<134>1 {ts} ");
    prop_assert!(text.starts_with(&head), "{}", text);
    prop_assert!(text.bytes().all(|b| (0x20..0x7f).contains(&b)), "{}", text);

    #[cfg(feature = "http")]
    {
        use super::http::{ClickHouse, Elasticsearch, Encoder, Loki, Ndjson, Otlp};
        let batch = std::slice::from_ref(r);
        let encode = |e: &dyn Encoder| {
            let mut out = Vec::new();
            e.encode(batch, &mut out);
            out
        };
        for body in [
            encode(&Ndjson::new()),
            encode(&Ndjson::json_array()),
            encode(&ClickHouse::new("t").map_err(|e| TestCaseError::fail(e.to_string()))?),
        ] {
            prop_assert!(!json_lines(&body)?.is_empty());
        }
        let bulk = json_lines(&encode(&Elasticsearch::new()))?;
        prop_assert_eq!(bulk.len(), 2);
        prop_assert_eq!(bulk[1]["@timestamp"].as_str(), Some(ts));
        let loki = json_lines(&encode(&Loki::new()))?;
        prop_assert!(unsigned_digits(&loki[0]["streams"][0]["values"][0][0]), "{:?}", loki);
        let otlp = json_lines(&encode(&Otlp::new()))?;
        let log = &otlp[0]["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
        prop_assert!(unsigned_digits(&log["timeUnixNano"]), "{:?}", otlp);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn extreme_clocks_and_counters_make_valid_records_in_every_encoder(
        secs in seconds(),
        nanos in 0u32..1_000_000_000,
        bytes in (counter(), counter(), counter()),
        times in (duration(), duration()),
        status in prop_oneof![Just(None), Just(Some(0u16)), Just(Some(u16::MAX)), any::<Option<u16>>()],
        rotation in prop_oneof![Just(Rotation::None), Just(Rotation::Daily), Just(Rotation::Weekly), Just(Rotation::Monthly)],
    ) {
        let Some(start) = system_time(secs, nanos) else {
            return Ok(()); // a time this system cannot hold never reaches the worker
        };
        let mut raw = Capture::with_capacity(TEXT_CAPACITY);
        raw.begin(start, http::Method::GET, http::Version::HTTP_11, None);
        raw.set_path_query("/health", Some("a=1"));
        raw.declared_req_bytes = Some(bytes.0);
        raw.req_bytes = Some(bytes.1);
        raw.resp_bytes = bytes.2;
        raw.ttfb = Some(times.0);
        raw.duration = times.1;
        raw.status = status;
        let mut sanitizer = Sanitizer::new(Policy::new().rotation(rotation).compile().expect("valid"), &MasterKey::from_bytes([3; 32]));
        let r = sanitizer.sanitize(&mut raw);

        let nanos_since = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        prop_assert_eq!(r.ts, expected_ts(nanos_since));
        let epoch = rotation.epoch_of(r.ts);
        prop_assert_eq!(r.epoch.as_str(), epoch.as_str());
        prop_assert_eq!(r.resp_bytes, bytes.2);
        prop_assert_eq!(r.duration_us, u64::try_from(times.1.as_micros()).unwrap_or(u64::MAX));
        let mut ts = Vec::new();
        crate::record::write_ts(r.ts, &mut ts);
        let ts = String::from_utf8(ts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_encoders(&r, &ts)?;
    }

    /// Records an application makes itself, with any time the `time` crate
    /// holds (years -9999 to 9999, any offset), never make an encoder panic
    /// or write invalid output.
    #[test]
    fn any_record_time_gives_valid_output_in_every_encoder(
        nanos in (OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT).unix_timestamp_nanos()
            ..=OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX).unix_timestamp_nanos()),
        offset_secs in -86_399i32..=86_399,
    ) {
        let Ok(utc) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
            return Ok(());
        };
        let ts = time::UtcOffset::from_whole_seconds(offset_secs)
            .ok()
            .and_then(|o| utc.checked_to_offset(o))
            .unwrap_or(utc);
        let r = Record::new(ts, "GET", "/x");
        let mut line = Vec::new();
        write_ndjson(&r, &mut line);
        let v: Vec<serde_json::Value> = json_lines(&line)?;
        let text = v[0]["ts"].as_str().unwrap_or_default().to_owned();
        prop_assert!(
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).is_ok(),
            "{}", text
        );
        let mut msg = Vec::new();
        super::syslog::Header::new().encode(&r, &mut msg);
        let head = format!("<134>1 {text} ");
        prop_assert!(msg.starts_with(head.as_bytes()));
        #[cfg(feature = "http")]
        {
            use super::http::{Elasticsearch, Encoder, Loki, Otlp};
            for e in [&Elasticsearch::new() as &dyn Encoder, &Loki::new(), &Otlp::new()] {
                let mut out = Vec::new();
                e.encode(std::slice::from_ref(&r), &mut out);
                json_lines(&out)?;
            }
        }
    }
}
