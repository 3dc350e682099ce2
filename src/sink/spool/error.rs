use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::sink::fsize::{FILE_SIZE_LIMIT, RAISE_LIMIT};
use crate::sink::{DropReason, SinkError};

/// Why [`Spool::append`](super::Spool::append) stopped, and how far it got.
///
/// The first [`appended`](AppendError::appended) records of the call are in
/// the spool, whole, and will be read back; no part of any later record was
/// left behind. The caller counts the others as dropped for
/// [`reason`](AppendError::reason), except when
/// [`is_file_size_limit`](AppendError::is_file_size_limit): then only the
/// next record is refused, and the ones after it go to another call.
#[derive(Debug)]
pub struct AppendError {
    appended: usize,
    cause: Cause,
    error: SinkError,
}

/// What stopped an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// The file system had no room (disk full, quota reached).
    DiskFull,
    /// The next record would take a segment file past the file-size limit.
    FileSizeLimit,
    /// Any other I/O error.
    Other,
}

impl AppendError {
    pub(super) fn new(appended: usize, failure: IoFailure) -> Self {
        let cause = if failure.file_size_limit() {
            Cause::FileSizeLimit
        } else if failure.disk_full() {
            Cause::DiskFull
        } else {
            Cause::Other
        };
        AppendError {
            appended,
            cause,
            error: failure.into(),
        }
    }

    /// The record after the `appended` ones takes `frame` bytes, more than a
    /// segment file in `dir` may hold under the file-size limit `limit`.
    pub(super) fn too_long(appended: usize, frame: u64, limit: u64, dir: &Path) -> Self {
        AppendError {
            appended,
            cause: Cause::FileSizeLimit,
            error: SinkError::new(format!(
                "cannot spool a record of {frame} bytes in {}: a segment file may not pass the file-size \
                 limit of {limit} bytes, so the record is dropped (later records are still spooled); \
                 {RAISE_LIMIT}",
                dir.display()
            )),
        }
    }

    /// How many records, the first ones of the call, are in the spool.
    pub fn appended(&self) -> usize {
        self.appended
    }

    /// Whether the file system had no room (disk full, quota reached):
    /// space freed later lets the spool take records again.
    pub fn is_disk_full(&self) -> bool {
        self.cause == Cause::DiskFull
    }

    /// Whether the record after the appended ones would take a segment file
    /// past the process's file-size limit (`RLIMIT_FSIZE`) even in a new,
    /// empty segment (the spool starts a new segment by itself when it only
    /// ends the current one). Only that record is refused: append the
    /// records after it in another call.
    pub fn is_file_size_limit(&self) -> bool {
        self.cause == Cause::FileSizeLimit
    }

    /// The reason to count the records that were not appended:
    /// [`DropReason::SpoolFull`] when the disk is full,
    /// `DropReason::Other("file_size_limit")` for the record the file-size
    /// limit kept out, [`DropReason::SinkError`] for any other I/O error.
    pub fn reason(&self) -> DropReason {
        match self.cause {
            Cause::DiskFull => DropReason::SpoolFull,
            Cause::FileSizeLimit => FILE_SIZE_LIMIT,
            Cause::Other => DropReason::SinkError,
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

    /// Whether the file-size limit refused the write.
    pub(super) fn file_size_limit(&self) -> bool {
        self.error.kind() == io::ErrorKind::FileTooLarge
    }
}

impl From<IoFailure> for SinkError {
    fn from(f: IoFailure) -> Self {
        io_err(f.what, &f.path, f.error)
    }
}

/// Whether `e` says the file system has no room for the write.
pub(super) fn is_disk_full(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
}

/// The error of `what` failing on `path`, with the fix.
pub(super) fn io_err(what: &str, path: &Path, e: io::Error) -> SinkError {
    let fix = if e.kind() == io::ErrorKind::FileTooLarge {
        RAISE_LIMIT
    } else if is_disk_full(&e) {
        "free space on its file system, or lower the spool's max_bytes below the space there"
    } else {
        "check the disk and the directory's permissions"
    };
    SinkError::with_source(format!("{what} {} ({fix})", path.display()), e)
}
