//! Which log files to keep: by age, by count, and as a daily/weekly/monthly schedule.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::{Date, OffsetDateTime};

use super::name::{LogFile, log_files};

/// A retention rule for the files of a [`RollingFileSink`](super::RollingFileSink).
///
/// Each rule that is set must keep a file for it to stay; with no rule set
/// every file stays. Retention only ever deletes files whose names match the
/// sink's pattern (see [`LogFile`]), never the file being written.
///
/// ```
/// use std::time::Duration;
/// use privlog::sink::Retention;
///
/// // "Logs are kept 30 days."
/// let by_age = Retention::keep_all().max_age(Duration::from_secs(30 * 86_400));
/// // "7 daily, 8 weekly, 12 monthly."
/// let schedule = Retention::keep_all().schedule(7, 8, 12);
/// # let _ = (by_age, schedule);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    max_age: Option<Duration>,
    max_files: Option<usize>,
    schedule: Option<Schedule>,
}

/// Keep the newest `daily` days, the last day of each of the newest `weekly`
/// ISO weeks and the last day of each of the newest `monthly` months.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Schedule {
    daily: usize,
    weekly: usize,
    monthly: usize,
}

/// What applying a [`Retention`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RetentionReport {
    /// Log files left in place.
    pub kept: usize,
    /// Files deleted.
    pub deleted: Vec<PathBuf>,
    /// Files that should have been deleted but could not be, with why.
    pub failed: Vec<(PathBuf, io::Error)>,
}

impl Retention {
    /// Keeps every file. Add rules with the other methods.
    pub fn keep_all() -> Self {
        Self::default()
    }

    /// Deletes a file once its whole day (UTC) ended more than `age` ago:
    /// with 30 days, on 2026-12-22 the oldest day kept is 2026-11-22 (30 whole
    /// days and today).
    /// Defaults to no age limit.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keeps only the newest `files` files (all days together). Defaults to no
    /// count limit.
    pub fn max_files(mut self, files: usize) -> Self {
        self.max_files = Some(files);
        self
    }

    /// Keeps all files of the newest `daily` days that have files, plus those
    /// of the last day present in each of the newest `weekly` ISO weeks and
    /// `monthly` calendar months, like a backup rotation ("7 daily, 8 weekly,
    /// 12 monthly"). Days without files do not count. Defaults to no schedule.
    pub fn schedule(mut self, daily: usize, weekly: usize, monthly: usize) -> Self {
        self.schedule = Some(Schedule { daily, weekly, monthly });
        self
    }

    /// Whether any rule is set.
    pub fn is_keep_all(&self) -> bool {
        self.max_age.is_none() && self.max_files.is_none() && self.schedule.is_none()
    }

    /// The files of `files` this rule deletes at `now`, never one in `exclude`.
    ///
    /// `files` may be in any order and mix prefixes; count and schedule rules
    /// apply to each prefix on its own.
    pub fn expired<'a>(&self, files: &'a [LogFile], now: OffsetDateTime, exclude: &[&Path]) -> Vec<&'a LogFile> {
        let prefixes: BTreeSet<&str> = files.iter().map(|f| f.prefix.as_str()).collect();
        let mut out = Vec::new();
        for prefix in prefixes {
            let mut group: Vec<&LogFile> = files.iter().filter(|f| f.prefix == prefix).collect();
            // Newest first.
            group.sort_by_key(|f| std::cmp::Reverse(f.order()));
            let scheduled = self.schedule.map(|s| s.days_kept(&group));
            for (rank, f) in group.iter().enumerate() {
                if exclude.iter().any(|p| *p == f.path) {
                    continue;
                }
                // An age beyond the calendar's end expires nothing, nor
                // does any age the calendar's last day, which never ends.
                let too_old = self.max_age.is_some_and(|age| {
                    day_end(f.date)
                        .zip(time::Duration::try_from(age).ok())
                        .and_then(|(end, age)| end.checked_add(age))
                        .is_some_and(|expiry| expiry <= now)
                });
                let too_many = self.max_files.is_some_and(|n| rank >= n);
                let off_schedule = scheduled.as_ref().is_some_and(|days| !days.contains(&f.date));
                if too_old || too_many || off_schedule {
                    out.push(*f);
                }
            }
        }
        out
    }

    /// Deletes the expired log files of `dir` (only those of `prefix` when
    /// given) at `now`, never one in `exclude`.
    ///
    /// # Errors
    /// `dir` cannot be listed. A file that cannot be deleted is reported in
    /// [`RetentionReport::failed`] and does not stop the others.
    pub fn apply(
        &self,
        dir: impl AsRef<Path>,
        prefix: Option<&str>,
        now: OffsetDateTime,
        exclude: &[&Path],
    ) -> io::Result<RetentionReport> {
        let dir = dir.as_ref();
        let files = log_files(dir, prefix).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot list log directory {} for retention: {e}", dir.display()),
            )
        })?;
        Ok(self.delete_expired(&files, now, exclude))
    }

    /// Deletes the files of `files` this rule expires at `now`.
    pub(super) fn delete_expired(&self, files: &[LogFile], now: OffsetDateTime, exclude: &[&Path]) -> RetentionReport {
        let expired = self.expired(files, now, exclude);
        let mut report = RetentionReport {
            kept: files.len() - expired.len(),
            ..RetentionReport::default()
        };
        for f in expired {
            match std::fs::remove_file(&f.path) {
                Ok(()) => report.deleted.push(f.path.clone()),
                // Someone else (an operator, another run) got there first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => report.failed.push((f.path.clone(), e)),
            }
        }
        report
    }
}

