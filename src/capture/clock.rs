//! The request path's clock: one cheap counter read per timestamp, and
//! wall-clock time derived from it instead of read separately.
//!
//! The request path only takes readings; the worker turns them into the
//! record's start time, time to first byte and duration.
//!
//! Reading the OS clock costs 20 ns on bare metal and 100 ns or more in many
//! virtual machines, and a request needs three readings (start, response
//! head, end). The CPU's time-stamp counter, calibrated once per process,
//! costs a fraction of that; where it is not reliable the OS monotonic
//! clock is used instead. The wall-clock time of a reading is a fixed anchor
//! plus an offset that the worker re-measures as it runs, so a stepped
//! system clock (NTP at boot, `date -s`) shows in timestamps within one
//! worker round (the requests of the round the step happened in may be
//! dated with either offset).

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{Duration, SystemTime};

/// Offsets that differ by less than this are not stored again, so request
/// threads keep the cache line in shared state. Timestamps are written with
/// millisecond precision.
const RESYNC_TOLERANCE_NS: i64 = 100_000;

/// Monotonic readings for latencies and their wall-clock time.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct RequestClock {
    clock: quanta::Clock,
    /// The reading the offset is relative to.
    anchor: u64,
    /// Nanoseconds since the Unix epoch at `anchor` (negative before 1970).
    offset_ns: AtomicI64,
}

impl RequestClock {
    /// Calibrates the counter on first use in the process (up to 200 ms).
    pub(crate) fn new() -> Self {
        let clock = quanta::Clock::new();
        let anchor = clock.raw();
        RequestClock {
            clock,
            anchor,
            offset_ns: AtomicI64::new(unix_ns(SystemTime::now())),
        }
    }

    /// A clock whose readings move only when the returned handle says so.
    #[cfg(test)]
    pub(crate) fn mocked() -> (Self, std::sync::Arc<quanta::Mock>) {
        let (clock, mock) = quanta::Clock::mock();
        let anchor = clock.raw();
        let clock = RequestClock {
            clock,
            anchor,
            offset_ns: AtomicI64::new(unix_ns(SystemTime::now())),
        };
        (clock, mock)
    }

    /// A reading now; compare readings with [`RequestClock::between`].
    pub(crate) fn now(&self) -> u64 {
        self.clock.raw()
    }

    /// The time from reading `start` to reading `end` (zero if they are out of order).
    pub(crate) fn between(&self, start: u64, end: u64) -> Duration {
        self.clock.delta(start, end)
    }

    /// The wall-clock time of `reading`, taken after this clock was made.
    pub(crate) fn wall(&self, reading: u64) -> SystemTime {
        let since = i64::try_from(self.clock.delta_as_nanos(self.anchor, reading)).unwrap_or(i64::MAX);
        let ns = self.offset_ns.load(Relaxed).saturating_add(since);
        match u64::try_from(ns) {
            Ok(after) => SystemTime::UNIX_EPOCH + Duration::from_nanos(after),
            Err(_) => SystemTime::UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs()),
        }
    }

    /// Measures the offset again (worker thread only).
    pub(crate) fn resync(&self) {
        let now = self.clock.raw();
        let wall = unix_ns(SystemTime::now());
        let since = i64::try_from(self.clock.delta_as_nanos(self.anchor, now)).unwrap_or(i64::MAX);
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
    fn wall_time_of_now_matches_the_system_clock() {
        let clock = RequestClock::new();
        clock.resync();
        let derived = clock.wall(clock.now());
        assert!(gap(derived, SystemTime::now()) < Duration::from_secs(1));
    }

    #[test]
    fn elapsed_time_follows_the_system_monotonic_clock() {
        let clock = RequestClock::new();
        let (start, t) = (clock.now(), std::time::Instant::now());
        std::thread::sleep(Duration::from_millis(30));
        let ours = clock.between(start, clock.now());
        let std_elapsed = t.elapsed();
        assert!(ours >= Duration::from_millis(25), "{ours:?}");
        assert!(gap(SystemTime::UNIX_EPOCH + ours, SystemTime::UNIX_EPOCH + std_elapsed) < Duration::from_millis(20));
    }

    #[test]
    fn later_readings_map_to_later_wall_times_and_reversed_ones_to_no_time() {
        let clock = RequestClock::new();
        let a = clock.now();
        std::thread::sleep(Duration::from_millis(20));
        let b = clock.now();
        assert!(clock.wall(b) > clock.wall(a));
        assert_eq!(clock.between(b, a), Duration::ZERO);
        assert!(clock.between(a, b) >= Duration::from_millis(1));
    }

    #[test]
    fn resync_follows_a_stepped_clock() {
        let clock = RequestClock::new();
        // As if the system clock had been an hour behind when the anchor was taken.
        clock.offset_ns.fetch_sub(3_600_000_000_000, Relaxed);
        clock.resync();
        assert!(gap(clock.wall(clock.now()), SystemTime::now()) < Duration::from_secs(1));
    }
}
