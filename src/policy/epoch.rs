use std::fmt;

use time::OffsetDateTime;

/// How often pseudonyms change.
///
/// Within one epoch the same account always gets the same pseudonym, so
/// analysts can count distinct accounts; across epochs the pseudonyms are
/// unlinkable, so nobody can follow a person for longer than one epoch.
///
/// The default is [`Rotation::Monthly`]: monthly active accounts are the figure
/// add-on vendors report most, and a month bounds how long any one pseudonym
/// can be followed. Choose [`Rotation::Daily`] for the strongest unlinkability
/// (daily figures only) and [`Rotation::None`] only when you must link records
/// across long periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rotation {
    /// One epoch forever (`static`).
    None,
    /// A new epoch each UTC day (`2026-11-22`).
    Daily,
    /// A new epoch each ISO week (`2026-W47`).
    Weekly,
    /// A new epoch each UTC month (`2026-11`).
    Monthly,
}

impl Default for Rotation {
    /// [`ROTATION`](super::defaults::ROTATION).
    fn default() -> Self {
        super::defaults::ROTATION
    }
}

impl Rotation {
    /// The epoch label for a moment in time.
    pub fn epoch_of(self, ts: OffsetDateTime) -> Epoch {
        let ts = ts.to_offset(time::UtcOffset::UTC);
        let label = match self {
            Rotation::None => "static".to_owned(),
            Rotation::Daily => format!("{:04}-{:02}-{:02}", ts.year(), u8::from(ts.month()), ts.day()),
            Rotation::Weekly => {
                let (y, w, _) = ts.to_iso_week_date();
                format!("{y:04}-W{w:02}")
            }
            Rotation::Monthly => format!("{:04}-{:02}", ts.year(), u8::from(ts.month())),
        };
        Epoch(label)
    }

    /// The key identifying a moment's epoch cheaply (days since 1970 for daily,
    /// and so on); equal keys mean equal epochs.
    pub(crate) fn bucket(self, ts: OffsetDateTime) -> i64 {
        let ts = ts.to_offset(time::UtcOffset::UTC);
        match self {
            Rotation::None => 0,
            Rotation::Daily => ts.unix_timestamp().div_euclid(86_400),
            Rotation::Weekly => {
                let (y, w, _) = ts.to_iso_week_date();
                i64::from(y) * 100 + i64::from(w)
            }
            Rotation::Monthly => i64::from(ts.year()) * 100 + i64::from(u8::from(ts.month())),
        }
    }

    /// The name used in configuration (`none`, `daily`, `weekly`, `monthly`).
    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::None => "none",
            Rotation::Daily => "daily",
            Rotation::Weekly => "weekly",
            Rotation::Monthly => "monthly",
        }
    }
}

impl std::str::FromStr for Rotation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "static" => Ok(Rotation::None),
            "daily" => Ok(Rotation::Daily),
            "weekly" => Ok(Rotation::Weekly),
            "monthly" => Ok(Rotation::Monthly),
            other => Err(format!(
                "unknown rotation {other:?}; expected one of none, daily, weekly, monthly"
            )),
        }
    }
}

/// A key period's label, as written in the `epoch` record field.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(String);

impl Epoch {
    /// The label (`2026-11-22`, `2026-W47`, `2026-11` or `static`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The epoch a record's `epoch` field names, for finding the pseudonyms of
    /// stored records again. `None` when the text is not an epoch label of any
    /// rotation (`2026-11-22`, `2026-W47`, `2026-11`, `static`).
    pub fn from_label(label: &str) -> Option<Epoch> {
        let b = label.as_bytes();
        let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
        let ok = label == "static"
            || (b.len() == 7 && digits(0..4) && b[4] == b'-' && digits(5..7))
            || (b.len() == 8 && digits(0..4) && &b[4..6] == b"-W" && digits(6..8))
            || (b.len() == 10 && digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10));
        ok.then(|| Epoch(label.to_owned()))
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn labels_follow_the_rotation() {
        let ts = datetime!(2026-11-22 23:59:59 UTC);
        assert_eq!(Rotation::Daily.epoch_of(ts).as_str(), "2026-11-22");
        assert_eq!(Rotation::Weekly.epoch_of(ts).as_str(), "2026-W47");
        assert_eq!(Rotation::Monthly.epoch_of(ts).as_str(), "2026-11");
        assert_eq!(Rotation::None.epoch_of(ts).as_str(), "static");
    }

    #[test]
    fn labels_parse_back_to_the_same_epoch() {
        let ts = datetime!(2026-11-22 23:59:59 UTC);
        for r in [Rotation::None, Rotation::Daily, Rotation::Weekly, Rotation::Monthly] {
            let e = r.epoch_of(ts);
            assert_eq!(Epoch::from_label(e.as_str()), Some(e));
        }
        for bad in ["", "2026", "2026-1", "2026-W4x", "2026-11-2", "x026-11", "static "] {
            assert_eq!(Epoch::from_label(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn labels_use_utc_whatever_the_offset() {
        let ts = datetime!(2026-11-23 01:00:00 +02:00);
        assert_eq!(Rotation::Daily.epoch_of(ts).as_str(), "2026-11-22");
    }
}