/// The instant `date`'s UTC day ends.
fn day_end(date: Date) -> Option<OffsetDateTime> {
    Some(date.next_day()?.midnight().assume_utc())
}

impl Schedule {
    /// The days kept, from files sorted newest first.
    fn days_kept(&self, newest_first: &[&LogFile]) -> BTreeSet<Date> {
        let mut days: Vec<Date> = newest_first.iter().map(|f| f.date).collect();
        days.dedup();
        let mut keep: BTreeSet<Date> = days.iter().take(self.daily).copied().collect();
        keep_one_per_bucket(
            &days,
            self.weekly,
            |d| {
                let (y, w, _) = d.to_iso_week_date();
                (y, u32::from(w))
            },
            &mut keep,
        );
        keep_one_per_bucket(
            &days,
            self.monthly,
            |d| (d.year(), u32::from(u8::from(d.month()))),
            &mut keep,
        );
        keep
    }
}

/// Keeps the newest day of each of the newest `n` buckets.
fn keep_one_per_bucket(days: &[Date], n: usize, bucket: impl Fn(Date) -> (i32, u32), keep: &mut BTreeSet<Date>) {
    let mut seen = BTreeSet::new();
    for &d in days {
        if seen.len() >= n {
            break;
        }
        if seen.insert(bucket(d)) {
            keep.insert(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::{date, datetime};

    fn file(prefix: &str, date: Date, seq: u32) -> LogFile {
        let name = LogFile::file_name(prefix, date, seq, false);
        LogFile::parse(Path::new(&name)).expect("own name parses")
    }

    fn days_back(n: i64) -> Date {
        date!(2026 - 11 - 22) - time::Duration::days(n)
    }

    #[test]
    fn the_calendars_last_day_never_ends_so_no_age_expires_it() {
        let files = [file("r", date!(9999 - 12 - 31), 0), file("r", date!(9999 - 12 - 30), 0)];
        let gone = Retention::keep_all().max_age(Duration::from_secs(3600)).expired(
            &files,
            datetime!(9999-12-31 23:59 UTC),
            &[],
        );
        let gone: Vec<Date> = gone.iter().map(|f| f.date).collect();
        assert_eq!(gone, [date!(9999 - 12 - 30)]);
    }

    #[test]
    fn max_age_keeps_whole_days_within_the_age() {
        let files: Vec<LogFile> = (0..40).map(|n| file("r", days_back(n), 0)).collect();
        let now = datetime!(2026-11-22 12:00 UTC);
        let gone = Retention::keep_all()
            .max_age(Duration::from_secs(30 * 86_400))
            .expired(&files, now, &[]);
        let gone_dates: BTreeSet<Date> = gone.iter().map(|f| f.date).collect();
        // 2026-10-22 ended at 2026-10-23 00:00, 30 days and 12 hours ago.
        assert!(gone_dates.contains(&days_back(31)));
        assert!(!gone_dates.contains(&days_back(30)));
        assert_eq!(gone.len(), 9);
    }

    #[test]
    fn an_age_past_the_calendar_expires_nothing_and_does_not_panic() {
        let files: Vec<LogFile> = (0..3).map(|n| file("r", days_back(n), 0)).collect();
        let now = datetime!(2026-11-22 12:00 UTC);
        for age in [Duration::from_secs(1e12 as u64), Duration::MAX] {
            assert!(Retention::keep_all().max_age(age).expired(&files, now, &[]).is_empty());
        }
    }

    #[test]
    fn schedule_keeps_daily_weekly_and_monthly_representatives() {
        // One file a day for 400 days.
        let files: Vec<LogFile> = (0..400).map(|n| file("r", days_back(n), 0)).collect();
        let now = datetime!(2026-11-22 12:00 UTC);
        let gone = Retention::keep_all().schedule(7, 8, 12).expired(&files, now, &[]);
        let kept: BTreeSet<Date> = files
            .iter()
            .map(|f| f.date)
            .filter(|d| !gone.iter().any(|g| g.date == *d))
            .collect();
        for n in 0..7 {
            assert!(kept.contains(&days_back(n)), "daily {n}");
        }
        // 2026-11-22 is a Sunday: the last day of each earlier ISO week is a Sunday.
        for w in 1..8 {
            assert!(kept.contains(&days_back(7 * w)), "weekly {w}");
        }
        // Last day of each earlier month.
        for d in [date!(2026 - 10 - 31), date!(2026 - 09 - 30), date!(2025 - 12 - 31)] {
            assert!(kept.contains(&d), "monthly {d}");
        }
        assert!(!kept.contains(&date!(2025 - 11 - 30)), "13th month back is gone");
        assert!(!kept.contains(&date!(2026 - 10 - 30)));
        // 7 days + 7 more week ends + 11 more month ends, minus overlaps.
        assert!(kept.len() <= 7 + 8 + 12);
    }

    #[test]
    fn apply_deletes_only_files_of_the_pattern() {
        let dir = tempdir();
        for n in 0..5 {
            std::fs::write(dir.join(LogFile::file_name("r", days_back(n), 0, n % 2 == 0)), "{}\n").expect("write");
        }
        for other in [
            "r.ndjson",
            "notes.txt",
            "r.2020-01-01.0000.ndjson.gz.tmp",
            "r.2020-01-01.ndjson",
        ] {
            std::fs::write(dir.join(other), "x").expect("write");
        }
        let report = Retention::keep_all()
            .max_files(2)
            .apply(&dir, Some("r"), datetime!(2026-11-22 12:00 UTC), &[])
            .expect("apply");
        assert_eq!(report.deleted.len(), 3);
        assert_eq!(report.kept, 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "notes.txt",
                "r.2020-01-01.0000.ndjson.gz.tmp",
                "r.2020-01-01.ndjson",
                "r.2026-11-21.0000.ndjson",
                "r.2026-11-22.0000.ndjson.gz",
                "r.ndjson"
            ]
        );
        std::fs::remove_dir_all(dir).expect("cleanup");
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "privlog-retention-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        dir
    }

    fn arb_files() -> impl Strategy<Value = Vec<LogFile>> {
        proptest::collection::vec((0..2usize, 0..500i64, 0..3u32), 0..60).prop_map(|v| {
            let mut files: Vec<LogFile> = v
                .into_iter()
                .map(|(p, d, s)| file(["a", "b"][p], days_back(d), s))
                .collect();
            files.sort_by(|a, b| a.path.cmp(&b.path));
            files.dedup_by(|a, b| a.path == b.path);
            files
        })
    }

    proptest! {
        #[test]
        fn max_files_leaves_exactly_the_newest_per_prefix(files in arb_files(), n in 0..10usize) {
            let now = datetime!(2026-11-22 12:00 UTC);
            let gone = Retention::keep_all().max_files(n).expired(&files, now, &[]);
            for prefix in ["a", "b"] {
                let mut all: Vec<&LogFile> = files.iter().filter(|f| f.prefix == prefix).collect();
                all.sort_by_key(|f| std::cmp::Reverse(f.order()));
                let kept: Vec<&LogFile> = all.iter().copied().filter(|f| !gone.contains(f)).collect();
                prop_assert_eq!(kept.len(), all.len().min(n));
                prop_assert_eq!(&kept[..], &all[..all.len().min(n)]);
            }
        }

        #[test]
        fn excluded_files_are_never_expired(files in arb_files(), pick in 0..60usize, n in 0..3usize) {
            prop_assume!(!files.is_empty());
            let keep = &files[pick % files.len()];
            let now = datetime!(2026-11-22 12:00 UTC);
            let rule = Retention::keep_all().max_files(n).max_age(Duration::from_secs(86_400)).schedule(n, n, n);
            let gone = rule.expired(&files, now, &[keep.path.as_path()]);
            prop_assert!(!gone.contains(&keep));
        }

        #[test]
        fn age_rule_keeps_exactly_the_days_within_the_age(files in arb_files(), days in 0..600u64) {
            let now = datetime!(2026-11-22 00:00 UTC);
            let gone = Retention::keep_all().max_age(Duration::from_secs(days * 86_400)).expired(&files, now, &[]);
            for f in &files {
                let age_days = (date!(2026 - 11 - 22) - f.date).whole_days();
                // A file of day D is expired when D + 1 + days <= today.
                let expired = age_days > days as i64;
                prop_assert_eq!(gone.contains(&f), expired);
            }
        }

        #[test]
        fn schedule_keeps_at_least_the_newest_days(files in arb_files(), daily in 0..10usize) {
            let now = datetime!(2026-11-22 12:00 UTC);
            let gone = Retention::keep_all().schedule(daily, 0, 0).expired(&files, now, &[]);
            for prefix in ["a", "b"] {
                let mut days: Vec<Date> = files.iter().filter(|f| f.prefix == prefix).map(|f| f.date).collect();
                days.sort_by(|a, b| b.cmp(a));
                days.dedup();
                for f in files.iter().filter(|f| f.prefix == prefix) {
                    let rank = days.iter().position(|d| *d == f.date).unwrap_or(usize::MAX);
                    prop_assert_eq!(gone.contains(&f), rank >= daily);
                }
            }
        }
    }
}
