//! Log files shared between the sinks that append to them and the tools that
//! replace them with a rewritten copy (`privlog subject erase`, the rolling
//! sink's compression).
//!
//! The rules, with advisory locks (`flock`), that make sure no record is
//! appended to a file after a rewriter read its end and before the rename
//! made it unreachable:
//!
//! - a sink appends only while it holds a **shared** lock on the file it has
//!   open, and only after checking, with the lock held, that the file's path
//!   still names that file (same device and inode); when it does not (the
//!   file was replaced or removed), the sink opens the path anew;
//! - a rewriter holds an **exclusive** lock on the old file from before it
//!   reads the last bytes until its copy has been renamed over the path.
//!
//! Tools that do not take the lock (`rm`, `mv`, `logrotate`, editors) can
//! still replace or remove a file between the sink's check and its write.
//! The sink therefore looks again after writing: lines written to a file that
//! no longer has any name are not counted, they are written again to the
//! file now at the path. Lines written to a file that was renamed (moved
//! away, still on disk) stay there and count as written.

use std::fs::{self, File, Metadata, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::SinkError;
use super::fsize::{file_size_limit, limit_error};

/// How long a sink waits for a rewriter's exclusive lock, or a rewriter for
/// the sinks' shared locks, before giving up.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Which file a handle or a path names: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity in `m`. Without device and inode numbers (not Unix)
    /// every file looks the same, so replacements go unnoticed there.
    pub(crate) fn of(m: &Metadata) -> FileId {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileId {
                dev: m.dev(),
                ino: m.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = m;
            FileId { dev: 0, ino: 0 }
        }
    }
}

/// Whether a file still has a name on disk (its last link was not removed).
pub(crate) fn is_linked(m: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        m.nlink() > 0
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        true
    }
}

/// The kind of advisory lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockKind {
    /// Held by every sink while it appends.
    Shared,
    /// Held by a rewriter while it finishes its copy and renames it.
    Exclusive,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another process held a conflicting lock for the whole wait.
    Busy,
    /// The file system refused to lock the file.
    Failed(io::Error),
}

