//! A durable, bounded, checksummed on-disk spool for network sinks.
//!
//! When a collector is down or slow, a network sink appends the records it
//! could not deliver to the spool instead of dropping them, and delivers them
//! from the spool when the collector — or the restarted process — comes back.
//!
//! ```no_run
//! use std::time::Duration;
//! use privlog::sink::spool::{SpoolFsync, Spool, SpoolConfig};
//!
//! # fn main() -> Result<(), privlog::sink::SinkError> {
//! let config = SpoolConfig::new("/var/lib/myapp/privlog-spool")
//!     .max_bytes(512 * 1024 * 1024)
//!     .fsync(SpoolFsync::Interval(Duration::from_millis(500)));
//! let (mut spool, recovery) = Spool::open(config)?;
//! println!("{} records waiting from the last run", recovery.records);
//! # Ok(()) }
//! ```
//!
//! # On disk
//!
//! A directory of segment files named after the sequence number of their first
//! record (`00000000000000000001.spool`), each up to
//! [`SpoolConfig::segment_bytes`], plus one small `acked` file holding the
//! sequence number of the last delivered record. Every record is one frame:
//! magic, length, sequence number and a CRC32 over all of them, then the
//! record's NDJSON line. Fully delivered segments are deleted.
//!
//! # Guarantees
//!
//! - Appends stop at [`SpoolConfig::max_bytes`]: the records that do not fit
//!   are refused and the caller counts them as
//!   [`DropReason::SpoolFull`](crate::sink::DropReason::SpoolFull). Apart
//!   from a full disk and a record too long for the file-size limit (below),
//!   nothing else is ever dropped by the spool.
//! - An append is exact when the disk fails it: the records it reports
//!   appended ([`AppendError::appended`] after an error) are whole in the
//!   spool and are read back; no part of any other record is left behind. A
//!   full disk refuses records
//!   ([`AppendError::reason`] is `SpoolFull`) until space is freed, and
//!   delivering spooled records frees it, even when the full disk refuses the
//!   acknowledgement file (it is removed instead; after a restart the records
//!   of the oldest segment left are delivered again).
//! - No segment or acknowledgement file grows past the process's file-size
//!   limit (`RLIMIT_FSIZE`): a record that would take the current segment past
//!   it starts a new one, and only a record too long for an empty segment is
//!   refused ([`AppendError::is_file_size_limit`]).
//! - [`Spool::open`] never hangs and never fails on damaged content: a torn
//!   last write, a corrupt frame or a missing segment are skipped; valid
//!   records before and after them are kept. Damage is counted exactly where
//!   the sequence numbers allow (a corrupt frame or a missing segment between
//!   valid records) and as one record for a torn tail. The count reaches the
//!   ledger as [`DropReason::Corrupt`](crate::sink::DropReason::Corrupt).
//! - Reading does bounded work whatever the files hold: a frame longer than
//!   the longest record line ([`MAX_LINE_LEN`](crate::record::MAX_LINE_LEN))
//!   or with a sequence number its place in its segment does not allow is
//!   damage; the search for the next frame after damage checksums at most
//!   about four times a segment's size, after which the rest of the segment
//!   counts as damaged; a file larger than the largest segment (64 MiB plus
//!   one frame) is not read, and a segment named further past the
//!   acknowledged record than any spool spans is not one of this spool's.
//! - A segment file deleted while the spool is open is skipped when
//!   [`Spool::peek`] reaches it, like at open: its records are counted as
//!   damaged, exactly (from the first sequence number of the segment after
//!   it), and reading goes on. When it was the segment being appended to,
//!   the next append starts a new one.
//! - Records are delivered at least once: a record whose delivery succeeded
//!   but whose acknowledgement was not yet persisted when the process died is
//!   delivered again after the restart.
//! - Durability against power loss follows [`SpoolFsync`]; a killed process loses
//!   nothing that was appended (the operating system still holds it).
//!
//! One spool at a time may use a directory: [`Spool::open`] takes an
//! exclusive `flock` on the directory itself (so it must be on a local file
//! system), which no deletion of a file inside can release. Every file of the
//! spool is created, read, renamed and deleted relative to that locked
//! directory handle, never by path: a spool whose directory is renamed, or
//! whose path is switched to another directory while it runs, keeps its
//! files in the directory it locked, and a segment file is only ever
//! created new, never opened and truncated. The directory must be private
//! (the rule of key directories): [`Spool::open`] refuses one that group or
//! others can write or that another user than the effective user or root
//! owns, and links in it are never followed. The `lock` file
//! earlier versions kept in the directory is no longer used on Unix and may
//! be deleted (elsewhere, where a directory cannot be locked, it still holds
//! the lock).

