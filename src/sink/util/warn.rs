//! Warnings that cannot flood the log: at most one per [`WARN_EVERY`] for
//! each kind, carrying how many were held back.

use std::time::{Duration, Instant};

/// The least time between two warnings of one kind (one sink's failures,
/// the worker's failures, the hand-off queue's drops).
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(10);

/// A warning that fires at most once per [`WARN_EVERY`], counting what it
/// held back.
#[derive(Debug, Default)]
pub(crate) struct RateLimited {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    /// Whether to warn now; `Some(n)` carries how many warnings were held
    /// back since the last one.
    pub(crate) fn check(&mut self) -> Option<u64> {
        self.check_at(Instant::now())
    }

    /// [`RateLimited::check`] at `now`.
    pub(crate) fn check_at(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < WARN_EVERY => {
                self.suppressed = self.suppressed.saturating_add(1);
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_first_warning_fires_and_the_next_within_the_interval_is_held_back() {
        let t0 = Instant::now();
        let mut w = RateLimited::default();
        assert_eq!(w.check_at(t0), Some(0));
        assert_eq!(w.check_at(t0 + WARN_EVERY - Duration::from_millis(1)), None);
        assert_eq!(w.check_at(t0 + WARN_EVERY / 2), None);
        assert_eq!(
            w.check_at(t0 + WARN_EVERY),
            Some(2),
            "fires once the interval has passed, counting both"
        );
        assert_eq!(w.check_at(t0 + WARN_EVERY), None);
        assert_eq!(w.check_at(t0 + WARN_EVERY * 3), Some(1));
    }

    proptest! {
        /// Over any sequence of attempts, fired + held back = attempts, and
        /// two warnings that fire are at least WARN_EVERY apart.
        #[test]
        fn every_attempt_fires_or_is_counted_and_firings_keep_their_distance(
            gaps_ms in proptest::collection::vec(0u64..25_000, 1..200)
        ) {
            let mut now = Instant::now();
            let mut w = RateLimited::default();
            let mut fired_at: Vec<Instant> = Vec::new();
            let mut counted = 0u64;
            for gap in &gaps_ms {
                now += Duration::from_millis(*gap);
                if let Some(held) = w.check_at(now) {
                    counted += 1 + held;
                    fired_at.push(now);
                }
            }
            counted += w.suppressed;
            prop_assert_eq!(counted, gaps_ms.len() as u64);
            for pair in fired_at.windows(2) {
                prop_assert!(pair[1] - pair[0] >= WARN_EVERY);
            }
        }
    }
}
