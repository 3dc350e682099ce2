use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{LineMatch, SubjectMatcher};
use crate::read::{Decoded, Line, LineReader, Sniffed, decode};
use crate::sink::rewrite_temp::{self, kind_of, open_no_wait};
use crate::sink::{FileId, LOCK_WAIT, LockError, LockKind, LogFile, WithinLimit, lock};

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
    /// ([`MAX_LINE_LEN`](crate::record::MAX_LINE_LEN)). They are read past
    /// without being held in memory; erasing copies them through byte for
    /// byte, as it does every line it cannot attribute to the account.
    pub long_lines: u64,
    /// Records whose pseudonyms were made by a key missing from the ring, per
    /// key fingerprint. They may belong to the requested accounts.
    pub unknown_keys: BTreeMap<String, u64>,
    /// Whether the file was rewritten (erase without dry run, something matched).
    pub rewritten: bool,
    /// The file that was read (and rewritten) in place of [`path`](Self::path),
    /// when that is not `path` itself: the file a symbolic link points to,
    /// or the compressed `.ndjson.gz` of a rolling log file that was
    /// compressed (and removed) while the erase ran.
    pub target: Option<PathBuf>,
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
    /// Another process changed the file while it was being rewritten, other
    /// than by appending under the lock privlog's sinks take; it was left as
    /// it is.
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// Another process held a lock on the file for too long (a sink stuck
    /// writing, the rolling sink compressing it, another erase).
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The path names something other than a regular file (a FIFO, a
    /// device, a directory); it is not read.
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is (`a FIFO (named pipe)`, `a directory` …).
        kind: &'static str,
    },
    /// The file has other names (hard links). Rewriting it gives this name a
    /// new file, while the others keep the old one with every record the
    /// erase removes, so it is refused.
    HardLinked {
        /// The file.
        path: PathBuf,
        /// How many other names it has.
        others: u64,
    },
    /// The rewritten copy could not be given the original's owner and group
    /// (only root, or the owner within its own groups, may), so the process
    /// writing the file might not be able to open the copy.
    Ownership {
        /// The file.
        path: PathBuf,
        /// The original's owner (user ID).
        uid: u32,
        /// The original's group (group ID).
        gid: u32,
        /// The operating system's error.
        source: io::Error,
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
                "{} was changed by another process while it was being rewritten (truncated, replaced, or \
                 appended to without taking its lock); it is unchanged, run again once that process is done",
                path.display()
            ),
            SubjectError::Locked { path } => write!(
                f,
                "{} stayed locked by another process for more than {} s (a privlog sink stuck writing to it, \
                 its compression, or another `privlog subject erase`); it is unchanged, run again, or find \
                 the process with `fuser {}`",
                path.display(),
                LOCK_WAIT.as_secs(),
                path.display()
            ),
            SubjectError::NotAFile { path, kind } => write!(
                f,
                "{} is {kind}, not a regular file, so it is not read; name the record files themselves \
                 (NDJSON, plain or .gz)",
                path.display()
            ),
            SubjectError::HardLinked { path, others } => write!(
                f,
                "{} has {others} other name(s) (hard links) that would keep every record this erase removes; \
                 it is unchanged. Find them with `find / -xdev -samefile {}`, delete the names that are \
                 copies, and run again",
                path.display(),
                path.display()
            ),
            SubjectError::Ownership { path, uid, gid, .. } => write!(
                f,
                "cannot give the rewritten copy of {} the original's owner and group (uid {uid}, gid {gid}), \
                 so the service writing it might no longer be able to; it is unchanged. Run the erase as root \
                 or as that user",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SubjectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SubjectError::Io { source, .. } | SubjectError::Ownership { source, .. } => Some(source),
            SubjectError::Changed { .. }
            | SubjectError::Locked { .. }
            | SubjectError::NotAFile { .. }
            | SubjectError::HardLinked { .. } => None,
        }
    }
}

