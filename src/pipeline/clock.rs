//! Wall-clock time for record timestamps without reading the wall clock on
//! the request path.
//!
//! The request path already reads the monotonic clock for latencies; the
//! wall-clock time of that instant is a fixed anchor plus an offset. The
//! worker re-measures the offset as it runs, so a stepped system clock (NTP
//! at boot, an operator's `date -s`) shows in timestamps within one worker
//! round.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

/// Offsets that differ by less than this are not stored again, so request
/// threads keep the cache line in shared state. Timestamps are written with
/// millisecond precision.
const RESYNC_TOLERANCE_NS: i64 = 100_000;

/// A monotonic anchor and the wall-clock time it corresponds to.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct WallClock {
    anchor: Instant,
    /// Nanoseconds since the Unix epoch at `anchor` (negative before 1970).
    offset_ns: AtomicI64,
}

impl WallClock {
    pub(crate) fn new() -> Self {
        let anchor = Instant::now();
        WallClock {
            anchor,
            offset_ns: AtomicI64::new(unix_ns(SystemTime::now())),
        }
    }

    /// The wall-clock time of `t`, an instant taken after this clock was made.
    pub(crate) fn at(&self, t: Instant) -> SystemTime {
        let since = i64::try_from(t.saturating_duration_since(self.anchor).as_nanos()).unwrap_or(i64::MAX);
        let ns = self.offset_ns.load(Relaxed).saturating_add(since);
        match u64::try_from(ns) {
            Ok(after) => SystemTime::UNIX_EPOCH + Duration::from_nanos(after),
            Err(_) => SystemTime::UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs()),
        }
    }

    /// Measures the offset again (worker thread only).
    pub(crate) fn resync(&self) {
        let now = Instant::now();
        let wall = unix_ns(SystemTime::now());
        let since = i64::try_from(now.saturating_duration_since(self.anchor).as_nanos()).unwrap_or(i64::MAX);
        let offset = wall.saturating_sub(since);
        if (offset - self.offset_ns.load(Relaxed)).abs() > RESYNC_TOLERANCE_NS {
            self.offset_ns.store(offset, Relaxed);
        }
    }
}

fn unix_ns(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(a: SystemTime, b: SystemTime) -> Duration {
        a.duration_since(b).unwrap_or_else(|e| e.duration())
    }

    #[test]
    fn time_of_now_matches_the_system_clock() {
        let clock = WallClock::new();
        clock.resync();
        let derived = clock.at(Instant::now());
        assert!(gap(derived, SystemTime::now()) < Duration::from_secs(1));
    }

    #[test]
    fn later_instants_map_to_later_times() {
        let clock = WallClock::new();
        let t = Instant::now();
        assert_eq!(gap(clock.at(t + Duration::from_secs(90)), clock.at(t)), Duration::from_secs(90));
    }

    #[test]
    fn resync_follows_a_stepped_clock() {
        let clock = WallClock::new();
        // As if the system clock had been an hour behind when the anchor was taken.
        clock.offset_ns.fetch_sub(3_600_000_000_000, Relaxed);
        clock.resync();
        assert!(gap(clock.at(Instant::now()), SystemTime::now()) < Duration::from_secs(1));
    }
}
