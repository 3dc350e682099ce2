use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{LineMatch, SubjectMatcher};
use crate::read::{Line, LineReader};

/// What a subject request found in one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Lines that are records.
    pub records: u64,
    /// Records of the requested accounts (exported, or erased).
    pub matched: u64,
    /// Lines that are not records (blank, torn, damaged, over-long); erasing
    /// keeps them as they are.
    pub not_records: u64,
    /// Of the lines that are not records, those longer than any record can be
    /// ([`MAX_LINE_LEN`](crate::read::MAX_LINE_LEN)). They are read past
    /// without being held in memory; erasing copies them through byte for
    /// byte, as it does every line it cannot attribute to the account.
    pub long_lines: u64,
    /// Records whose pseudonyms were made by a key missing from the ring, per
    /// key fingerprint. They may belong to the requested accounts.
    pub unknown_keys: BTreeMap<String, u64>,
    /// Whether the file was rewritten (erase without dry run, something matched).
    pub rewritten: bool,
}

impl FileReport {
    fn count_long(&mut self) {
        self.not_records += 1;
        self.long_lines += 1;
    }

    fn count(&mut self, m: &LineMatch) {
        match m {
            LineMatch::Subject(_) => {
                self.records += 1;
                self.matched += 1;
            }
            LineMatch::Other => self.records += 1,
            LineMatch::UnknownKey(kid) => {
                self.records += 1;
                *self.unknown_keys.entry(kid.clone()).or_default() += 1;
            }
            LineMatch::NotARecord => self.not_records += 1,
        }
    }
}

/// Why a subject request could not finish a file. The file is then unchanged.
#[derive(Debug)]
#[non_exhaustive]
pub enum SubjectError {
    /// Reading or writing failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`read`, `write`, `rename` …).
        action: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file changed while it was being rewritten (a writer still appends
    /// to it); it was left as it is.
    Changed {
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for SubjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectError::Io { path, action, .. } => {
                write!(f, "cannot {action} {}; the file is unchanged", path.display())
            }
            SubjectError::Changed { path } => write!(
                f,
                "{} changed while it was being rewritten (is privlog still writing to it?); it is unchanged, \
                 run again once the file has been rotated",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SubjectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubjectError::Io { source, .. } => Some(source),
            SubjectError::Changed { .. } => None,
        }
    }
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> SubjectError + 'a {
    move |source| SubjectError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// Opens `path` for reading lines, decompressing gzip (by its magic bytes)
/// as it is read.
fn open_decoded(path: &Path) -> io::Result<(Box<dyn BufRead + Send>, bool)> {
    crate::read::decode(File::open(path)?)
}

/// Calls `found(account_index, line)` for every record of the matcher's
/// accounts in `path` (plain or gzip NDJSON), with the line's original bytes.
///
/// Memory stays small whatever the file holds: a line longer than any record
/// can be is read past without being held and counted in
/// [`FileReport::long_lines`].
///
/// # Errors
/// [`SubjectError::Io`] when the file cannot be read, or `found` fails.
pub fn export_file(
    path: &Path,
    matcher: &mut SubjectMatcher,
    mut found: impl FnMut(usize, &[u8]) -> io::Result<()>,
) -> Result<FileReport, SubjectError> {
    let mut report = FileReport {
        path: path.to_owned(),
        ..FileReport::default()
    };
    let (reader, _) = open_decoded(path).map_err(io_err(path, "open"))?;
    let mut lines = LineReader::new(reader);
    while let Some(line) = lines.next_line().map_err(io_err(path, "read"))? {
        match line {
            Line::Whole(line) => {
                let m = matcher.match_line(line);
                report.count(&m);
                if let LineMatch::Subject(i) = m {
                    found(i, line).map_err(io_err(path, "write the export of"))?;
                }
            }
            // Not a record: the rest of it is passed over by the next read.
            Line::Long(_) => report.count_long(),
        }
    }
    Ok(report)
}

enum Output {
    Plain(BufWriter<File>),
    Gz(GzEncoder<BufWriter<File>>),
}

impl Output {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Plain(w) => w,
            Output::Gz(w) => w,
        }
    }

    fn finish(self) -> io::Result<File> {
        let buffered = match self {
            Output::Plain(w) => w,
            Output::Gz(w) => w.finish()?,
        };
        buffered.into_inner().map_err(io::IntoInnerError::into_error)
    }
}

struct Temp {
    path: PathBuf,
    out: Option<Output>,
}

