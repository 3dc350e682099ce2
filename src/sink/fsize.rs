//! The file-size limit (`RLIMIT_FSIZE`: `ulimit -f`, systemd `LimitFSIZE=`).
//!
//! A write that would take a file past the soft limit is cut short by the
//! kernel, and the next one kills the process with `SIGXFSZ`. Library code
//! cannot change that signal's disposition, so privlog never issues such a
//! write: it reads the limit and stops short of it.

use std::fmt;
use std::fs::File;
use std::io::{self, Seek, Write};

use super::DropReason;

/// The soft limit on the size of any file this process writes, in bytes;
/// `None` when unlimited (or on a platform without the limit).
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

/// The drop reason for records the file-size limit kept out of a file.
pub(crate) const FILE_SIZE_LIMIT: DropReason = DropReason::Other("file_size_limit");

/// How to lift the limit, for messages where no setting of privlog helps.
pub(crate) const RAISE_LIMIT: &str = "raise the file-size limit (`ulimit -f`, systemd `LimitFSIZE=`)";

/// How to fix a write refused by the limit, for messages.
pub(crate) const LIMIT_FIX: &str = "raise the file-size limit (`ulimit -f`, systemd `LimitFSIZE=`) \
     or keep files smaller with the rolling file sink's max_file_size";

/// Whether `e` is, or was caused by, a write the file-size limit refused.
pub(crate) fn refused_by_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::FileTooLarge)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The error a write refused by the limit gets.
pub(crate) fn limit_error(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("the write would pass the file-size limit of {limit} bytes"),
    )
}

/// The regular file standard output was sent to (a service manager's
/// `StandardOutput=file:` or `append:`, a shell's `>`), which the file-size
/// limit applies to.
#[derive(Debug)]
pub(crate) struct OutputFile {
    /// Standard output's open file description, shared.
    file: File,
    /// The limit when it was opened or last read again.
    limit: Option<u64>,
}

impl OutputFile {
    /// Standard output, when it is a regular file; `None` for a pipe, a
    /// terminal or a socket (no size limit applies) or where it cannot be
    /// looked at.
    pub(crate) fn stdout() -> Option<OutputFile> {
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            let file = File::from(io::stdout().as_fd().try_clone_to_owned().ok()?);
            file.metadata().ok().filter(|m| m.is_file())?;
            Some(OutputFile {
                file,
                limit: file_size_limit(),
            })
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// The limit, as last read.
    pub(crate) fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Reads the limit again (it may have been raised).
    pub(crate) fn reread_limit(&mut self) {
        self.limit = file_size_limit();
    }

    /// The bytes the next write may take before it passes the limit (`None`
    /// without one). Others may write to the same file (the process's own
    /// standard error, often): the file's length and the write position are
    /// read now, and the next write is taken to land at the later of them.
    pub(crate) fn room(&self) -> Option<u64> {
        let limit = self.limit?;
        // Where neither can be read, take the file for full.
        let len = self.file.metadata().map_or(limit, |m| m.len());
        let mut f = &self.file;
        let pos = f.stream_position().unwrap_or(len);
        Some(limit.saturating_sub(len.max(pos)))
    }
}

/// A writer to a new (empty) file that refuses, with
/// [`io::ErrorKind::FileTooLarge`], any write that would take the file past
/// the file-size limit, instead of letting the process be killed.
///
/// The limit is read again before every write (one `getrlimit`; callers
/// write through a 64 KiB buffer), so a limit lowered while the process runs
/// (`prlimit --pid`) is honoured too.
pub(crate) struct WithinLimit<W> {
    inner: W,
    written: u64,
    limit: fn() -> Option<u64>,
}

impl<W> WithinLimit<W> {
    /// `inner` starts empty.
    pub(crate) fn new(inner: W) -> Self {
        WithinLimit {
            inner,
            written: 0,
            limit: file_size_limit,
        }
    }

    /// The writer.
    pub(crate) fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The writer, given back.
    pub(crate) fn into_inner(self) -> W {
        self.inner
    }
}

impl<W> fmt::Debug for WithinLimit<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithinLimit")
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Write for WithinLimit<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(limit) = (self.limit)()
            && self.written.saturating_add(buf.len() as u64) > limit
        {
            return Err(limit_error(limit));
        }
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_past_the_limit_is_refused_whole() {
        let mut w = WithinLimit {
            inner: Vec::new(),
            written: 0,
            limit: || Some(10),
        };
        w.write_all(b"0123456").expect("fits");
        let e = w.write_all(b"789a").expect_err("would pass the limit");
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert!(e.to_string().contains("10 bytes"), "{e}");
        w.write_all(b"789").expect("fits exactly");
        assert_eq!(w.into_inner(), b"0123456789");
    }

    #[test]
    fn a_limit_lowered_after_the_writer_was_made_is_honoured_by_the_next_write() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static LIMIT: AtomicU64 = AtomicU64::new(100);
        let mut w = WithinLimit {
            inner: Vec::new(),
            written: 0,
            limit: || Some(LIMIT.load(Ordering::Relaxed)),
        };
        w.write_all(b"0123456789").expect("fits");
        LIMIT.store(12, Ordering::Relaxed);
        let e = w.write_all(b"abc").expect_err("past the lowered limit");
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(w.into_inner(), b"0123456789");
    }
}