impl SubjectError {
    /// The [`SubjectError::NotAFile`] for `path`, whose metadata is `meta`.
    pub fn not_a_file(path: &Path, meta: &Metadata) -> SubjectError {
        SubjectError::NotAFile {
            path: path.to_owned(),
            kind: kind_of(meta),
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

/// Reads an open file with positional reads, so several readers of one file
/// never move each other's position.
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

#[cfg(not(unix))]
fn read_at(mut file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(pos))?;
    file.read(buf)
}

/// The lines of `file` from its start, decompressed when it starts with
/// the gzip magic bytes.
fn decoded(file: &File) -> io::Result<Decoded<Sniffed<At<'_>>>> {
    decode(At { file, pos: 0 })
}

/// Calls `found(account_index, line)` for every record of the matcher's
/// accounts in `path` (plain or gzip NDJSON), with the line's original bytes.
///
/// Memory stays small whatever the file holds: it is decompressed as it is
/// read, and a line longer than any record can be is read past without being
/// held and counted in [`FileReport::long_lines`].
///
/// # Errors
/// [`SubjectError::NotAFile`] when `path` is not a regular file (a FIFO, which
/// would never end, a device, a directory), [`SubjectError::Io`] when the
/// file cannot be read, or `found` fails.
pub fn export_file(
    path: &Path,
    matcher: &mut SubjectMatcher,
    mut found: impl FnMut(usize, &[u8]) -> io::Result<()>,
) -> Result<FileReport, SubjectError> {
    let mut report = FileReport {
        path: path.to_owned(),
        ..FileReport::default()
    };
    let file = open_no_wait(OpenOptions::new().read(true), path).map_err(io_err(path, "open"))?;
    let meta = file.metadata().map_err(io_err(path, "open"))?;
    regular(path, &meta)?;
    let mut lines = LineReader::new(decoded(&file).map_err(io_err(path, "read"))?);
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

/// The temporary copy's file, which refuses writes past the file-size limit.
type TempFile = WithinLimit<File>;

enum Output {
    Plain(BufWriter<TempFile>),
    Gz(GzEncoder<BufWriter<TempFile>>),
}

impl Output {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Output::Plain(w) => w,
            Output::Gz(w) => w,
        }
    }

    /// Puts what was written so far on disk (plain copies only: a gzip
    /// stream is finished in one go), so finishing later takes little time.
    fn sync_so_far(&mut self) -> io::Result<()> {
        match self {
            Output::Plain(w) => {
                w.flush()?;
                w.get_ref().get_ref().sync_data()
            }
            Output::Gz(_) => Ok(()),
        }
    }

    fn finish(self) -> io::Result<File> {
        let buffered = match self {
            Output::Plain(w) => w,
            Output::Gz(w) => w.finish()?,
        };
        let file = buffered.into_inner().map_err(io::IntoInnerError::into_error)?;
        Ok(file.into_inner())
    }
}

/// The temporary copy ([`rewrite_temp`]): its path, what writes it, and a
/// second handle that keeps its lock until the copy is renamed or removed.
struct Temp {
    path: PathBuf,
    out: Option<Output>,
    held: File,
}

impl Temp {
    /// Removes the copy, while its lock is still held.
    fn remove(&self) {
        let _ = fs::remove_file(&self.path);
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        // Only reached with the temp file still in place when the rewrite failed.
        if self.out.is_some() {
            self.remove();
        }
    }
}

/// How often an erase starts over on a file that was replaced (by another
/// erase, say) or compressed while it was being read.
const MAX_ATTEMPTS: u32 = 3;