/// Takes an advisory lock on `file`, trying again for up to `wait` while
/// another process holds a conflicting one.
pub(crate) fn lock(file: &File, kind: LockKind, wait: Duration) -> Result<(), LockError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let tried = match kind {
            LockKind::Shared => file.try_lock_shared(),
            LockKind::Exclusive => file.try_lock(),
        };
        match tried {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(LockError::Failed(e)),
        }
        if start.elapsed() >= wait {
            return Err(LockError::Busy);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// A log file a sink appends whole lines to, following the rules above and
/// never writing past the file-size limit.
#[derive(Debug)]
pub(crate) struct AppendFile {
    file: File,
    path: PathBuf,
    id: FileId,
    /// A regular file (the size limit and the torn-line check apply only to those).
    regular: bool,
    /// The file-size limit, read at the start of every turn.
    limit: Option<u64>,
    /// Whether the file's end was checked for a torn line since it was opened.
    tail_checked: bool,
    /// False once the file system refused a lock: writes go on without one.
    lockable: bool,
}

/// The result of [`AppendFile::begin`].
#[derive(Debug)]
pub(crate) enum Begin<'a> {
    /// The path still names the open file: append.
    Ready(Turn<'a>),
    /// The file was replaced or removed: open the path anew.
    Replaced,
}

/// Why a sink could not take its turn.
#[derive(Debug)]
pub(crate) enum BeginError {
    /// Another process held an exclusive lock on the file for all of [`LOCK_WAIT`].
    Busy,
    /// Ending a torn last line failed.
    Io(io::Error),
}

/// The error for records given up because the file kept being replaced.
pub(crate) fn replaced_error(path: &Path, lost: u64) -> SinkError {
    SinkError::new(format!(
        "log file {} keeps being replaced or removed while privlog writes to it ({lost} records dropped); \
         let privlog own the file, or rewrite it only with tools that take its lock (`flock`)",
        path.display()
    ))
}

/// The error for records given up because another process kept the file locked.
pub(crate) fn busy_error(path: &Path, lost: u64) -> SinkError {
    SinkError::new(format!(
        "log file {} was locked by another process for more than {} s ({lost} records dropped); \
         find the process holding the lock (`fuser {}`) and let it finish",
        path.display(),
        LOCK_WAIT.as_secs(),
        path.display()
    ))
}

/// The outcome of [`Turn::append`].
#[derive(Debug)]
pub(crate) struct Appended {
    /// Whole lines written.
    pub(crate) lines: usize,
    /// Their bytes.
    pub(crate) bytes: u64,
    /// Why the other lines were not written; [`io::ErrorKind::FileTooLarge`]
    /// when they would have passed the file-size limit.
    pub(crate) error: Option<io::Error>,
}

impl AppendFile {
    /// Opens `path` for appending, creating it if missing.
    ///
    /// # Errors
    /// The I/O error of opening it.
    pub(crate) fn open(path: &Path) -> io::Result<AppendFile> {
        let mut tail_checked = false;
        let file = match OpenOptions::new().create(true).append(true).read(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                // Write-only: append without looking at the end.
                tail_checked = true;
                OpenOptions::new().create(true).append(true).open(path)?
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        Ok(AppendFile {
            id: FileId::of(&meta),
            regular: meta.is_file(),
            file,
            path: path.to_path_buf(),
            limit: file_size_limit(),
            tail_checked,
            lockable: true,
        })
    }

    /// The path it was opened at.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Takes the sink's turn to append: the shared lock, then the check that
    /// the path still names this file. The first turn after opening also
    /// ends a torn last line (a crash's) so the next record starts clean.
    ///
    /// The file-size limit is read anew for every turn (one `getrlimit`), so
    /// a limit lowered or raised while the process runs (`prlimit --pid`)
    /// applies from the next batch on.
    ///
    /// # Errors
    /// [`BeginError::Busy`] when another process held an exclusive lock for
    /// [`LOCK_WAIT`]; [`BeginError::Io`] when a torn line could not be ended.
    pub(crate) fn begin(&mut self) -> Result<Begin<'_>, BeginError> {
        if self.regular {
            self.limit = file_size_limit();
        }
        let locked = self.lockable
            && match lock(&self.file, LockKind::Shared, LOCK_WAIT) {
                Ok(()) => true,
                Err(LockError::Busy) => return Err(BeginError::Busy),
                Err(LockError::Failed(_)) => {
                    // No locks on this file system: nothing to coordinate with.
                    self.lockable = false;
                    false
                }
            };
        let mut turn = Turn {
            f: self,
            locked,
            len: 0,
        };
        match fs::metadata(&turn.f.path) {
            Ok(m) if FileId::of(&m) == turn.f.id => turn.len = m.len(),
            Ok(_) => return Ok(Begin::Replaced),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Begin::Replaced),
            // The path cannot be looked at (a directory without search
            // permission): go on with the open file.
            Err(_) => turn.len = turn.f.file.metadata().map_err(BeginError::Io)?.len(),
        }
        if !turn.f.tail_checked {
            turn.end_torn_line().map_err(BeginError::Io)?;
            turn.f.tail_checked = true;
        }
        Ok(Begin::Ready(turn))
    }
}

/// A sink's turn to append to an [`AppendFile`]; the lock is released on drop.
#[derive(Debug)]
pub(crate) struct Turn<'a> {
    f: &'a mut AppendFile,
    locked: bool,
    len: u64,
}

