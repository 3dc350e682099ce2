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

    /// The epoch of a moment as a number: consecutive epochs have consecutive
    /// numbers (days since 1970-01-01 for daily, ISO weeks since the week of
    /// 1970-01-01 for weekly, `year × 12 + month − 1` for monthly). `None`
    /// for [`Rotation::None`], which has one epoch only.
    pub fn epoch_index(self, ts: OffsetDateTime) -> Option<i64> {
        let date = ts.to_offset(time::UtcOffset::UTC).date();
        self.index_of_date(date)
    }

    fn index_of_date(self, date: time::Date) -> Option<i64> {
        let days = i64::from(date.to_julian_day()) - UNIX_JULIAN_DAY;
        match self {
            Rotation::None => None,
            Rotation::Daily => Some(days),
            // 1970-01-01 is a Thursday: its ISO week began on day -3.
            Rotation::Weekly => {
                let monday = days - i64::from(date.weekday().number_days_from_monday());
                Some((monday + 3).div_euclid(7))
            }
            Rotation::Monthly => Some(i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1),
        }
    }

    /// The number ([`Rotation::epoch_index`]) of an epoch label of this
    /// rotation; `None` when the label belongs to another rotation or names
    /// no real day, week or month.
    pub fn index_of(self, epoch: &Epoch) -> Option<i64> {
        let s = epoch.as_str();
        let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<i32>().ok());
        let date = match (self, s.len()) {
            (Rotation::Daily, 10) => {
                let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
                time::Date::from_calendar_date(num(0..4)?, month, u8::try_from(num(8..10)?).ok()?).ok()?
            }
            (Rotation::Weekly, 8) => {
                time::Date::from_iso_week_date(num(0..4)?, u8::try_from(num(6..8)?).ok()?, time::Weekday::Monday)
                    .ok()?
            }
            (Rotation::Monthly, 7) => {
                let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
                time::Date::from_calendar_date(num(0..4)?, month, 1).ok()?
            }
            _ => return None,
        };
        // The label must be the one this rotation writes (`2026-W53` of a
        // year without one is refused by `from_iso_week_date`).
        let index = self.index_of_date(date)?;
        (self.epoch_at(index).as_ref() == Some(epoch)).then_some(index)
    }

    /// The epoch numbered `index` ([`Rotation::epoch_index`]); `None` for
    /// [`Rotation::None`] or outside the years `time` can represent.
    pub fn epoch_at(self, index: i64) -> Option<Epoch> {
        let date = match self {
            Rotation::None => return None,
            Rotation::Daily => date_of_days(index)?,
            Rotation::Weekly => date_of_days(index.checked_mul(7)?.checked_sub(3)?)?,
            Rotation::Monthly => {
                let year = i32::try_from(index.div_euclid(12)).ok()?;
                let month = time::Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
                time::Date::from_calendar_date(year, month, 1).ok()?
            }
        };
        Some(self.epoch_of(date.midnight().assume_utc()))
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

/// The Julian day number of 1970-01-01.
const UNIX_JULIAN_DAY: i64 = 2_440_588;

fn date_of_days(days: i64) -> Option<time::Date> {
    time::Date::from_julian_day(i32::try_from(days.checked_add(UNIX_JULIAN_DAY)?).ok()?).ok()
}

/// A key period's label, as written in the `epoch` record field.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(String);

impl Epoch {
    /// An epoch shown by its number, for a number no label exists for.
    pub(crate) fn numbered(index: i64) -> Epoch {
        Epoch(format!("#{index}"))
    }

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

    proptest::proptest! {
        /// Consecutive epochs have consecutive numbers, and a label and its
        /// number convert into each other, for every rotation that changes.
        #[test]
        fn epoch_numbers_are_consecutive_and_round_trip(days in -200_000i64..2_000_000, r in 0usize..3) {
            let rotation = [Rotation::Daily, Rotation::Weekly, Rotation::Monthly][r];
            let date = date_of_days(days).expect("in range");
            let ts = date.midnight().assume_utc();
            let i = rotation.epoch_index(ts).expect("index");
            let e = rotation.epoch_of(ts);
            proptest::prop_assert_eq!(rotation.index_of(&e), Some(i));
            proptest::prop_assert_eq!(rotation.epoch_at(i), Some(e.clone()));
            let next_day = (date + time::Duration::DAY).midnight().assume_utc();
            let j = rotation.epoch_index(next_day).expect("index");
            if rotation.epoch_of(next_day) == e {
                proptest::prop_assert_eq!(j, i);
            } else {
                proptest::prop_assert_eq!(j, i + 1);
            }
        }
    }

    #[test]
    fn labels_of_another_rotation_have_no_number() {
        let day = Epoch::from_label("2026-11-22").expect("label");
        assert_eq!(Rotation::Monthly.index_of(&day), None);
        assert_eq!(
            Rotation::Daily.index_of(&Epoch::from_label("2026-02-30").expect("label")),
            None
        );
        assert_eq!(
            Rotation::Weekly.index_of(&Epoch::from_label("2025-W53").expect("label")),
            None
        );
        assert_eq!(Rotation::Daily.epoch_index(datetime!(1970-01-02 0:00 UTC)), Some(1));
        assert_eq!(Rotation::Weekly.epoch_index(datetime!(1970-01-05 0:00 UTC)), Some(1));
        assert_eq!(Rotation::None.epoch_index(datetime!(1970-01-05 0:00 UTC)), None);
    }

    #[test]
    fn labels_use_utc_whatever_the_offset() {
        let ts = datetime!(2026-11-23 01:00:00 +02:00);
        assert_eq!(Rotation::Daily.epoch_of(ts).as_str(), "2026-11-22");
    }
}
