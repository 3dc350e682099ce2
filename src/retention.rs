//! Retention: deleting record files older than a limit ("logs are kept 30
//! days"), touching only files privlog's file sinks wrote.
//!
//! A file is privlog's when [`LogFile::parse`] recognises its name — the
//! names the [`RollingFileSink`](crate::sink::RollingFileSink) writes,
//! `<prefix>.YYYY-MM-DD.NNNN.ndjson[.gz]`. It is expired when both the end of
//! the day in its name and its last modification are older than the limit, so
//! a file that is still being written is never deleted. The day rule is the
//! rolling sink's own [`Retention::max_age`](crate::sink::Retention::max_age);
//! this is its offline counterpart, for cron jobs and for files of stopped or
//! other processes.
//!
//! It also finds the temporary copies (`.{name}.erase.tmp`) of record files
//! that a `privlog subject erase` left when it was killed, so that no copy of
//! erased data outlives its file: [`RetentionPlan::leftovers`], removed with
//! [`remove_leftover`], which leaves alone a copy an erase is working on.
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

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::{Date, OffsetDateTime};

use crate::sink::{LogFile, Retention, calendar_time, rewrite_temp};

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
    /// Temporary copies of record files (`.{name}.erase.tmp`) that a
    /// `privlog subject erase` made; those no erase is working on any more
    /// are removed by [`remove_leftover`], whatever their age.
    pub leftovers: Vec<PathBuf>,
}

/// Removes `path`, a temporary copy from [`RetentionPlan::leftovers`], unless
/// a `privlog subject erase` is still working on it (it holds a lock on it).
/// Returns whether it is gone.
///
/// # Errors
/// It is not a regular file, or cannot be opened or removed (permissions).
pub fn remove_leftover(path: &Path) -> io::Result<bool> {
    if rewrite_temp::rewritten_name(path).is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a temporary copy of `privlog subject erase` (.NAME.erase.tmp); it is left alone",
                path.display()
            ),
        ));
    }
    rewrite_temp::remove_if_left_over(path)
}

