//! Which records statistics count: time range, route, status, tenant.

use std::fmt;

use super::aggregate::{Dimension, period_end, period_start};
use super::observation::{Observation, days_from_civil, days_in_month, parse_ts_ms};

/// A status condition: an exact code (`404`), a class (`4xx`) or no response (`none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// Exactly this code.
    Code(u16),
    /// Any code of this hundred (`4` for `4xx`).
    Class(u16),
    /// No response was produced.
    NoResponse,
}

/// A filter value that could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError(String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

impl std::str::FromStr for StatusFilter {
    type Err = FilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        if t == "none" {
            return Ok(StatusFilter::NoResponse);
        }
        if let Some(c) = t.strip_suffix("xx")
            && let Ok(c) = c.parse::<u16>()
            && (1..=9).contains(&c)
        {
            return Ok(StatusFilter::Class(c));
        }
        match t.parse::<u16>() {
            Ok(c) if (100..=999).contains(&c) => Ok(StatusFilter::Code(c)),
            _ => Err(FilterError(format!(
                "invalid status {s:?}: use a code (404), a class (4xx) or none"
            ))),
        }
    }
}

/// Which observations to count. The default counts everything.
///
/// ```
/// use privlog::usage::Filter;
/// let mut f = Filter::default();
/// f.from_ms = Some(Filter::parse_time("2026-11-01")?);
/// f.route = Some("/rest/*".into());
/// f.status = Some("5xx".parse()?);
/// # Ok::<(), privlog::usage::FilterError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Filter {
    /// Only requests that started at or after this time (Unix milliseconds).
    pub from_ms: Option<i64>,
    /// Only requests that started before this time (Unix milliseconds).
    pub to_ms: Option<i64>,
    /// Only this route (template or scrubbed path); a trailing `*` matches a prefix.
    pub route: Option<String>,
    /// Only these statuses.
    pub status: Option<StatusFilter>,
    /// Only this tenant pseudonym.
    pub tenant: Option<String>,
}

