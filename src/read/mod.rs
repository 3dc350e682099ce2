//! Reading record files back: NDJSON, plain or gzip-compressed, from files or
//! standard input, one file at a time or on every core. A torn last line (a crash mid-write) or any damaged line is
//! skipped and counted, never fatal.

pub(crate) mod blocks;
mod lines;
mod open;

use std::io::{self, BufRead};
use std::path::PathBuf;

pub use lines::{Line, LineReader};
pub use open::open;
pub(crate) use open::{Decoded, Sniffed, decode};

use crate::Record;
use crate::record::parse_line;

/// What a reader read: records, damaged lines it skipped, blank lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadCounts {
    /// Lines that parsed as records.
    pub records: u64,
    /// Lines that were not valid records (torn, corrupt, another schema,
    /// longer than [`MAX_LINE_LEN`](crate::record::MAX_LINE_LEN)).
    pub skipped: u64,
    /// Empty lines.
    pub blank: u64,
}

/// Iterates over the records of one or more files, skipping and counting
/// lines that are not records. Files are opened one at a time, and a line
/// longer than [`MAX_LINE_LEN`](crate::record::MAX_LINE_LEN) is passed over without being held, so memory
/// stays small whatever the input.
///
/// ```no_run
/// let mut reader = privlog::read::RecordReader::new(vec!["records.ndjson".into()]);
/// for record in reader.by_ref() {
///     let record = record?;
///     println!("{} {}", record.method, record.path);
/// }
/// eprintln!("skipped {} damaged lines", reader.counts().skipped);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RecordReader {
    paths: std::vec::IntoIter<PathBuf>,
    current: Option<LineReader<Box<dyn BufRead + Send>>>,
    counts: ReadCounts,
}

impl std::fmt::Debug for RecordReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReader")
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl RecordReader {
    /// A reader over `paths` in order (`-` is standard input).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        RecordReader {
            paths: paths.into_iter(),
            current: None,
            counts: ReadCounts::default(),
        }
    }

    /// What was read and skipped so far.
    pub fn counts(&self) -> &ReadCounts {
        &self.counts
    }
}

impl Iterator for RecordReader {
    type Item = io::Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let reader = match self.current.as_mut() {
                Some(r) => r,
                None => {
                    let path = self.paths.next()?;
                    match open(&path) {
                        Ok(r) => self.current.insert(LineReader::new(r)),
                        Err(e) => return Some(Err(e)),
                    }
                }
            };
            let line = match reader.next_line() {
                Ok(None) => {
                    self.current = None;
                    continue;
                }
                Ok(Some(Line::Whole(line))) => line,
                Ok(Some(Line::Long(_))) => {
                    // Not a record; its rest is passed over on the next read.
                    self.counts.skipped += 1;
                    continue;
                }
                Err(e) => {
                    // A truncated gzip member or an unreadable tail: count it
                    // as damage and go on with the next file.
                    self.counts.skipped += 1;
                    self.current = None;
                    if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::InvalidData {
                        continue;
                    }
                    return Some(Err(e));
                }
            };
            let trimmed = line.trim_ascii();
            if trimmed.is_empty() {
                self.counts.blank += 1;
                continue;
            }
            match parse_line(trimmed) {
                Ok(r) => {
                    self.counts.records += 1;
                    return Some(Ok(r));
                }
                Err(_) => self.counts.skipped += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::MAX_LINE_LEN;
    use std::fs::File;
    use std::io::Write;

    fn line() -> String {
        crate::Record::new(time::OffsetDateTime::UNIX_EPOCH, "GET", "/").to_ndjson()
    }

    #[test]
    fn torn_last_line_is_skipped_and_counted() {
        let dir = std::env::temp_dir().join(format!("privlog-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("a.ndjson");
        let l = line();
        std::fs::write(&p, format!("{l}{l}{}", &l[..l.len() / 2])).expect("write");
        let gz = dir.join("b.ndjson.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&gz).expect("create"), flate2::Compression::fast());
        enc.write_all(format!("{l}\n{l}").as_bytes()).expect("gz");
        enc.finish().expect("finish");
        let mut r = RecordReader::new(vec![p, gz]);
        let n = r.by_ref().filter(|r| r.is_ok()).count();
        assert_eq!(n, 4);
        assert_eq!(r.counts().skipped, 1);
        assert_eq!(r.counts().blank, 1);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn over_long_lines_are_skipped_and_each_counted_once() {
        let dir = std::env::temp_dir().join(format!("privlog-read-long-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("a.ndjson");
        let l = line();
        let long = "x".repeat(MAX_LINE_LEN * 3);
        std::fs::write(&p, format!("{l}{long}\n{l}{long}")).expect("write");
        let mut r = RecordReader::new(vec![p]);
        let n = r.by_ref().filter(|r| r.is_ok()).count();
        assert_eq!(n, 2);
        assert_eq!(r.counts().skipped, 2);
        let _ = std::fs::remove_dir_all(dir);
    }
}
