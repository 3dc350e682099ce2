//! The rolling sink as the operator config file describes it (feature
//! `config`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::sink::check_prefix;
use super::{Retention, RollingFileSink, RollingFsync};
use crate::limits::{DurationLimit, Limit, OutOfRange};
use crate::sink::SettingsError;
use crate::sink::util::parse_duration;

/// `type = "rolling"`: NDJSON files per UTC day (and by size), see [`RollingFileSink`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RollingSettings {
    /// The directory of the files (created if missing).
    pub dir: PathBuf,
    /// File name prefix (default `requests`): `requests.2026-11-22.0000.ndjson`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Also roll over when a file reaches this many bytes (default: daily only).
    pub max_file_bytes: Option<u64>,
    /// Gzip closed files (default true).
    #[serde(default = "yes")]
    pub compress: bool,
    /// `never` (default), `every_batch`, or an interval such as `1s`.
    pub fsync: Option<String>,
    /// Delete files older than this (`30d`); default: keep.
    pub max_age: Option<String>,
    /// Keep at most this many files.
    pub max_files: Option<usize>,
    /// Keep `[daily, weekly, monthly]` files, e.g. `[7, 8, 12]`.
    pub schedule: Option<[usize; 3]>,
    /// Each line: `ndjson` (default), `clf` or `combined`, see [`LineFormat`](crate::record::LineFormat).
    #[serde(default)]
    pub format: crate::record::LineFormat,
}

/// `max_file_bytes`.
const MAX_FILE_BYTES: Limit = Limit::bytes("max_file_bytes", 1 << 10, 1 << 40);
/// `max_files`.
const MAX_FILES: Limit = Limit::count("max_files", 1, 100_000);
/// Each number of `schedule`.
const SCHEDULE: Limit = Limit::count("schedule", 0, 10_000);
/// `max_age`: up to 100 years.
const MAX_AGE: DurationLimit =
    DurationLimit::new("max_age", Duration::from_secs(1), Duration::from_secs(36_500 * 86_400));
/// `fsync` as an interval.
const FSYNC_INTERVAL: DurationLimit = DurationLimit::new("fsync", Duration::ZERO, Duration::from_secs(3600));

/// A bad value of `field`.
fn invalid(field: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError::new("rolling", field, reason)
}

/// A setting out of range, under its field.
fn out_of_range(e: OutOfRange) -> SettingsError {
    invalid(e.setting, e.to_string())
}

fn default_prefix() -> String {
    "requests".to_owned()
}

fn yes() -> bool {
    true
}

impl RollingSettings {
    /// A one-line description for `privlog check`.
    pub fn describe(&self) -> String {
        let mut keep = Vec::new();
        if let Some(a) = &self.max_age {
            keep.push(format!("max age {a}"));
        }
        if let Some(n) = self.max_files {
            keep.push(format!("{n} files"));
        }
        if let Some([d, w, m]) = self.schedule {
            keep.push(format!("{d} daily, {w} weekly, {m} monthly"));
        }
        format!(
            "rolling files {}/{}.YYYY-MM-DD.NNNN.ndjson{} (retention: {}, fsync: {})",
            self.dir.display(),
            self.prefix,
            if self.compress { " (gzip when closed)" } else { "" },
            if keep.is_empty() {
                "keep all".to_owned()
            } else {
                keep.join(", ")
            },
            self.fsync.as_deref().unwrap_or("never"),
        )
    }

    /// Checks every field without touching the file system.
    pub(crate) fn check(&self) -> Result<(), SettingsError> {
        check_prefix(&self.prefix).map_err(|e| invalid("prefix", e))?;
        if let Some(b) = self.max_file_bytes {
            MAX_FILE_BYTES.check(b).map_err(out_of_range)?;
        }
        self.fsync_policy()?;
        self.retention()?;
        Ok(())
    }