impl Turn<'_> {
    /// The file's length.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The file-size limit that applies to this file, if any.
    fn limit(&self) -> Option<u64> {
        if self.f.regular { self.f.limit } else { None }
    }

    /// Appends the lines `from..to` of `buf`, whose line `i` ends at
    /// `ends[i]`, with whole-line writes: as many as fit below the file-size
    /// limit, each either whole in the file or not at all (a write that
    /// fails half-way is cut back to the last whole line).
    pub(crate) fn append(&mut self, buf: &[u8], ends: &[usize], from: usize, to: usize) -> Appended {
        let start = if from == 0 { 0 } else { ends[from - 1] };
        let fits = |limit: Option<u64>, len: u64| {
            let room = limit.map_or(u64::MAX, |l| l.saturating_sub(len));
            ends[from..to]
                .iter()
                .take_while(|&&end| (end - start) as u64 <= room)
                .count()
        };
        let n = fits(self.limit(), self.len);
        let mut out = self.write_lines(buf, ends, from, from + n);
        if out.error.is_none()
            && n < to - from
            && let Some(limit) = self.limit()
        {
            out.error = Some(limit_error(limit));
        }
        out
    }

    /// [`Turn::append`], stopping before the first line that would take the
    /// file past `cap` bytes (when there is a cap): then the error is
    /// [`cap_reached`].
    fn append_capped(&mut self, buf: &[u8], ends: &[usize], from: usize, to: usize, cap: Option<u64>) -> Appended {
        let Some(cap) = cap else {
            return self.append(buf, ends, from, to);
        };
        let start = if from == 0 { 0 } else { ends[from - 1] };
        let room = cap.saturating_sub(self.len);
        let n = ends[from..to]
            .iter()
            .take_while(|&&end| (end - start) as u64 <= room)
            .count();
        let mut out = self.append(buf, ends, from, from + n);
        if out.error.is_none() && n < to - from {
            out.error = Some(io::Error::other(CapReached(cap)));
        }
        out
    }

    fn write_lines(&mut self, buf: &[u8], ends: &[usize], from: usize, to: usize) -> Appended {
        if to == from {
            return Appended {
                lines: 0,
                bytes: 0,
                error: None,
            };
        }
        let start = if from == 0 { 0 } else { ends[from - 1] };
        let bytes = &buf[start..ends[to - 1]];
        let mut off = 0;
        let mut error = None;
        while off < bytes.len() {
            match (&self.f.file).write(&bytes[off..]) {
                Ok(0) => {
                    error = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => {
                    off += n;
                    // A short write may mean another process grew the file
                    // up to the limit, or the limit was lowered since the
                    // turn began (read again here): one more write there
                    // would be killed.
                    if off < bytes.len()
                        && self.f.regular
                        && let Some(limit) = file_size_limit()
                        && self.f.file.metadata().map_or(true, |m| m.len() >= limit)
                    {
                        error = Some(limit_error(limit));
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let lines = ends[from..to].iter().take_while(|&&end| end - start <= off).count();
        let whole = if lines == 0 { 0 } else { ends[from + lines - 1] - start };
        if off > whole {
            // A torn line: cut it off, unless another writer appended since
            // (then the next turn ends it with a newline).
            let end = self.len + off as u64;
            let cut = self.f.file.metadata().is_ok_and(|m| m.len() == end)
                && self.f.file.set_len(self.len + whole as u64).is_ok();
            if !cut {
                self.f.tail_checked = false;
            }
        }
        self.len += whole as u64;
        Appended {
            lines,
            bytes: whole as u64,
            error,
        }
    }

    /// Whether the file still has a name now, i.e. what was appended is in a
    /// file on disk rather than in one removed or replaced meanwhile.
    pub(crate) fn still_linked(&self) -> bool {
        self.f.file.metadata().map_or(true, |m| is_linked(&m))
    }

    fn end_torn_line(&mut self) -> io::Result<()> {
        if !self.f.regular || self.len == 0 {
            return Ok(());
        }
        let mut file = &self.f.file;
        // Append mode ignores the read position for writes.
        file.seek(SeekFrom::Start(self.len - 1))?;
        let mut last = [0u8; 1];
        if file.read(&mut last)? == 1 && last[0] != b'\n' {
            if let Some(limit) = self.limit()
                && self.len >= limit
            {
                return Err(limit_error(limit));
            }
            file.write_all(b"\n")?;
            self.len += 1;
        }
        Ok(())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if self.locked {
            let _ = self.f.file.unlock();
        }
    }
}

/// How often one append follows a file that keeps being replaced before it
/// gives up.
const MAX_REOPENS: u32 = 3;

/// The error of a line kept out of a file because it would pass the file's
/// cap (bytes).
#[derive(Debug)]
struct CapReached(u64);

impl std::fmt::Display for CapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the file reached its cap of {} bytes", self.0)
    }
}

impl std::error::Error for CapReached {}

/// Whether `e` says a line was kept out of a file by its cap
/// ([`LinesFile::append_within`]).
pub(crate) fn is_cap_reached(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|r| r.is::<CapReached>())
}

/// Why lines stayed out of a [`LinesFile`].
#[derive(Debug)]
pub(crate) enum KeptOut {
    /// The file at the path could not be opened.
    Open(io::Error),
    /// The file kept being replaced or removed while it was written.
    Replaced,
    /// Another process held the file's lock longer than [`LOCK_WAIT`].
    Busy,
    /// A write failed, or was refused: [`io::ErrorKind::FileTooLarge`] by the
    /// file-size limit, [`is_cap_reached`] by a size cap.
    Write(io::Error),
}

impl KeptOut {
    /// The problem as one I/O error.
    fn into_io(self) -> io::Error {
        match self {
            KeptOut::Open(e) | KeptOut::Write(e) => e,
            KeptOut::Replaced => io::Error::other("the file keeps being replaced or removed while it is written"),
            KeptOut::Busy => io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "another process held the file's lock for more than {} s",
                    LOCK_WAIT.as_secs()
                ),
            ),
        }
    }
}

