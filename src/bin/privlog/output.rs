//! The tools' output under the file-size limit (`RLIMIT_FSIZE`: `ulimit -f`,
//! systemd `LimitFSIZE=`).
//!
//! A write that would take a regular file past the limit is cut short by the
//! kernel, and the next one kills the process with `SIGXFSZ`, leaving a cut
//! file and no message. The tools never issue such a write: their output
//! goes through [`WithinLimit`], which refuses it whole with an error that
//! names the limit and the fix, and files they create are checked before a
//! byte is written.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::Path;

/// How to lift the limit, for messages.
const RAISE_LIMIT: &str = "raise the file-size limit (`ulimit -f`, systemd `LimitFSIZE=`)";

/// The soft limit on the size of a file this process writes, in bytes;
/// `None` when unlimited.
pub(crate) fn file_size_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Fsize).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The error for `bytes` more bytes that would take `target`, now at `at`
/// bytes, past `limit`.
fn past_limit(target: &str, at: u64, bytes: u64, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "{bytes} more bytes would take {target} (at {at} bytes) past the file-size limit of {limit} bytes, \
             so they were not written; {RAISE_LIMIT}"
        ),
    )
}

/// A writer to a file that refuses, with [`io::ErrorKind::FileTooLarge`],
/// any write that would take the file past the file-size limit. A refused
/// write writes nothing, so output written line by line ends with a whole
/// line.
#[derive(Debug)]
pub(crate) struct WithinLimit<W> {
    inner: W,
    target: String,
    /// The position the next write ends at, at least.
    at: u64,
    /// `None` where no limit applies (unlimited, or not a regular file).
    limit: Option<u64>,
}

impl<W: Write> Write for WithinLimit<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(limit) = self.limit
            && self.at.saturating_add(buf.len() as u64) > limit
        {
            return Err(past_limit(&self.target, self.at, buf.len() as u64, limit));
        }
        let n = self.inner.write(buf)?;
        self.at += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Standard output, refusing writes past the file-size limit when it is a
/// regular file (`> out.csv`); pipes and terminals have no limit.
pub(crate) fn stdout() -> WithinLimit<io::StdoutLock<'static>> {
    let (at, limit) = match stdout_file() {
        // Appended (`>>`) output goes to the end, whatever the position.
        Some((pos, len)) => (pos.max(len), file_size_limit()),
        None => (0, None),
    };
    WithinLimit {
        inner: io::stdout().lock(),
        target: "standard output".to_owned(),
        at,
        limit,
    }
}

/// The position and length of standard output when it is a regular file.
fn stdout_file() -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let mut file = File::from(io::stdout().as_fd().try_clone_to_owned().ok()?);
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None;
        }
        let pos = file.stream_position().ok()?;
        Some((pos, meta.len()))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `file`, just created empty at `path`, refusing writes past the limit.
pub(crate) fn new_file(file: File, path: &Path) -> WithinLimit<File> {
    let regular = file.metadata().is_ok_and(|m| m.is_file());
    WithinLimit {
        inner: file,
        target: path.display().to_string(),
        at: 0,
        limit: if regular { file_size_limit() } else { None },
    }
}

/// Writes `bytes` to the file at `path`, replacing it, after checking that
/// they fit under the file-size limit: when they do not, the file is left as
/// it was.
///
/// # Errors
/// The limit's error, or the I/O error of writing.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // A path that names something else than a regular file (a pipe,
    // `/dev/stdout` on a terminal) has no size limit.
    let regular = std::fs::metadata(path).map_or(true, |m| m.is_file());
    if regular
        && let Some(limit) = file_size_limit()
        && bytes.len() as u64 > limit
    {
        return Err(past_limit(&path.display().to_string(), 0, bytes.len() as u64, limit));
    }
    std::fs::write(path, bytes)
}