/// Rewrites `path` without the records of the matcher's accounts.
///
/// Every other line — other people's records, damaged lines — is copied byte
/// for byte. That includes lines longer than any record can be
/// ([`MAX_LINE_LEN`](crate::record::MAX_LINE_LEN)): such a line cannot be a
/// record of the account, and erasing must not destroy what it cannot
/// attribute, so it is streamed through unchanged (never held in memory) and
/// counted in [`FileReport::long_lines`] for the operator to look at (for
/// example with `privlog audit`). The new content goes to a temporary file in the same directory,
/// which is synced and renamed over the original (then the directory is
/// synced), so a crash leaves either the old or the new file, never half of
/// one. A gzip file is written back gzip-compressed. A file with nothing to
/// erase is not touched; with `dry_run` no file is.
///
/// The new file keeps the original's owner, group and permissions, so the
/// service writing it can go on doing so whoever runs the erase (root,
/// typically); when that is not allowed the erase is refused
/// ([`SubjectError::Ownership`]). The temporary copy has a fixed name,
/// `.{name}.erase.tmp`, is never readable by more than the original's owner
/// and is locked while in use: one left by an erase that was killed is
/// removed by the next erase of the file (with or without anything to
/// erase), by the file sinks when they start and by `privlog retention`.
///
/// A `path` that is a symbolic link is followed: the file it points to is
/// rewritten in its own directory and the link left as it is
/// ([`FileReport::target`] names that file). A file with other names (hard
/// links) is refused ([`SubjectError::HardLinked`]): the other names would
/// keep the erased records. A rolling log file that the rolling sink
/// compressed while the erase ran is erased in its `.ndjson.gz`.
///
/// A file a privlog sink is appending to can be erased while the service
/// runs: the file is read to its end, then an exclusive advisory lock
/// (`flock`) is taken, which the sinks honour (they append only under a
/// shared lock); the lines appended meanwhile are read and copied too, the
/// copy is renamed over the path, and the lock released. The sinks wait
/// during that last step (milliseconds), then notice the new file and
/// append to it, so no record is lost.
///
/// # Errors
/// [`SubjectError::Io`] when the file cannot be read to the end or the new
/// file cannot be written (also when it would pass the file-size limit),
/// [`SubjectError::Locked`] when another process holds a lock on it for more
/// than 10 s, [`SubjectError::Changed`] when another process changed it
/// during the rewrite other than by appending under the lock,
/// [`SubjectError::NotAFile`], [`SubjectError::HardLinked`] and
/// [`SubjectError::Ownership`] as above. The original file is then
/// unchanged.
pub fn erase_file(path: &Path, matcher: &mut SubjectMatcher, dry_run: bool) -> Result<FileReport, SubjectError> {
    erase_waiting(path, matcher, dry_run, LOCK_WAIT)
}

/// [`erase_file`], waiting up to `wait` for the lock.
pub(super) fn erase_waiting(
    path: &Path,
    matcher: &mut SubjectMatcher,
    dry_run: bool,
    wait: Duration,
) -> Result<FileReport, SubjectError> {
    let mut target = link_target(path)?;
    let mut attempts = 1;
    loop {
        let file = target.as_deref().unwrap_or(path);
        match erase_once(file, matcher, dry_run, wait)? {
            Attempt::Done(mut report) => {
                report.path = path.to_owned();
                report.target = target;
                return Ok(report);
            }
            Attempt::Replaced if attempts < MAX_ATTEMPTS => {}
            Attempt::Replaced => return Err(SubjectError::Changed { path: file.to_owned() }),
            // Once at most: the compressed file is not compressed again.
            Attempt::Gone(source) => match compressed_meanwhile(file) {
                Some(gz) => {
                    target = Some(gz);
                    continue;
                }
                None => {
                    return Err(SubjectError::Io {
                        path: file.to_owned(),
                        action: "open",
                        source,
                    });
                }
            },
        }
        attempts += 1;
    }
}

/// The file `path` is a symbolic link to, or `None` when it is not a link.
fn link_target(path: &Path) -> Result<Option<PathBuf>, SubjectError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path)
            .map(Some)
            .map_err(io_err(path, "follow the symbolic link")),
        // Not a link, or missing: opening it says which.
        _ => Ok(None),
    }
}

