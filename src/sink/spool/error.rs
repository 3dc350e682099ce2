use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::sink::{DropReason, SinkError};

/// Why [`Spool::append`](super::Spool::append) stopped, and how far it got.
///
/// The first [`appended`](AppendError::appended) records of the call are in
/// the spool, whole, and will be read back; no part of any later record was
/// left behind. The caller counts the others as dropped for
/// [`reason`](AppendError::reason).
#[derive(Debug)]
pub struct AppendError {
    appended: usize,
    disk_full: bool,
    error: SinkError,
}

impl AppendError {
    pub(super) fn new(appended: usize, failure: IoFailure) -> Self {
        AppendError {
            appended,
            disk_full: failure.disk_full(),
            error: failure.into(),
        }
    }

    /// How many records, the first ones of the call, are in the spool.
    pub fn appended(&self) -> usize {
        self.appended
    }

    /// Whether the file system had no room (disk full, quota or file size
    /// limit reached): space freed later lets the spool take records again.
    pub fn is_disk_full(&self) -> bool {
        self.disk_full
    }

    /// The reason to count the records that were not appended:
    /// [`DropReason::SpoolFull`] when the disk is full,
    /// [`DropReason::SinkError`] for any other I/O error.
    pub fn reason(&self) -> DropReason {
        if self.disk_full {
            DropReason::SpoolFull
        } else {
            DropReason::SinkError
        }
    }
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} records of this append were spooled)",
            self.error, self.appended
        )
    }
}

impl std::error::Error for AppendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl From<AppendError> for SinkError {
    fn from(e: AppendError) -> Self {
        e.error
    }
}

/// An I/O error of the spool, with what it was doing and on which file.
#[derive(Debug)]
pub(super) struct IoFailure {
    what: &'static str,
    path: PathBuf,
    error: io::Error,
}

impl IoFailure {
    pub(super) fn new(what: &'static str, path: &Path, error: io::Error) -> Self {
        IoFailure {
            what,
            path: path.to_owned(),
            error,
        }
    }

    pub(super) fn disk_full(&self) -> bool {
        is_disk_full(&self.error)
    }
}

impl From<IoFailure> for SinkError {
    fn from(f: IoFailure) -> Self {
        io_err(f.what, &f.path, f.error)
    }
}

/// Whether `e` says the file system has no room for the write.
pub(super) fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge
    )
}

/// The error of `what` failing on `path`, with the fix.
pub(super) fn io_err(what: &str, path: &Path, e: io::Error) -> SinkError {
    let fix = if is_disk_full(&e) {
        "free space on its file system, or lower the spool's max_bytes below the space there"
    } else {
        "check the disk and the directory's permissions"
    };
    SinkError::with_source(format!("{what} {} ({fix})", path.display()), e)
}