mod dir;
mod error;
mod frame;
#[allow(clippy::module_inception)]
mod spool;

pub use error::AppendError;
pub use spool::{Recovery, Spool, SpoolBatch};

use std::path::PathBuf;
use std::time::Duration;

use crate::limits::{DurationLimit, Limit, OutOfRange};

/// `spool_max_bytes`.
pub(crate) const MAX_BYTES: Limit = Limit::bytes("spool_max_bytes", 1 << 10, 1 << 40);
/// `spool_segment_bytes`: a segment is read into memory whole.
pub(crate) const SEGMENT_BYTES: Limit = Limit::bytes("spool_segment_bytes", 1 << 10, 64 << 20);
/// `spool_fsync` as an interval.
pub(crate) const FSYNC_INTERVAL: DurationLimit =
    DurationLimit::new("spool_fsync", Duration::ZERO, Duration::from_secs(3600));

/// When the spool calls `fsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpoolFsync {
    /// After every append and acknowledgement: survives power loss, slowest.
    Always,
    /// At most this long after a write (checked on every append and on
    /// [`Spool::maintain`]). A power loss can lose up to this much.
    Interval(Duration),
    /// Never; the operating system writes data back on its own schedule.
    Never,
}

impl Default for SpoolFsync {
    fn default() -> Self {
        SpoolFsync::Interval(Duration::from_millis(500))
    }
}

/// Where the spool lives and how big it may grow.
#[derive(Clone, Debug)]
pub struct SpoolConfig {
    pub(crate) dir: PathBuf,
    pub(crate) max_bytes: u64,
    pub(crate) segment_bytes: u64,
    pub(crate) fsync: SpoolFsync,
}

impl SpoolConfig {
    /// A spool in `dir` (created when missing) with the default limits.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            dir: dir.into(),
            max_bytes: 256 * 1024 * 1024,
            segment_bytes: 8 * 1024 * 1024,
            fsync: SpoolFsync::default(),
        }
    }

    /// The most bytes all segment files may take together; appends beyond it
    /// are refused and counted as `spool_full`. Defaults to 256 MiB; 1 KiB to
    /// 1 TiB.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The size at which a new segment file is started. Space is given back
    /// one whole segment at a time once all its records are delivered.
    /// Defaults to 8 MiB; 1 KiB to 64 MiB (a segment is read into memory
    /// whole while its records are delivered).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// When to `fsync`. Defaults to [`SpoolFsync::Interval`] of 500 ms; an interval
    /// is at most 1 h.
    pub fn fsync(mut self, fsync: SpoolFsync) -> Self {
        self.fsync = fsync;
        self
    }

    /// Checks every size and the fsync interval against their ranges.
    pub(crate) fn validate(&self) -> Result<(), OutOfRange> {
        MAX_BYTES.check(self.max_bytes)?;
        SEGMENT_BYTES.check(self.segment_bytes)?;
        if let SpoolFsync::Interval(d) = self.fsync {
            FSYNC_INTERVAL.check(d)?;
        }
        Ok(())
    }

    /// The spool directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}