/// The compressed file of a rolling log file `path` that is gone, when the
/// rolling sink compressed it (the `.gz` is renamed into place before the
/// original is removed).
fn compressed_meanwhile(path: &Path) -> Option<PathBuf> {
    let f = LogFile::parse(path).filter(|f| !f.compressed)?;
    let gz = path.with_file_name(LogFile::file_name(&f.prefix, f.date, f.seq, true));
    fs::symlink_metadata(&gz).is_ok_and(|m| m.is_file()).then_some(gz)
}

/// Refuses anything but a regular file.
fn regular(path: &Path, meta: &Metadata) -> Result<(), SubjectError> {
    if meta.is_file() {
        return Ok(());
    }
    Err(SubjectError::not_a_file(path, meta))
}

/// Refuses a file with other names (hard links).
fn only_name(path: &Path, meta: &Metadata) -> Result<(), SubjectError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return Err(SubjectError::HardLinked {
                path: path.to_owned(),
                others: meta.nlink() - 1,
            });
        }
    }
    let _ = (path, meta);
    Ok(())
}

/// The permissions the temporary copy is created with: the original's, and
/// never more than the owner's read and write (`0600`) until the copy is
/// complete and gets the original's exactly.
fn temp_mode(original: &Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        original.permissions().mode() & 0o600
    }
    #[cfg(not(unix))]
    {
        let _ = original;
        0o600
    }
}

/// Gives `temp` the owner and group of `original` (when they differ).
fn same_owner(path: &Path, temp: &File, original: &Metadata) -> Result<(), SubjectError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let now = temp.metadata().map_err(io_err(path, "write the new copy of"))?;
        if (now.uid(), now.gid()) != (original.uid(), original.gid()) {
            std::os::unix::fs::fchown(temp, Some(original.uid()), Some(original.gid())).map_err(|source| {
                SubjectError::Ownership {
                    path: path.to_owned(),
                    uid: original.uid(),
                    gid: original.gid(),
                    source,
                }
            })?;
        }
    }
    let _ = (path, temp, original);
    Ok(())
}

/// One pass of an erase over the lines of a file.
struct Pass<'a> {
    path: &'a Path,
    file: &'a File,
    /// The file's metadata when it was opened.
    meta: &'a Metadata,
    gz: bool,
    dry_run: bool,
    report: FileReport,
    temp: Option<Temp>,
    /// Bytes (decompressed) read and handled so far.
    offset: u64,
}

impl Pass<'_> {
    /// Handles the lines `lines` yields up to its end. Unless `last`, a line
    /// without its newline at the end is left for later: a sink may still be
    /// writing it. A line longer than any record is copied through (or
    /// passed over while nothing is erased yet) as it is read.
    fn read(
        &mut self,
        lines: &mut LineReader<impl BufRead>,
        matcher: &mut SubjectMatcher,
        last: bool,
    ) -> Result<(), SubjectError> {
        // The rest of a long line the previous read ended in.
        self.offset += self.pass_rest(lines)?;
        loop {
            let line = if last {
                lines.next_line()
            } else {
                lines.next_ended_line()
            };
            match line.map_err(io_err(self.path, "read"))? {
                None => return Ok(()),
                Some(Line::Whole(line)) => self.handle(line, matcher)?,
                Some(Line::Long(head)) => {
                    self.report.count_long();
                    if let Some(out) = self.temp.as_mut().and_then(|t| t.out.as_mut()) {
                        out.writer()
                            .write_all(head)
                            .map_err(io_err(self.path, "write the new copy of"))?;
                    }
                    self.offset += head.len() as u64;
                    self.offset += self.pass_rest(lines)?;
                }
            }
        }
    }

    /// Copies the rest of a long line to the new copy, or passes over it
    /// while there is none; returns its bytes.
    fn pass_rest(&mut self, lines: &mut LineReader<impl BufRead>) -> Result<u64, SubjectError> {
        match self.temp.as_mut().and_then(|t| t.out.as_mut()) {
            Some(out) => lines
                .copy_rest(out.writer())
                .map_err(io_err(self.path, "copy a long line of")),
            None => lines.skip_rest().map_err(io_err(self.path, "read")),
        }
    }

    fn handle(&mut self, line: &[u8], matcher: &mut SubjectMatcher) -> Result<(), SubjectError> {
        let m = matcher.match_line(line);
        self.report.count(&m);
        let erase = matches!(m, LineMatch::Subject(_));
        if erase && self.temp.is_none() && !self.dry_run {
            self.temp = Some(start_temp(self.path, self.file, self.meta, self.gz, self.offset)?);
        }
        if !erase && let Some(out) = self.temp.as_mut().and_then(|t| t.out.as_mut()) {
            out.writer()
                .write_all(line)
                .map_err(io_err(self.path, "write the new copy of"))?;
        }
        self.offset += line.len() as u64;
        Ok(())
    }
}

