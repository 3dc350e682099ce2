//! Retention: deleting record files older than a limit ("logs are kept 30
//! days"), touching only files privlog's file sinks wrote.
//!
//! A file is privlog's when its name matches [`record_file_day`]:
//! `<prefix>.YYYY-MM-DD[.N].ndjson[.gz]`. It is expired when both the end of
//! the day in its name and its last modification are older than the limit, so
//! a file that is still being written is never deleted.
//!
//! ```no_run
//! use std::time::Duration;
//! let plan = privlog::retention::plan(
//!     std::path::Path::new("/var/log/app"),
//!     Duration::from_secs(30 * 86_400),
//!     time::OffsetDateTime::now_utc(),
//! )?;
//! for file in &plan.expired {
//!     std::fs::remove_file(&file.path)?;
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::{Date, Month, OffsetDateTime};

/// The day a record file covers, when `name` is a file name privlog's file
/// sinks write: `<prefix>.YYYY-MM-DD[.N].ndjson[.gz]` (`app.2026-11-22.ndjson`,
/// `app.2026-11-22.3.ndjson.gz`). `None` for any other name.
///
/// ```
/// use privlog::retention::record_file_day;
/// assert!(record_file_day("privlog.2026-11-22.ndjson.gz").is_some());
/// assert!(record_file_day("privlog.2026-11-22.2.ndjson").is_some());
/// assert!(record_file_day("access.log").is_none());
/// assert!(record_file_day("privlog.2026-11-22.ndjson.bak").is_none());
/// ```
pub fn record_file_day(name: &str) -> Option<Date> {
    let rest = name.strip_suffix(".gz").unwrap_or(name);
    let rest = rest.strip_suffix(".ndjson")?;
    // Drop an optional `.N` part number.
    let rest = match rest.rsplit_once('.') {
        Some((head, n)) if !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => rest,
    };
    let (prefix, day) = rest.rsplit_once('.')?;
    if prefix.is_empty() || prefix.starts_with('.') || day.len() != 10 {
        return None;
    }
    let b = day.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i32 = day.get(0..4)?.parse().ok()?;
    let month: u8 = day.get(5..7)?.parse().ok()?;
    let dom: u8 = day.get(8..10)?.parse().ok()?;
    if !day
        .bytes()
        .enumerate()
        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return None;
    }
    Date::from_calendar_date(year, Month::try_from(month).ok()?, dom).ok()
}

/// A record file past the retention limit.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExpiredFile {
    /// The file.
    pub path: PathBuf,
    /// The day in its name.
    pub day: Date,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What [`plan`] found in a directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionPlan {
    /// Record files older than the limit, oldest first.
    pub expired: Vec<ExpiredFile>,
    /// Record files within the limit.
    pub kept: u64,
    /// Entries that are not privlog record files (never touched).
    pub ignored: u64,
}

/// Lists the record files directly in `dir` that are older than `max_age` at
/// `now`. Nothing is deleted; remove [`RetentionPlan::expired`] to apply it.
///
/// # Errors
/// The I/O error of reading the directory, with its path in the message.
pub fn plan(dir: &Path, max_age: Duration, now: OffsetDateTime) -> io::Result<RetentionPlan> {
    let ctx = |e: io::Error| io::Error::new(e.kind(), format!("cannot read directory {}: {e}", dir.display()));
    let cutoff = now - max_age;
    let mut plan = RetentionPlan::default();
    for entry in fs::read_dir(dir).map_err(ctx)? {
        let entry = entry.map_err(ctx)?;
        let name = entry.file_name();
        let day = name.to_str().and_then(record_file_day);
        let meta = entry.metadata().map_err(ctx)?;
        let (Some(day), true) = (day, meta.file_type().is_file()) else {
            plan.ignored += 1;
            continue;
        };
        let day_end = day
            .next_day()
            .map_or(OffsetDateTime::UNIX_EPOCH, |d| d.midnight().assume_utc());
        let modified = meta.modified().map(OffsetDateTime::from).unwrap_or(now);
        if day_end <= cutoff && modified <= cutoff {
            plan.expired.push(ExpiredFile {
                path: entry.path(),
                day,
                bytes: meta.len(),
            });
        } else {
            plan.kept += 1;
        }
    }
    plan.expired.sort_by(|a, b| (a.day, &a.path).cmp(&(b.day, &b.path)));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn names_privlog_writes_match_and_others_do_not() {
        for (name, day) in [
            ("privlog.2026-11-22.ndjson", Some(date!(2026 - 11 - 22))),
            ("app.v2.2026-01-31.ndjson.gz", Some(date!(2026 - 01 - 31))),
            ("app.2026-11-22.12.ndjson.gz", Some(date!(2026 - 11 - 22))),
            ("app.2026-02-30.ndjson", None),
            (".2026-11-22.ndjson", None),
            ("2026-11-22.ndjson", None),
            ("app.2026-11-22.log", None),
            ("app.2026-11-22.ndjson.tmp", None),
            (".app.2026-11-22.ndjson.erase-7.tmp", None),
            ("app.2026-1a-22.ndjson", None),
            ("app.ndjson", None),
        ] {
            assert_eq!(record_file_day(name), day, "{name}");
        }
    }

    #[test]
    fn only_record_files_past_the_limit_by_name_and_modification_are_expired() {
        let dir = std::env::temp_dir().join(format!("privlog-retention-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let names = [
            "a.2026-10-01.ndjson",
            "a.2026-10-20.ndjson.gz",
            "a.2026-11-21.ndjson",
            "notes.txt",
            "x.2026-01-01.log",
        ];
        for name in names {
            fs::write(dir.join(name), "x").expect("write");
        }
        fs::create_dir(dir.join("a.2026-01-01.ndjson")).expect("subdir");
        let month = Duration::from_secs(30 * 86_400);
        let now = datetime!(2026-11-23 12:00 UTC);

        // Just written: the modification time protects every file.
        let fresh = plan(&dir, month, OffsetDateTime::now_utc()).expect("plan");
        assert!(fresh.expired.is_empty());

        // Modified long ago: the day in the name decides.
        let long_ago = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        for name in names {
            let f = fs::OpenOptions::new().write(true).open(dir.join(name)).expect("open");
            f.set_modified(long_ago).expect("set mtime");
        }
        let p = plan(&dir, month, now).expect("plan");
        let expired: Vec<_> = p.expired.iter().filter_map(|e| e.path.file_name()?.to_str()).collect();
        assert_eq!(expired, vec!["a.2026-10-01.ndjson", "a.2026-10-20.ndjson.gz"]);
        assert_eq!((p.kept, p.ignored), (1, 3));
        let _ = fs::remove_dir_all(dir);
    }
}
