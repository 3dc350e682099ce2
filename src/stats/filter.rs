//! Which records statistics count: time range, route, status, tenant.

use std::fmt;

use super::observation::{Observation, days_from_civil, parse_ts_ms};

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
/// use privlog::stats::Filter;
/// let mut f = Filter::default();
/// f.from_ms = Some(Filter::parse_time("2026-11-01")?);
/// f.route = Some("/rest/*".into());
/// f.status = Some("5xx".parse()?);
/// # Ok::<(), privlog::stats::FilterError>(())
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
    /// Names the value and the accepted forms.
    pub fn parse_time(s: &str) -> Result<i64, FilterError> {
        let t = s.trim();
        let b = t.as_bytes();
        if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
            let y = t[0..4].parse::<i64>();
            let m = t[5..7].parse::<i64>();
            let d = t[8..10].parse::<i64>();
            if let (Ok(y), Ok(m), Ok(d)) = (y, m, d)
                && (1..=12).contains(&m)
                && (1..=31).contains(&d)
            {
                return Ok(days_from_civil(y, m, d) * 86_400_000);
            }
        }
        parse_ts_ms(t).ok_or_else(|| {
            FilterError(format!(
                "invalid time {s:?}: use a date (2026-11-22) or RFC 3339 (2026-11-22T09:00:00Z)"
            ))
        })
    }
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
}
