//! The names of the files a rolling sink writes: `{prefix}.{YYYY-MM-DD}.{seq}.ndjson[.gz]`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use time::Date;
use time::macros::format_description;

/// Suffix of a file being written or closed uncompressed.
const PLAIN: &str = ".ndjson";
/// Suffix of a closed, compressed file.
const GZ: &str = ".ndjson.gz";

/// One file written by a [`RollingFileSink`](super::RollingFileSink), recognised by its name.
///
/// Only names of the exact form `{prefix}.{YYYY-MM-DD}.{seq}.ndjson` or
/// `….ndjson.gz` are log files; retention never looks at anything else.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogFile {
    /// Where the file is.
    pub path: PathBuf,
    /// The name's prefix (`requests` in `requests.2026-11-22.0000.ndjson`).
    pub prefix: String,
    /// The UTC day whose records the file holds.
    pub date: Date,
    /// The file's number within its day (size rotation starts a new number).
    pub seq: u32,
    /// Whether the file is gzip-compressed (`.ndjson.gz`).
    pub compressed: bool,
}

impl LogFile {
    /// Recognises a log file by its name; `None` for any other file.
    pub fn parse(path: &Path) -> Option<LogFile> {
        let name = path.file_name().and_then(OsStr::to_str)?;
        let (stem, compressed) = match name.strip_suffix(GZ) {
            Some(stem) => (stem, true),
            None => (name.strip_suffix(PLAIN)?, false),
        };
        let (rest, seq) = stem.rsplit_once('.')?;
        if seq.is_empty() || seq.len() > 9 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (prefix, date) = rest.rsplit_once('.')?;
        if !valid_prefix(prefix) || date.len() != 10 {
            return None;
        }
        let date = Date::parse(date, format_description!("[year]-[month]-[day]")).ok()?;
        Some(LogFile {
            path: path.to_path_buf(),
            prefix: prefix.to_owned(),
            date,
            seq: seq.parse().ok()?,
            compressed,
        })
    }

    /// The file name for `prefix`, `date` and `seq`.
    pub fn file_name(prefix: &str, date: Date, seq: u32, compressed: bool) -> String {
        format!(
            "{prefix}.{:04}-{:02}-{:02}.{seq:04}{}",
            date.year(),
            u8::from(date.month()),
            date.day(),
            if compressed { GZ } else { PLAIN }
        )
    }

    /// Sort key: oldest first.
    pub(crate) fn order(&self) -> (Date, u32) {
        (self.date, self.seq)
    }
}

/// Whether `prefix` can start a log file name: not empty, no path separators,
/// no control characters.
pub(crate) fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() <= 200
        && !prefix.starts_with('.')
        && !prefix.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

/// Every log file in `dir`, oldest first; with `prefix`, only that prefix's.
///
/// # Errors
/// `dir` cannot be read.
pub fn log_files(dir: &Path, prefix: Option<&str>) -> std::io::Result<Vec<LogFile>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()) {
            continue;
        }
        if let Some(f) = LogFile::parse(&entry.path())
            && prefix.is_none_or(|p| p == f.prefix)
        {
            out.push(f);
        }
    }
    out.sort_by(|a, b| a.order().cmp(&b.order()).then(a.compressed.cmp(&b.compressed)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn names_round_trip() {
        for compressed in [false, true] {
            let name = LogFile::file_name("req.v1", date!(2026 - 11 - 22), 7, compressed);
            let f = LogFile::parse(Path::new(&name)).expect("own name parses");
            assert_eq!(
                (f.prefix.as_str(), f.date, f.seq, f.compressed),
                ("req.v1", date!(2026 - 11 - 22), 7, compressed)
            );
        }
        assert_eq!(
            LogFile::file_name("requests", date!(2026 - 01 - 02), 3, true),
            "requests.2026-01-02.0003.ndjson.gz"
        );
    }

    #[test]
    fn foreign_names_are_not_log_files() {
        for name in [
            "requests.ndjson",
            "requests.2026-11-22.ndjson",
            "requests.2026-11-22.x1.ndjson",
            "requests.2026-13-22.0000.ndjson",
            ".2026-11-22.0000.ndjson",
            "requests.2026-11-22.0000.ndjson.gz.tmp",
            "requests.2026-11-22.0000.json",
            "notes.txt",
        ] {
            assert_eq!(LogFile::parse(Path::new(name)), None, "{name}");
        }
    }
}
