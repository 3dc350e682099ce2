//! Record times: cut to the schema's millisecond precision, clamped to the
//! years a record can hold, and the calendar reading cached per second.

use std::time::SystemTime;

use time::OffsetDateTime;

use crate::policy::Rotation;

/// The second the last record started in, with its time and epoch bucket:
/// the records of one second skip the calendar arithmetic.
#[derive(Default)]
pub(super) struct LastSecond(Option<(u64, OffsetDateTime, i64)>);

impl LastSecond {
    /// A record's start time at the millisecond precision the schema
    /// promises (a record read back from a file equals the one the sinks were
    /// given), and its epoch bucket under `rotation`.
    #[inline]
    pub(super) fn start_of(&mut self, start: SystemTime, rotation: Rotation) -> (OffsetDateTime, i64) {
        let since = start.duration_since(SystemTime::UNIX_EPOCH).ok();
        let at_millis = |at: OffsetDateTime, ms: u16| at.replace_millisecond(ms).unwrap_or(at);
        match (since, self.0) {
            (Some(d), Some((secs, at, bucket))) if d.as_secs() == secs => (
                at_millis(at, u16::try_from(d.subsec_millis()).unwrap_or_default()),
                bucket,
            ),
            (Some(d), _) => {
                let at = i64::try_from(d.as_secs())
                    .ok()
                    .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
                let Some(at) = at else {
                    return Self::uncached(start, rotation);
                };
                let bucket = rotation.bucket(at);
                self.0 = Some((d.as_secs(), at, bucket));
                (
                    at_millis(at, u16::try_from(d.subsec_millis()).unwrap_or_default()),
                    bucket,
                )
            }
            (None, _) => Self::uncached(start, rotation),
        }
    }

    /// [`LastSecond::start_of`] without remembering the second.
    pub(super) fn uncached(start: SystemTime, rotation: Rotation) -> (OffsetDateTime, i64) {
        let ts = record_time(start);
        (ts, rotation.bucket(ts))
    }
}

/// The earliest time a record can hold: RFC 3339 writes four-digit years.
const TS_MIN: OffsetDateTime = time::macros::datetime!(0000-01-01 00:00:00 UTC);

/// The latest time a record can hold, at the schema's millisecond precision.
const TS_MAX: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59.999 UTC);

/// `start` as a record's time: cut to the millisecond, and within the years
/// 0000 to 9999. A time outside them (a clock set wildly wrong) becomes the
/// nearest time within, so the record is still written, and parses back.
pub(super) fn record_time(start: SystemTime) -> OffsetDateTime {
    let nanos = match start.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => i128::try_from(before.duration().as_nanos()).map_or(i128::MIN, |n| -n),
    };
    let millis = nanos.div_euclid(1_000_000).saturating_mul(1_000_000);
    match OffsetDateTime::from_unix_timestamp_nanos(millis) {
        Ok(ts) => ts.clamp(TS_MIN, TS_MAX),
        Err(_) if millis < 0 => TS_MIN,
        Err(_) => TS_MAX,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::*;
    use crate::Rotation;

    proptest! {
        #[test]
        fn start_times_equal_the_calendar_reading(
            starts in proptest::collection::vec((0u64..1 << 34, 0u32..1_000_000_000, 0u64..3), 1..20),
            rotation in prop_oneof![Just(Rotation::None), Just(Rotation::Daily), Just(Rotation::Weekly), Just(Rotation::Monthly)],
        ) {
            let mut last = LastSecond::default();
            let mut secs_before = 0;
            for (secs, nanos, same) in starts {
                // Often within the second of the record before.
                let secs = if same > 0 { secs_before } else { secs };
                secs_before = secs;
                let start = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
                prop_assert_eq!(last.start_of(start, rotation), LastSecond::uncached(start, rotation));
            }
        }
    }

    #[test]
    fn a_start_before_1970_is_read_too() {
        let start = SystemTime::UNIX_EPOCH - Duration::from_millis(1500);
        let (ts, _) = LastSecond::default().start_of(start, Rotation::Daily);
        assert_eq!(ts.unix_timestamp_nanos(), -1_500_000_000);
    }
}