impl Filter {
    /// Whether `o` passes.
    #[inline]
    pub fn matches(&self, o: &Observation<'_>) -> bool {
        if self.from_ms.is_some_and(|t| o.ts_ms < t) || self.to_ms.is_some_and(|t| o.ts_ms >= t) {
            return false;
        }
        if let Some(r) = &self.route {
            let have = o.route_or_path();
            let ok = match r.strip_suffix('*') {
                Some(prefix) => have.starts_with(prefix),
                None => have == r,
            };
            if !ok {
                return false;
            }
        }
        if let Some(s) = self.status {
            let ok = match (s, o.status) {
                (StatusFilter::NoResponse, None) => true,
                (StatusFilter::Code(c), Some(x)) => c == x,
                (StatusFilter::Class(c), Some(x)) => x / 100 == c,
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        if let Some(t) = &self.tenant
            && o.tenant.as_deref() != Some(t.as_str())
        {
            return false;
        }
        true
    }

    /// Parses a time bound: RFC 3339 (`2026-11-22T09:00:00Z`) or a UTC date
    /// (`2026-11-22`, meaning its midnight), into Unix milliseconds.
    ///
    /// # Errors
    /// Names the value and the accepted forms; a date the calendar does not
    /// have (`2026-02-31`) is refused with the number of days of its month,
    /// never rolled over into the next one.
    pub fn parse_time(s: &str) -> Result<i64, FilterError> {
        let t = s.trim();
        if let Some((y, m, d)) = date_prefix(t) {
            let days = days_in_month(y, m);
            if days == 0 {
                return Err(FilterError(format!(
                    "invalid time {s:?}: there is no month {m:02}; use a date (2026-11-22) or RFC 3339 (2026-11-22T09:00:00Z)"
                )));
            }
            if d < 1 || d > days {
                return Err(FilterError(format!(
                    "invalid time {s:?}: {y:04}-{m:02} has {days} days; use a date that exists (2026-11-22) or RFC 3339 (2026-11-22T09:00:00Z)"
                )));
            }
            if t.len() == 10 {
                return Ok(days_from_civil(y, m, d) * 86_400_000);
            }
        }
        parse_ts_ms(t).ok_or_else(|| {
            FilterError(format!(
                "invalid time {s:?}: use a date (2026-11-22) or RFC 3339 (2026-11-22T09:00:00Z)"
            ))
        })
    }

    /// Checks that both time bounds fall on a boundary of `unit`: the start
    /// of a UTC hour, day or ISO week (Monday); any other dimension means
    /// day.
    ///
    /// k-anonymity holds per row, and figures over two ranges can be
    /// subtracted: `--from 10:00:00.000` and `--from 10:00:00.001` differ by
    /// the requests of one millisecond, maybe of one person. Bounds on whole
    /// periods leave nothing to subtract that is finer than the rows
    /// themselves, so published figures should use them.
    ///
    /// # Errors
    /// Names the bound, the period it cuts and the two whole-period bounds
    /// around it.
    pub fn check_whole_periods(&self, unit: Dimension) -> Result<(), FilterError> {
        let unit = if unit.is_period() { unit } else { Dimension::Day };
        for t in [self.from_ms, self.to_ms].into_iter().flatten() {
            let start = period_start(unit, t);
            if start.saturating_mul(1000) == t {
                continue;
            }
            let name = match unit {
                Dimension::Hour => "hour (UTC)",
                Dimension::Week => "ISO week (Monday, UTC)",
                Dimension::Month => "month (UTC)",
                _ => "day (UTC)",
            };
            return Err(FilterError(format!(
                "time bound {} does not start a whole {name}: figures over ranges that cut a {name} can be subtracted from each other to reveal a group of fewer than k accounts; use {} or {}",
                label_ms(t),
                label_s(unit, start),
                label_s(unit, period_end(unit, start)),
            )));
        }
        Ok(())
    }
}

/// RFC 3339 with milliseconds, UTC.
fn label_ms(t: i64) -> String {
    let nanos = i128::from(t) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|d| {
            d.format(&time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// A period start as a bound one can type: a date, or RFC 3339 for an hour.
fn label_s(unit: Dimension, start: i64) -> String {
    let Ok(d) = time::OffsetDateTime::from_unix_timestamp(start) else {
        return start.to_string();
    };
    let date = d.date();
    let day = format!(
        "{}-{:02}-{:02}",
        super::aggregate::year_label(date.year()),
        u8::from(date.month()),
        date.day()
    );
    match unit {
        Dimension::Hour => format!("{day}T{:02}:00:00Z", d.hour()),
        _ => day,
    }
}

/// The year, month and day of a value that starts `YYYY-MM-DD` and is a
/// date or goes on with the time (`T` or a space).
fn date_prefix(t: &str) -> Option<(i64, i64, i64)> {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !matches!(b.get(10), None | Some(b'T' | b't' | b' ')) {
        return None;
    }
    Some((digits(0..4)?, digits(5..7)?, digits(8..10)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn obs(route: &str, status: Option<u16>) -> Observation<'static> {
        Observation {
            ts_ms: 1000,
            method: Cow::Borrowed("GET"),
            route: Some(Cow::Owned(route.to_owned())),
            path: Cow::Borrowed("/"),
            status,
            req_bytes: 0,
            resp_bytes: 0,
            duration_us: 0,
            account: None,
            account_src: None,
            tenant: None,
            epoch: None,
            kid: None,
        }
    }

    #[test]
    fn status_filter_matches_codes_classes_and_no_response() {
        let f = |s: &str| Filter {
            status: Some(s.parse().expect("valid")),
            ..Filter::default()
        };
        assert!(f("404").matches(&obs("/", Some(404))));
        assert!(!f("404").matches(&obs("/", Some(403))));
        assert!(f("4xx").matches(&obs("/", Some(403))));
        assert!(!f("4xx").matches(&obs("/", None)));
        assert!(f("none").matches(&obs("/", None)));
        assert!("abc".parse::<StatusFilter>().is_err());
    }

    #[test]
    fn route_filter_matches_exactly_or_by_prefix() {
        let f = |r: &str| Filter {
            route: Some(r.into()),
            ..Filter::default()
        };
        assert!(f("/a").matches(&obs("/a", None)));
        assert!(!f("/a").matches(&obs("/ab", None)));
        assert!(f("/a*").matches(&obs("/ab", None)));
    }

    #[test]
    fn time_bounds_accept_dates_and_rfc3339() {
        assert_eq!(Filter::parse_time("1970-01-02"), Ok(86_400_000));
        assert_eq!(Filter::parse_time("1970-01-01T00:00:01Z"), Ok(1000));
        assert!(Filter::parse_time("yesterday").is_err());
    }

    #[test]
    fn bounds_must_start_whole_periods() {
        let f = |from: &str, to: &str| Filter {
            from_ms: Some(Filter::parse_time(from).expect("from")),
            to_ms: Some(Filter::parse_time(to).expect("to")),
            ..Filter::default()
        };
        assert_eq!(
            f("2026-11-01", "2026-12-01").check_whole_periods(Dimension::Day),
            Ok(())
        );
        assert_eq!(
            f("2026-11-01", "2026-12-01").check_whole_periods(Dimension::Route),
            Ok(())
        );
        assert_eq!(
            f("2026-11-01T10:00:00Z", "2026-11-01T11:00:00Z").check_whole_periods(Dimension::Hour),
            Ok(())
        );
        // 2026-11-02 and 2026-11-30 are Mondays.
        assert_eq!(
            f("2026-11-02", "2026-11-30").check_whole_periods(Dimension::Week),
            Ok(())
        );
        let err = f("2026-11-01", "2026-11-03T10:00:00.001Z")
            .check_whole_periods(Dimension::Day)
            .expect_err("cut day")
            .to_string();
        assert!(
            err.starts_with("time bound 2026-11-03T10:00:00.001Z does not start a whole day (UTC)")
                && err.ends_with("use 2026-11-03 or 2026-11-04"),
            "{err}"
        );
        let err = f("2026-11-01", "2026-11-30")
            .check_whole_periods(Dimension::Week)
            .expect_err("cut week")
            .to_string();
        assert!(
            err.contains("time bound 2026-11-01T00:00:00.000Z does not start a whole ISO week"),
            "{err}"
        );
        assert!(err.ends_with("use 2026-10-26 or 2026-11-02"), "{err}");
        let err = f("2026-11-01T10:30:00Z", "2026-11-02")
            .check_whole_periods(Dimension::Hour)
            .expect_err("cut hour")
            .to_string();
        assert!(
            err.ends_with("use 2026-11-01T10:00:00Z or 2026-11-01T11:00:00Z"),
            "{err}"
        );
        assert_eq!(
            f("2026-11-01", "2027-01-01").check_whole_periods(Dimension::Month),
            Ok(())
        );
        let err = f("2026-11-02", "2026-12-01")
            .check_whole_periods(Dimension::Month)
            .expect_err("cut month")
            .to_string();
        assert!(
            err.contains("does not start a whole month (UTC)") && err.ends_with("use 2026-11-01 or 2026-12-01"),
            "{err}"
        );
        assert_eq!(Filter::default().check_whole_periods(Dimension::Week), Ok(()));
    }

    #[test]
    fn impossible_dates_are_refused_with_the_length_of_their_month() {
        for (bad, days) in [
            ("2026-02-31", "2026-02 has 28 days"),
            ("2026-02-29", "2026-02 has 28 days"),
            ("2026-04-31T00:00:00Z", "2026-04 has 30 days"),
            ("2026-06-31T10:00:00.000Z", "2026-06 has 30 days"),
            ("2026-01-00", "2026-01 has 31 days"),
        ] {
            let err = Filter::parse_time(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("invalid time {bad:?}: {days}")), "{err}");
        }
        let err = Filter::parse_time("2026-13-01").expect_err("month 13").to_string();
        assert!(err.contains("there is no month 13"), "{err}");
        assert_eq!(
            Filter::parse_time("2024-02-29"),
            Ok(days_from_civil(2024, 2, 29) * 86_400_000)
        );
        assert_eq!(
            Filter::parse_time("2026-03-01"),
            Filter::parse_time("2026-03-01T00:00:00Z")
        );
    }
}
