//! Waiting after failures: exponential backoff, one failure count and one
//! wait for a whole destination, so one that is down gets one attempt at a
//! time.

use std::time::{Duration, Instant};

/// The longest wait [`Backoff::failed`] sets, whatever it is asked for.
const LONGEST: Duration = Duration::from_secs(86_400);

/// The doubling cap of retry number `failures` (1 for the first): `initial`,
/// doubled for each earlier failure, never above `max`.
pub(crate) fn doubling(initial: Duration, max: Duration, failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(31);
    initial.saturating_mul(1u32 << shift).min(max)
}

/// The retry state of one destination: how many attempts failed in a row,
/// and until when nothing is tried.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    until: Option<Instant>,
}

impl Backoff {
    /// An attempt failed at `now`: nothing is tried until `wait(failures)`
    /// (at most a day) has passed, `failures` counting this one.
    pub(crate) fn failed(&mut self, now: Instant, wait: impl FnOnce(u32) -> Duration) {
        self.failures = self.failures.saturating_add(1);
        let wait = wait(self.failures).min(LONGEST);
        self.until = Some(now.checked_add(wait).unwrap_or(now));
    }

    /// An attempt succeeded: the next one may start at once.
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
        self.until = None;
    }

    /// Whether an attempt may start at `now`.
    pub(crate) fn ready(&self, now: Instant) -> bool {
        self.until.is_none_or(|t| now >= t)
    }

    /// When the wait ends (`None` when there is none).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn until(&self) -> Option<Instant> {
        self.until
    }

    /// Failed attempts in a row.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);

    #[test]
    fn waits_double_from_the_first_up_to_the_cap() {
        let waits: Vec<Duration> = (1..=9).map(|n| doubling(MIN, MAX, n)).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
        assert_eq!(doubling(MIN, MAX, 0), MIN, "no failure yet waits like the first");
        assert_eq!(doubling(MIN, MAX, u32::MAX), MAX);
    }

    #[test]
    fn a_failure_blocks_attempts_until_its_wait_is_over_and_a_success_clears_it() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        assert!(b.ready(t0));
        b.failed(t0, |n| doubling(MIN, MAX, n));
        assert_eq!((b.failures(), b.until()), (1, Some(t0 + MIN)));
        assert!(!b.ready(t0 + MIN - Duration::from_millis(1)));
        assert!(b.ready(t0 + MIN));
        let t1 = t0 + MIN;
        b.failed(t1, |n| doubling(MIN, MAX, n));
        assert_eq!((b.failures(), b.until()), (2, Some(t1 + 2 * MIN)));
        b.succeeded();
        assert_eq!((b.failures(), b.until()), (0, None));
        assert!(b.ready(t1));
    }

    #[test]
    fn an_endless_wait_is_cut_to_a_day_without_overflow() {
        let t0 = Instant::now();
        let mut b = Backoff::default();
        b.failed(t0, |_| Duration::MAX);
        assert_eq!(b.until(), Some(t0 + LONGEST));
    }

    proptest! {
        #[test]
        fn the_wait_never_exceeds_its_cap_and_never_shrinks_while_failing(
            initial_ms in 1u64..10_000, max_ms in 1u64..3_600_000, failures in 1u32..300
        ) {
            let (initial, max) = (Duration::from_millis(initial_ms), Duration::from_millis(max_ms));
            let w = doubling(initial, max, failures);
            prop_assert!(w <= max);
            prop_assert!(w >= initial.min(max));
            prop_assert!(doubling(initial, max, failures + 1) >= w);
        }
    }
}