/// How one attempt at [`erase_file`] ended.
enum Attempt {
    /// Erased (or nothing to erase, or a dry run).
    Done(FileReport),
    /// The path was replaced while it was read: start over.
    Replaced,
    /// The path names no file (any more).
    Gone(io::Error),
}

/// One attempt at [`erase_file`] on `path` (not a symbolic link).
fn erase_once(
    path: &Path,
    matcher: &mut SubjectMatcher,
    dry_run: bool,
    wait: Duration,
) -> Result<Attempt, SubjectError> {
    let file = match open_for_lock(path, dry_run) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Attempt::Gone(e)),
        Err(e) => return Err(io_err(path, "open")(e)),
    };
    let opened = file.metadata().map_err(io_err(path, "open"))?;
    regular(path, &opened)?;
    only_name(path, &opened)?;
    let input = decoded(&file).map_err(io_err(path, "read"))?;
    let gz = input.is_gzip();
    let mut lines = LineReader::new(input);
    let mut pass = Pass {
        path,
        file: &file,
        meta: &opened,
        gz,
        dry_run,
        report: FileReport {
            path: path.to_owned(),
            ..FileReport::default()
        },
        temp: None,
        offset: 0,
    };
    if dry_run {
        pass.read(&mut lines, matcher, true)?;
        return Ok(Attempt::Done(pass.report));
    }
    // A copy a killed erase left, whether or not this one erases anything
    // (one another erase is working on stays).
    let _ = rewrite_temp::remove_if_left_over(&rewrite_temp::temp_path(path));
    // Everything up to the end as it is now, while sinks may go on appending.
    pass.read(&mut lines, matcher, false)?;
    if let Some(out) = pass.temp.as_mut().and_then(|t| t.out.as_mut()) {
        out.sync_so_far().map_err(io_err(path, "write the new copy of"))?;
    }
    // From here until the copy replaces the file, sinks wait to append.
    match lock(&file, LockKind::Exclusive, wait) {
        Ok(()) => {}
        Err(LockError::Busy) => return Err(SubjectError::Locked { path: path.to_owned() }),
        Err(LockError::Failed(source)) => {
            return Err(SubjectError::Io {
                path: path.to_owned(),
                action: "lock",
                source,
            });
        }
    }
    match fs::metadata(path) {
        Ok(m) if FileId::of(&m) == FileId::of(&opened) => {}
        // Replaced or removed meanwhile: the copy would be of an old file.
        Ok(_) => return Ok(Attempt::Replaced),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Attempt::Replaced),
        Err(source) => {
            return Err(SubjectError::Io {
                path: path.to_owned(),
                action: "look at",
                source,
            });
        }
    }
    let locked = file.metadata().map_err(io_err(path, "read"))?;
    // A name added meanwhile would keep the old file too.
    only_name(path, &locked)?;
    let unchanged = if gz {
        // Nothing appends to compressed files.
        locked.len() == opened.len() && locked.modified().ok() == opened.modified().ok()
    } else {
        locked.len() >= pass.offset + lines.unended_len() as u64
    };
    if !unchanged {
        return Err(SubjectError::Changed { path: path.to_owned() });
    }
    // The lines appended while the file was read.
    pass.read(&mut lines, matcher, true)?;
    let Some(mut temp) = pass.temp.take() else {
        return Ok(Attempt::Done(pass.report));
    };
    let Some(out) = temp.out.take() else {
        return Ok(Attempt::Done(pass.report));
    };
    // From here on `temp` no longer removes the copy on its own; every
    // failure below does, while the copy's lock is still held.
    let copy = match out.finish() {
        Ok(f) => f,
        Err(source) => {
            temp.remove();
            return Err(SubjectError::Io {
                path: path.to_owned(),
                action: "write the new copy of",
                source,
            });
        }
    };
    // The original's owner, group and permissions, then all of it on disk.
    let finished = same_owner(path, &copy, &locked).and_then(|()| {
        copy.set_permissions(locked.permissions())
            .and_then(|()| copy.sync_all())
            .map_err(io_err(path, "write the new copy of"))
    });
    if let Err(e) = finished {
        temp.remove();
        return Err(e);
    }
    // Every byte of the file was read: nothing else may have been written
    // since (writers that take the lock wait).
    let end = file.metadata().map(|m| (m.len(), m.modified().ok()));
    let read_all = if gz {
        end.as_ref().ok() == Some(&(opened.len(), opened.modified().ok()))
    } else {
        end.as_ref().is_ok_and(|(len, _)| *len == pass.offset)
    };
    if !read_all {
        temp.remove();
        return Err(SubjectError::Changed { path: path.to_owned() });
    }
    if let Err(source) = fs::rename(&temp.path, path) {
        temp.remove();
        return Err(SubjectError::Io {
            path: path.to_owned(),
            action: "replace",
            source,
        });
    }
    sync_dir(path).map_err(io_err(path, "sync the directory of"))?;
    // Dropping `file` releases the lock: sinks waiting for it find the new
    // file at the path and append there.
    drop(temp);
    pass.report.rewritten = true;
    Ok(Attempt::Done(pass.report))
}