/// Lists the record files directly in `dir` that are older than `max_age` at
/// `now`, and the temporary copies erases left. Nothing is deleted; remove
/// [`RetentionPlan::expired`] and call [`remove_leftover`] for
/// [`RetentionPlan::leftovers`] to apply it.
///
/// A `max_age` reaching back before the calendar (year 0000) expires
/// nothing.
///
/// # Errors
/// The I/O error of reading the directory, with its path in the message.
pub fn plan(dir: &Path, max_age: Duration, now: OffsetDateTime) -> io::Result<RetentionPlan> {
    let ctx = |e: io::Error| io::Error::new(e.kind(), format!("cannot read directory {}: {e}", dir.display()));
    let cutoff = time::Duration::try_from(max_age)
        .ok()
        .and_then(|age| now.checked_sub(age));
    let mut plan = RetentionPlan::default();
    // Record files, with their size and last modification.
    let mut files = Vec::new();
    let mut seen = Vec::new();
    for entry in fs::read_dir(dir).map_err(ctx)? {
        let entry = entry.map_err(ctx)?;
        let path = entry.path();
        let meta = entry.metadata().map_err(ctx)?;
        if rewrite_temp::rewritten_name(&path).is_some_and(|name| LogFile::parse(Path::new(name)).is_some())
            && meta.file_type().is_file()
        {
            plan.leftovers.push(path);
            continue;
        }
        let (Some(file), true) = (LogFile::parse(&path), meta.file_type().is_file()) else {
            plan.ignored += 1;
            continue;
        };
        let modified = meta.modified().map(calendar_time).unwrap_or(now);
        files.push(file);
        seen.push((meta.len(), modified));
    }
    // The day in the name, by the sink's own rule; then the modification.
    let by_day: HashSet<&Path> = Retention::keep_all()
        .max_age(max_age)
        .expired(&files, now, &[])
        .into_iter()
        .map(|f| f.path.as_path())
        .collect();
    for (file, (bytes, modified)) in files.iter().zip(seen) {
        if by_day.contains(file.path.as_path()) && cutoff.is_some_and(|cutoff| modified <= cutoff) {
            plan.expired.push(ExpiredFile {
                path: file.path.clone(),
                day: file.date,
                bytes,
            });
        } else {
            plan.kept += 1;
        }
    }
    plan.expired.sort_by(|a, b| (a.day, &a.path).cmp(&(b.day, &b.path)));
    plan.leftovers.sort();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn old_files_expire_exactly_as_the_rolling_sink_expires_them(
            days in prop::collection::btree_set(0i64..60, 1..12),
            age_hours in 0u64..(70 * 24),
            hour in 0i64..24,
        ) {
            let dir = std::env::temp_dir().join(format!(
                "privlog-offline-retention-same-{}-{age_hours}-{hour}-{}",
                std::process::id(),
                days.len()
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("dir");
            let today = time::macros::date!(2026 - 11 - 22);
            let long_ago = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
            for d in &days {
                let name = LogFile::file_name("r", today - time::Duration::days(*d), 0, d % 2 == 0);
                let f = fs::File::create(dir.join(name)).expect("create");
                f.set_modified(long_ago).expect("set mtime");
            }
            let now = today.midnight().assume_utc() + time::Duration::hours(hour);
            let age = Duration::from_secs(age_hours * 3600);
            let offline = plan(&dir, age, now).expect("plan");
            let files = crate::sink::log_files(&dir, None).expect("list");
            let mut sink: Vec<PathBuf> =
                Retention::keep_all().max_age(age).expired(&files, now, &[]).into_iter().map(|f| f.path.clone()).collect();
            sink.sort();
            let mut offline_paths: Vec<PathBuf> = offline.expired.iter().map(|e| e.path.clone()).collect();
            offline_paths.sort();
            prop_assert_eq!(offline_paths, sink);
            prop_assert_eq!(offline.expired.len() as u64 + offline.kept, days.len() as u64);
            let _ = fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn only_record_files_past_the_limit_by_name_and_modification_are_expired() {
        let dir = std::env::temp_dir().join(format!("privlog-offline-retention-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let names = [
            "a.2026-10-01.0000.ndjson",
            "a.2026-10-20.0003.ndjson.gz",
            "a.2026-11-21.0000.ndjson",
            "notes.txt",
            "a.2026-01-01.ndjson",
        ];
        for name in names {
            fs::write(dir.join(name), "x").expect("write");
        }
        fs::create_dir(dir.join("a.2026-01-01.0000.ndjson")).expect("subdir");
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
        assert_eq!(expired, vec!["a.2026-10-01.0000.ndjson", "a.2026-10-20.0003.ndjson.gz"]);
        assert_eq!((p.kept, p.ignored), (1, 3));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn an_age_before_the_calendar_expires_nothing_and_its_last_day_is_kept() {
        let dir = std::env::temp_dir().join(format!("privlog-offline-retention-far-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let long_ago = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        for name in ["a.2020-01-01.0000.ndjson", "a.9999-12-31.0000.ndjson"] {
            let f = fs::File::create(dir.join(name)).expect("create");
            f.set_modified(long_ago).expect("set mtime");
        }
        // 11 574 074 days: back past the year 0000.
        let p = plan(
            &dir,
            Duration::from_secs(11_574_074 * 86_400),
            datetime!(2026-11-23 12:00 UTC),
        )
        .expect("plan");
        assert!(p.expired.is_empty());
        assert_eq!(p.kept, 2);
        // The last day of the calendar never ends: kept under any age.
        let p = plan(&dir, Duration::from_secs(86_400), datetime!(9999-12-31 23:00 UTC)).expect("plan");
        let expired: Vec<_> = p.expired.iter().filter_map(|e| e.path.file_name()?.to_str()).collect();
        assert_eq!(expired, ["a.2020-01-01.0000.ndjson"]);
        assert_eq!(p.kept, 1);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn copies_left_by_erases_are_listed_and_removed_only_when_no_erase_holds_them() {
        let dir = std::env::temp_dir().join(format!("privlog-offline-retention-leftover-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let held = dir.join(".a.2026-11-20.0000.ndjson.erase.tmp");
        let left = dir.join(".a.2026-11-21.0000.ndjson.gz.erase.tmp");
        let foreign = dir.join(".notes.txt.erase.tmp");
        for p in [&held, &left, &foreign] {
            fs::write(p, "x").expect("write");
        }
        let lock = fs::File::open(&held).expect("open");
        lock.lock().expect("an erase at work");
        let p = plan(&dir, Duration::from_secs(86_400), datetime!(2026-11-23 12:00 UTC)).expect("plan");
        assert_eq!(p.leftovers, [held.clone(), left.clone()]);
        assert_eq!(p.ignored, 1, "not a record file's copy: left alone");
        assert!(!remove_leftover(&held).expect("check"), "held: kept");
        assert!(remove_leftover(&left).expect("remove"));
        assert!(held.exists() && !left.exists() && foreign.exists());
        assert!(
            remove_leftover(&dir.join("a.2026-11-20.0000.ndjson")).is_err(),
            "only copies"
        );
        let _ = fs::remove_dir_all(dir);
    }
}