    /// Checks every field, and that `dir` is or can become a directory,
    /// creating nothing: all that [`RollingSettings::build`] checks before
    /// it opens anything.
    ///
    /// # Errors
    /// The first field with a bad value.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.check()?;
        crate::sink::paths::check_dir(&self.dir).map_err(|e| invalid("dir", e))
    }

    fn fsync_policy(&self) -> Result<RollingFsync, SettingsError> {
        Ok(match self.fsync.as_deref().unwrap_or("never") {
            "never" => RollingFsync::Never,
            "every_batch" => RollingFsync::EveryBatch,
            other => RollingFsync::Interval(
                FSYNC_INTERVAL
                    .check(
                        parse_duration(other)
                            .map_err(|e| invalid("fsync", format!("{e}; or use never / every_batch")))?,
                    )
                    .map_err(out_of_range)?,
            ),
        })
    }

    fn retention(&self) -> Result<Retention, SettingsError> {
        let mut r = Retention::keep_all();
        if let Some(a) = &self.max_age {
            let age: Duration = parse_duration(a).map_err(|e| invalid("max_age", e))?;
            r = r.max_age(MAX_AGE.check(age).map_err(out_of_range)?);
        }
        if let Some(n) = self.max_files {
            r = r.max_files(MAX_FILES.check_usize(n).map_err(out_of_range)?);
        }
        if let Some([d, w, m]) = self.schedule {
            for n in [d, w, m] {
                SCHEDULE.check_usize(n).map_err(out_of_range)?;
            }
            if d + w + m == 0 {
                return Err(invalid(
                    "schedule",
                    "[0, 0, 0] keeps no file; give at least one number above 0, e.g. [7, 8, 12]",
                ));
            }
            r = r.schedule(d, w, m);
        }
        Ok(r)
    }

    /// Builds the sink: checks the settings, then creates `dir` and opens
    /// the day's file.
    ///
    /// # Errors
    /// The first field with a bad value, or `dir` when it cannot be opened.
    pub fn build(&self) -> Result<RollingFileSink, SettingsError> {
        self.validate()?;
        let mut sink = RollingFileSink::new(&self.dir, self.prefix.clone())
            .map_err(|e| invalid("dir", e.to_string()))?
            .compress(self.compress)
            .fsync(self.fsync_policy()?)
            .retention(self.retention()?)
            .format(self.format);
        if let Some(b) = self.max_file_bytes {
            sink = sink.max_file_size(b);
        }
        Ok(sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Record;
    use crate::sink::{Accounting, Ledger, Sink};

    fn parse(s: &str) -> RollingSettings {
        toml::from_str(s).expect("valid settings")
    }

    #[test]
    fn format_names_the_line_format_and_defaults_to_ndjson() {
        use crate::record::LineFormat;
        assert_eq!(parse("dir = \"/tmp/x\"").format, LineFormat::Ndjson);
        assert_eq!(
            parse("dir = \"/tmp/x\"\nformat = \"combined\"").format,
            LineFormat::Combined
        );
        assert!(toml::from_str::<RollingSettings>("dir = \"/tmp/x\"\nformat = \"w3c\"").is_err());
    }

    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_table_builds_a_sink_that_writes_into_its_dir() {
        let tmp = TempDir(std::env::temp_dir().join(format!("privlog-rolling-settings-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(&tmp.0);
        let s = parse(&format!(
            "dir = {:?}\nprefix = \"web\"\nfsync = \"every_batch\"\nmax_age = \"30d\"\nschedule = [7, 8, 12]\n\
             max_file_bytes = 4096\ncompress = false\n",
            tmp.0.display().to_string()
        ));
        s.validate().expect("valid");
        assert!(!tmp.0.exists(), "validate creates nothing");
        let mut sink = s.build().expect("builds");
        let ledger = Ledger::detached("rolling");
        assert_eq!(sink.attach(ledger.clone()), Accounting::Sink);
        let r = Record::new(time::OffsetDateTime::UNIX_EPOCH, "GET", "/settings-check");
        sink.write(&[r]).expect("write");
        sink.close(std::time::Instant::now()).expect("close");
        assert_eq!(ledger.stats().delivered, 1, "every_batch: delivered once synced");
        let files: Vec<String> = std::fs::read_dir(&tmp.0)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(
            files[0].starts_with("web.") && files[0].ends_with(".ndjson"),
            "{files:?}"
        );
        let text = std::fs::read_to_string(tmp.0.join(&files[0])).expect("read");
        assert!(text.contains("/settings-check"), "{text}");
        assert!(
            s.describe().contains("7 daily, 8 weekly, 12 monthly"),
            "{}",
            s.describe()
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        for (table, field) in [
            ("prefix = \"../up\"", "prefix"),
            ("max_file_bytes = 10", "max_file_bytes"),
            ("fsync = \"sometimes\"", "fsync"),
            ("fsync = \"2h\"", "fsync"),
            ("max_age = \"a month\"", "max_age"),
            ("max_age = \"0s\"", "max_age"),
            ("max_files = 0", "max_files"),
            ("schedule = [0, 0, 0]", "schedule"),
            ("schedule = [7, 8, 10001]", "schedule"),
        ] {
            let e = parse(&format!("dir = \"/nonexistent/privlog\"\n{table}"))
                .check()
                .expect_err(table);
            assert_eq!((e.sink, e.field), ("rolling", field), "{table}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("invalid rolling sink field `{field}`: ")),
                "{e}"
            );
        }
        assert!(toml::from_str::<RollingSettings>("dir = \"/x\"\ncolour = 1").is_err());
    }
}