impl Drop for Temp {
    fn drop(&mut self) {
        // Only reached with the temp file still in place when the rewrite failed.
        if self.out.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn fingerprint(path: &Path) -> io::Result<(u64, Option<SystemTime>)> {
    let m = fs::metadata(path)?;
    Ok((m.len(), m.modified().ok()))
}

/// Rewrites `path` without the records of the matcher's accounts.
///
/// Every other line — other people's records, damaged lines — is copied byte
/// for byte. That includes lines longer than any record can be
/// ([`MAX_LINE_LEN`](crate::read::MAX_LINE_LEN)): such a line cannot be a
/// record of the account, and erasing must not destroy what it cannot
/// attribute, so it is streamed through unchanged (never held in memory) and
/// counted in [`FileReport::long_lines`] for the operator to look at (for
/// example with `privlog audit`). The new content goes to a temporary file in the same directory,
/// which is synced and renamed over the original (then the directory is
/// synced), so a crash leaves either the old or the new file, never half of
/// one. A gzip file is written back gzip-compressed. A file with nothing to
/// erase is not touched; with `dry_run` no file is.
///
/// # Errors
/// [`SubjectError::Io`] when the file cannot be read to the end or the new
/// file cannot be written, [`SubjectError::Changed`] when the file grew or
/// changed during the rewrite. The original file is then unchanged.
pub fn erase_file(path: &Path, matcher: &mut SubjectMatcher, dry_run: bool) -> Result<FileReport, SubjectError> {
    let mut report = FileReport {
        path: path.to_owned(),
        ..FileReport::default()
    };
    let before = fingerprint(path).map_err(io_err(path, "open"))?;
    let (reader, gz) = open_decoded(path).map_err(io_err(path, "open"))?;
    let mut lines = LineReader::new(reader);
    let mut temp: Option<Temp> = None;
    // Decompressed bytes read so far: all of them stay until the first erased line.
    let mut offset = 0u64;
    loop {
        let n = match lines.next_line().map_err(io_err(path, "read"))? {
            None => break,
            Some(Line::Whole(line)) => {
                let m = matcher.match_line(line);
                report.count(&m);
                let erase = matches!(m, LineMatch::Subject(_));
                if erase && temp.is_none() && !dry_run {
                    temp = Some(start_temp(path, gz, offset)?);
                }
                if !erase && let Some(out) = temp.as_mut().and_then(|t| t.out.as_mut()) {
                    out.writer()
                        .write_all(line)
                        .map_err(io_err(path, "write the new copy of"))?;
                }
                line.len() as u64
            }
            Some(Line::Long(head)) => {
                report.count_long();
                let head_len = head.len() as u64;
                match temp.as_mut().and_then(|t| t.out.as_mut()) {
                    Some(out) => {
                        out.writer()
                            .write_all(head)
                            .map_err(io_err(path, "write the new copy of"))?;
                        head_len
                            + lines
                                .copy_rest(out.writer())
                                .map_err(io_err(path, "copy a long line of"))?
                    }
                    None => head_len + lines.skip_rest().map_err(io_err(path, "read"))?,
                }
            }
        };
        offset += n;
    }
    let Some(mut temp) = temp else {
        return Ok(report);
    };
    let Some(out) = temp.out.take() else {
        return Ok(report);
    };
    let finished = out.finish().and_then(|f| f.sync_all().map(|()| f));
    if let Err(source) = finished {
        let _ = fs::remove_file(&temp.path);
        return Err(SubjectError::Io {
            path: path.to_owned(),
            action: "write the new copy of",
            source,
        });
    }
    let after = fingerprint(path);
    if after.as_ref().ok() != Some(&before) {
        let _ = fs::remove_file(&temp.path);
        return Err(SubjectError::Changed { path: path.to_owned() });
    }
    let renamed = fs::metadata(path)
        .and_then(|m| fs::set_permissions(&temp.path, m.permissions()))
        .and_then(|()| fs::rename(&temp.path, path));
    if let Err(source) = renamed {
        let _ = fs::remove_file(&temp.path);
        return Err(SubjectError::Io {
            path: path.to_owned(),
            action: "replace",
            source,
        });
    }
    sync_dir(path).map_err(io_err(path, "sync the directory of"))?;
    report.rewritten = true;
    Ok(report)
}

/// Creates the temporary copy and fills it with the first `offset` bytes of
/// the (decompressed) original, which all stay.
fn start_temp(path: &Path, gz: bool, offset: u64) -> Result<Temp, SubjectError> {
    let dir = parent(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp_path = dir.join(format!(".{name}.erase-{}.tmp", std::process::id()));
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp_path)
        .map_err(io_err(path, "create a temporary file next to"))?;
    let buffered = BufWriter::with_capacity(1 << 16, file);
    let out = if gz {
        Output::Gz(GzEncoder::new(buffered, Compression::default()))
    } else {
        Output::Plain(buffered)
    };
    let mut temp = Temp {
        path: tmp_path,
        out: Some(out),
    };
    let (reader, _) = open_decoded(path).map_err(io_err(path, "open"))?;
    if let Some(out) = temp.out.as_mut() {
        let copied = io::copy(&mut reader.take(offset), out.writer()).map_err(io_err(path, "copy"))?;
        if copied != offset {
            return Err(SubjectError::Changed { path: path.to_owned() });
        }
    }
    Ok(temp)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(parent(path))?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> io::Result<()> {
    Ok(())
}