/// Opens `path` to be read and locked: for reading and writing when that is
/// allowed, since where `flock` is emulated with `fcntl` locks (NFS) an
/// exclusive lock needs a file open for writing. Nothing is written to it.
/// A FIFO or device opens without waiting (and is refused after).
fn open_for_lock(path: &Path, dry_run: bool) -> io::Result<File> {
    if dry_run {
        return open_no_wait(OpenOptions::new().read(true), path);
    }
    match open_no_wait(OpenOptions::new().read(true).write(true), path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => open_no_wait(OpenOptions::new().read(true), path),
        other => other,
    }
}

/// Creates the temporary copy ([`rewrite_temp::create`]), with the
/// original's owner and group, and fills it with the first `offset` bytes
/// of the (decompressed) original, which all stay.
fn start_temp(path: &Path, original: &File, meta: &Metadata, gz: bool, offset: u64) -> Result<Temp, SubjectError> {
    let (tmp_path, file) = rewrite_temp::create(path, temp_mode(meta)).map_err(|source| {
        if source.kind() == io::ErrorKind::WouldBlock {
            SubjectError::Locked { path: path.to_owned() }
        } else {
            io_err(path, "create a temporary file next to")(source)
        }
    })?;
    let held = file
        .try_clone()
        .map_err(io_err(path, "create a temporary file next to"));
    let held = match held {
        Ok(h) => h,
        Err(e) => {
            let _ = fs::remove_file(&tmp_path);
            return Err(e);
        }
    };
    let buffered = BufWriter::with_capacity(1 << 16, WithinLimit::new(file));
    let out = if gz {
        Output::Gz(GzEncoder::new(buffered, Compression::default()))
    } else {
        Output::Plain(buffered)
    };
    let mut temp = Temp {
        path: tmp_path,
        out: Some(out),
        held,
    };
    // Refused now, before any copying, when the copy could not get them.
    same_owner(path, &temp.held, meta)?;
    let reader = Decoded::new(At { file: original, pos: 0 }, gz);
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