/// A file at a path that whole lines are appended to under the rules above,
/// opened on the first append and opened anew when the path names another
/// file. Used for the files a sink keeps beside its records (the HTTP
/// sink's dead letters, the statistics sink's summaries).
#[derive(Debug)]
pub(crate) struct LinesFile {
    path: PathBuf,
    file: Option<AppendFile>,
}

impl LinesFile {
    /// The file at `path`; nothing is opened yet.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn new(path: PathBuf) -> LinesFile {
        LinesFile { path, file: None }
    }

    /// The file at `path`, opened (created if missing) now.
    ///
    /// # Errors
    /// The I/O error of opening it.
    pub(crate) fn open(path: PathBuf) -> io::Result<LinesFile> {
        let file = AppendFile::open(&path)?;
        Ok(LinesFile { path, file: Some(file) })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends the lines of `buf`, line `i` ending at `ends[i]`, each whole
    /// or not at all, none past the file-size limit. Returns how many lines,
    /// the first ones, are in the file at the path, and the error that kept
    /// the others out: [`io::ErrorKind::FileTooLarge`] when the limit did.
    pub(crate) fn append(&mut self, buf: &[u8], ends: &[usize]) -> (usize, Option<io::Error>) {
        let (lines, problem) = self.append_lines(buf, ends, None);
        (lines, problem.map(KeptOut::into_io))
    }

    /// [`LinesFile::append`], with no line written that would take the file
    /// past `cap` bytes: the error that keeps the others out is then
    /// [`is_cap_reached`].
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn append_within(&mut self, buf: &[u8], ends: &[usize], cap: Option<u64>) -> (usize, Option<io::Error>) {
        let (lines, problem) = self.append_lines(buf, ends, cap);
        (lines, problem.map(KeptOut::into_io))
    }

    /// Appends the lines, following the file at the path: a file replaced
    /// before the write is opened anew, lines written to a file removed
    /// meanwhile are written again to the file now at the path. Returns how
    /// many lines, the first ones, are in that file, and why the others are
    /// not.
    pub(crate) fn append_lines(&mut self, buf: &[u8], ends: &[usize], cap: Option<u64>) -> (usize, Option<KeptOut>) {
        let total = ends.len();
        let mut next = 0;
        let mut reopens = 0;
        while next < total {
            if self.file.is_none() {
                match AppendFile::open(&self.path) {
                    Ok(f) => self.file = Some(f),
                    Err(e) => return (next, Some(KeptOut::Open(e))),
                }
            }
            let Some(file) = self.file.as_mut() else { break };
            let step = match file.begin() {
                Ok(Begin::Ready(mut turn)) => {
                    let w = turn.append_capped(buf, ends, next, total, cap);
                    Ok((w, turn.still_linked()))
                }
                Ok(Begin::Replaced) => Err(None),
                Err(e) => Err(Some(e)),
            };
            match step {
                Ok((w, true)) => {
                    next += w.lines;
                    if let Some(e) = w.error {
                        if e.kind() != io::ErrorKind::FileTooLarge && !is_cap_reached(&e) {
                            // Opened again, and its end checked, next time.
                            self.file = None;
                        }
                        return (next, Some(KeptOut::Write(e)));
                    }
                }
                // Replaced before the write, or removed while being written
                // (those lines are in no file): write them to the file now
                // at the path.
                Ok((_, false)) | Err(None) => {
                    self.file = None;
                    reopens += 1;
                    if reopens > MAX_REOPENS {
                        return (next, Some(KeptOut::Replaced));
                    }
                }
                Err(Some(BeginError::Busy)) => return (next, Some(KeptOut::Busy)),
                Err(Some(BeginError::Io(e))) => {
                    self.file = None;
                    return (next, Some(KeptOut::Write(e)));
                }
            }
        }
        (next, None)
    }

    /// Writes what was appended to stable storage (`fsync`).
    ///
    /// # Errors
    /// The `fsync` error.
    pub(crate) fn sync(&self) -> io::Result<()> {
        match &self.file {
            Some(f) => f.file().sync_data(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("privlog-shared-file-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("dir");
        d
    }

    fn ready<'a>(b: Result<Begin<'a>, BeginError>) -> Turn<'a> {
        match b {
            Ok(Begin::Ready(t)) => t,
            other => panic!("expected a turn, got {other:?}"),
        }
    }

    #[test]
    fn a_file_removed_between_the_check_and_the_write_is_seen_after_it() {
        let d = tempdir("removed");
        let p = d.join("f.ndjson");
        let mut f = AppendFile::open(&p).expect("open");
        let mut turn = ready(f.begin());
        fs::remove_file(&p).expect("remove");
        let w = turn.append(b"{}\n", &[3], 0, 1);
        assert_eq!(w.lines, 1);
        assert!(!turn.still_linked(), "the line went to a file with no name");
        drop(turn);
        assert!(matches!(f.begin(), Ok(Begin::Replaced)));
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn a_file_renamed_away_keeps_its_lines_and_the_next_turn_follows_the_path() {
        let d = tempdir("renamed");
        let p = d.join("f.ndjson");
        let mut f = AppendFile::open(&p).expect("open");
        let mut turn = ready(f.begin());
        fs::rename(&p, d.join("f.1.ndjson")).expect("rename");
        turn.append(b"{}\n", &[3], 0, 1);
        assert!(turn.still_linked(), "the line is on disk, in the renamed file");
        drop(turn);
        assert!(matches!(f.begin(), Ok(Begin::Replaced)));
        assert_eq!(fs::read(d.join("f.1.ndjson")).expect("read"), b"{}\n");
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn the_first_turn_ends_a_torn_last_line() {
        let d = tempdir("torn");
        let p = d.join("f.ndjson");
        fs::write(&p, b"{}\n{\"to").expect("write");
        let mut f = AppendFile::open(&p).expect("open");
        let mut turn = ready(f.begin());
        assert_eq!(turn.len(), 8, "7 bytes and the newline that ends the torn line");
        turn.append(b"{}\n", &[3], 0, 1);
        drop(turn);
        assert_eq!(fs::read(&p).expect("read"), b"{}\n{\"to\n{}\n");
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn a_turn_waits_while_an_exclusive_lock_is_held() {
        let d = tempdir("busy");
        let p = d.join("f.ndjson");
        let mut f = AppendFile::open(&p).expect("open");
        let other = File::open(&p).expect("open");
        other.lock().expect("lock");
        assert!(matches!(
            lock(f.file(), LockKind::Shared, Duration::from_millis(30)),
            Err(LockError::Busy)
        ));
        other.unlock().expect("unlock");
        let turn = ready(f.begin());
        assert!(
            matches!(
                lock(&other, LockKind::Exclusive, Duration::from_millis(30)),
                Err(LockError::Busy)
            ),
            "a rewriter waits while the sink appends"
        );
        drop(turn);
        lock(&other, LockKind::Exclusive, Duration::from_millis(30)).expect("free after the turn");
        let _ = fs::remove_dir_all(d);
    }
}
