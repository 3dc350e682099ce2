//! The allowed range of every size, count and duration privlog can be
//! configured with.
//!
//! Each setting that sizes a queue, a buffer or a wait has an upper bound, so
//! that a typo (`batch_size = 100000000`) is an error at start-up that names
//! the setting and the range, not an allocation that takes the process down
//! at the first request. The builders ([`Builder::build`](crate::Builder::build),
//! `HttpSinkBuilder::build` and `Spool::open` with the `http` feature) and
//! the configuration file (`privlog check` included) check the same bounds.

use std::fmt;
use std::time::Duration;

/// A setting whose value is outside its allowed range.
///
/// Values of sizes, counts and durations are never secrets, so the error
/// shows the value given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutOfRange {
    /// The setting, as named in the configuration file (`batch_size`, `timeout`).
    pub setting: &'static str,
    /// The value given, as written in a configuration file (`100000000`, `2h`).
    pub value: String,
    /// The smallest value allowed.
    pub min: String,
    /// The largest value allowed.
    pub max: String,
    /// Why the range is what it is, when it depends on another setting.
    pub note: Option<String>,
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} is out of range; use a value from {} to {}",
            self.setting, self.value, self.min, self.max
        )?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OutOfRange {}

/// What a count or size measures, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Byte sizes are set only by the spool and the configuration file.
#[cfg_attr(not(any(feature = "spool", feature = "config")), allow(dead_code))]
pub(crate) enum Unit {
    /// A number of things (records, batches, files, requests).
    Count,
    /// A number of bytes.
    Bytes,
}

/// The allowed range of a count or size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limit {
    pub(crate) setting: &'static str,
    pub(crate) min: u64,
    pub(crate) max: u64,
    pub(crate) unit: Unit,
}

impl Limit {
    pub(crate) const fn count(setting: &'static str, min: u64, max: u64) -> Self {
        Limit {
            setting,
            min,
            max,
            unit: Unit::Count,
        }
    }

    #[cfg_attr(not(any(feature = "spool", feature = "config")), allow(dead_code))]
    pub(crate) const fn bytes(setting: &'static str, min: u64, max: u64) -> Self {
        Limit {
            setting,
            min,
            max,
            unit: Unit::Bytes,
        }
    }

    /// The same range with a lower maximum (never below the minimum).
    pub(crate) fn at_most(self, max: u64) -> Self {
        Limit {
            max: self.max.min(max).max(self.min),
            ..self
        }
    }

    /// `value`, when it is within the range.
    ///
    /// # Errors
    /// [`OutOfRange`] naming the setting, the value and the range.
    pub(crate) fn check(&self, value: u64) -> Result<u64, OutOfRange> {
        if (self.min..=self.max).contains(&value) {
            return Ok(value);
        }
        Err(OutOfRange {
            setting: self.setting,
            value: value.to_string(),
            min: self.show(self.min),
            max: self.show(self.max),
            note: None,
        })
    }

    /// [`Limit::check`] for a `usize` value.
    pub(crate) fn check_usize(&self, value: usize) -> Result<usize, OutOfRange> {
        self.check(u64::try_from(value).unwrap_or(u64::MAX)).map(|_| value)
    }

    fn show(&self, n: u64) -> String {
        match self.unit {
            Unit::Count => n.to_string(),
            Unit::Bytes => match binary(n) {
                Some(b) => format!("{n} ({b})"),
                None => n.to_string(),
            },
        }
    }
}

/// `n` in KiB, MiB, GiB or TiB when it is a whole number of one of them.
fn binary(n: u64) -> Option<String> {
    ["TiB", "GiB", "MiB", "KiB"].iter().enumerate().find_map(|(i, unit)| {
        let size = 1u64 << (10 * (4 - i as u32));
        (n >= size && n.is_multiple_of(size)).then(|| format!("{} {unit}", n / size))
    })
}

/// The allowed range of a duration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DurationLimit {
    pub(crate) setting: &'static str,
    pub(crate) min: Duration,
    pub(crate) max: Duration,
}

impl DurationLimit {
    pub(crate) const fn new(setting: &'static str, min: Duration, max: Duration) -> Self {
        DurationLimit { setting, min, max }
    }

    /// `value`, when it is within the range.
    ///
    /// # Errors
    /// [`OutOfRange`] naming the setting, the value and the range.
    pub(crate) fn check(&self, value: Duration) -> Result<Duration, OutOfRange> {
        if (self.min..=self.max).contains(&value) {
            return Ok(value);
        }
        Err(OutOfRange {
            setting: self.setting,
            value: human(value),
            min: human(self.min),
            max: human(self.max),
            note: None,
        })
    }
}

/// A duration as a configuration file writes it: `0s`, `500ms`, `5s`, `10m`,
/// `12h`, `30d`, `2w`, or seconds with a fraction.
pub(crate) fn human(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    if d.subsec_nanos() == 0 {
        let s = d.as_secs();
        for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
            if s.is_multiple_of(size) {
                return format!("{}{unit}", s / size);
            }
        }
        return format!("{s}s");
    }
    if d.subsec_nanos().is_multiple_of(1_000_000) && d.as_secs() < 1_000_000 {
        return format!("{}ms", d.as_millis());
    }
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_at_each_edge_passes_and_one_past_fails_with_the_range() {
        let l = Limit::count("batch_size", 1, 16_384);
        assert_eq!(l.check(1), Ok(1));
        assert_eq!(l.check(16_384), Ok(16_384));
        let e = l.check(16_385).expect_err("above");
        assert_eq!(
            e.to_string(),
            "batch_size = 16385 is out of range; use a value from 1 to 16384"
        );
        assert!(l.check(0).is_err());
        assert!(l.check_usize(usize::MAX).is_err());
        let b = Limit::bytes("spool_max_bytes", 1024, 1 << 40);
        let e = b.check((1 << 40) + 1).expect_err("above").to_string();
        assert!(e.contains("1024 (1 KiB) to 1099511627776 (1 TiB)"), "{e}");
    }

    #[test]
    fn durations_are_shown_as_a_config_file_writes_them() {
        assert_eq!(human(Duration::from_millis(1)), "1ms");
        assert_eq!(human(Duration::from_secs(90)), "90s");
        assert_eq!(human(Duration::from_secs(3600)), "1h");
        assert_eq!(human(Duration::from_secs(86_400 * 14)), "2w");
        assert_eq!(human(Duration::ZERO), "0s");
        let l = DurationLimit::new("timeout", Duration::from_millis(1), Duration::from_secs(3600));
        assert!(l.check(Duration::from_secs(3600)).is_ok());
        let e = l.check(Duration::from_secs(3601)).expect_err("above").to_string();
        assert_eq!(e, "timeout = 3601s is out of range; use a value from 1ms to 1h");
        assert!(l.check(Duration::ZERO).is_err());
    }
}
