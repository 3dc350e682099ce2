//! Which responses are retried, and when: exponential backoff with full jitter,
//! `Retry-After` honoured.

use std::time::{Duration, SystemTime};

use crate::limits::{DurationLimit, OutOfRange};
use crate::sink::util::doubling;

/// `retry_initial`.
pub(crate) const INITIAL: DurationLimit =
    DurationLimit::new("retry_initial", Duration::from_millis(1), Duration::from_secs(3600));
/// `retry_max`.
pub(crate) const MAX: DurationLimit =
    DurationLimit::new("retry_max", Duration::from_millis(1), Duration::from_secs(3600));
/// `retry_after_max`.
pub(crate) const MAX_RETRY_AFTER: DurationLimit =
    DurationLimit::new("retry_after_max", Duration::from_millis(1), Duration::from_secs(86_400));

/// How failed deliveries are retried.
///
/// The wait before retry *n* is a random duration between zero and
/// `min(max, initial × 2^(n-1))` ("full jitter"), unless the collector said
/// how long to wait with `Retry-After`, which then wins (capped at
/// [`RetryPolicy::max_retry_after`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
    pub(crate) max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The default policy: 1 s doubling up to 30 s, `Retry-After` up to 300 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cap of the first retry's wait. Defaults to 1 s; 1 ms to 1 h.
    pub fn initial(mut self, d: Duration) -> Self {
        self.initial = d;
        self
    }

    /// The cap every later wait doubles towards. Defaults to 30 s; 1 ms to 1 h.
    pub fn max(mut self, d: Duration) -> Self {
        self.max = d;
        self
    }

    /// The longest `Retry-After` honoured; longer values are cut to it.
    /// Defaults to 300 s; 1 ms to 24 h.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Checks every setting against its range.
    pub(crate) fn validate(&self) -> Result<(), OutOfRange> {
        INITIAL.check(self.initial)?;
        MAX.check(self.max)?;
        MAX_RETRY_AFTER.check(self.max_retry_after)?;
        Ok(())
    }

    /// The wait before retry number `failures` (1 for the first retry).
    pub(crate) fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_retry_after);
        }
        let cap = doubling(self.initial, self.max, failures);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        let r = getrandom::u64().unwrap_or(nanos / 2);
        Duration::from_nanos(r % (nanos + 1))
    }
}

/// What a response status means for the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// 2xx: delivered.
    Delivered,
    /// 408, 429, 5xx except 501: try again later.
    Retry,
    /// Everything else (other 4xx, 501, 1xx, 3xx): the batch itself is the
    /// problem; retrying would fail forever.
    Reject,
}

pub(crate) fn classify(status: u16) -> Class {
    match status {
        200..=299 => Class::Delivered,
        408 | 429 => Class::Retry,
        501 => Class::Reject,
        500..=599 => Class::Retry,
        _ => Class::Reject,
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn retryable_statuses_are_408_429_and_5xx_but_not_501() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(classify(s), Class::Retry, "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422, 501, 301, 100] {
            assert_eq!(classify(s), Class::Reject, "{s}");
        }
        assert_eq!(classify(204), Class::Delivered);
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_is_capped() {
        let p = RetryPolicy::new().max_retry_after(Duration::from_secs(60));
        assert_eq!(p.delay(1, Some(Duration::from_secs(86_400))), Duration::from_secs(60));
    }

    proptest! {
        #[test]
        fn backoff_never_exceeds_its_doubling_cap(failures in 1u32..200) {
            let p = RetryPolicy::default();
            let cap = Duration::from_secs(1).saturating_mul(1u32 << (failures - 1).min(31)).min(Duration::from_secs(30));
            prop_assert!(p.delay(failures, None) <= cap);
        }
    }
}
