//! The fraction of requests a kept record stands for.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The fraction of its kind of request that was kept when a record was
/// sampled: `0.1` means one in ten such requests was written, so an analyst
/// counts this record as `1 / 0.1 = 10` requests.
///
/// Held in millionths, so it compares exactly and prints as written
/// (`0.1`, `0.025`); from `0.000001` to `1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SampleRate(u32);

impl SampleRate {
    /// Millionths in one.
    pub const ONE_IN_MILLIONTHS: u32 = 1_000_000;

    /// The rate nearest to `fraction` in millionths, or `None` when it is
    /// not within `0.000001..=1` (or not a number).
    pub fn new(fraction: f64) -> Option<SampleRate> {
        if !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0) {
            return None;
        }
        let m = (fraction * f64::from(Self::ONE_IN_MILLIONTHS)).round();
        // In range by the check above; at least one millionth.
        let m = m.clamp(1.0, f64::from(Self::ONE_IN_MILLIONTHS)) as u32;
        Some(SampleRate(m))
    }

    /// The rate in millionths (`100000` for `0.1`).
    pub fn millionths(self) -> u32 {
        self.0
    }

    /// The rate as a fraction.
    pub fn get(self) -> f64 {
        f64::from(self.0) / f64::from(Self::ONE_IN_MILLIONTHS)
    }

    /// Whether every request is kept.
    pub fn is_one(self) -> bool {
        self.0 >= Self::ONE_IN_MILLIONTHS
    }
}

impl fmt::Display for SampleRate {
    /// Shortest decimal text: `1`, `0.1`, `0.025`, `0.000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / Self::ONE_IN_MILLIONTHS;
        let frac = self.0 % Self::ONE_IN_MILLIONTHS;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl Serialize for SampleRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.get())
    }
}

impl<'de> Deserialize<'de> for SampleRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = f64::deserialize(d)?;
        SampleRate::new(f).ok_or_else(|| serde::de::Error::custom("sample_rate must be within 0.000001..=1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_print_as_written_and_read_back_exactly() {
        for (f, text) in [
            (1.0, "1"),
            (0.1, "0.1"),
            (0.025, "0.025"),
            (0.000001, "0.000001"),
            (0.5, "0.5"),
        ] {
            let r = SampleRate::new(f).expect("in range");
            assert_eq!(r.to_string(), text);
            let back: SampleRate = serde_json::from_str(text).expect("parses");
            assert_eq!(back, r);
        }
        for bad in [0.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert_eq!(SampleRate::new(bad), None, "{bad}");
        }
    }
}
