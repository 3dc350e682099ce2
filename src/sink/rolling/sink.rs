//! The rolling file sink itself.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use time::{Date, OffsetDateTime};

use super::maintain::Job;
use super::name::{LogFile, log_files, valid_prefix};
use super::retention::Retention;
use crate::Record;
use crate::record::LineFormat;
use crate::sink::fsize::{FILE_SIZE_LIMIT, LIMIT_FIX, file_size_limit};
use crate::sink::shared_file::{AppendFile, Begin, BeginError, busy_error, replaced_error};
use crate::sink::{Accounting, DropReason, Ledger, Sink, SinkError};

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// When a [`RollingFileSink`] asks the operating system to put written
/// records on disk (`fsync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollingFsync {
    /// After every batch: a record counts as delivered only once it is on
    /// disk. Survives power loss; costs one `fsync` per batch.
    EveryBatch,
    /// At most this often, and when a file is closed. A power loss can lose
    /// up to this much of the most recent records.
    Interval(Duration),
    /// Never: the operating system writes records back in its own time.
    Never,
}

/// Writes records as NDJSON into files that roll over daily (UTC) and by size,
/// compresses closed files and deletes old ones.
///
/// Files are named `{prefix}.{YYYY-MM-DD}.{seq}.ndjson` (`.ndjson.gz` once
/// compressed): `requests.2026-11-22.0000.ndjson`, then `….0001.ndjson` when
/// the size limit is reached. On start the sink appends to the newest file of
/// the day if it has room.
///
/// Each batch is appended under a shared advisory lock (`flock`) on the file,
/// which `privlog subject erase` honours, after checking that the path still
/// names the open file: a file replaced (rewritten by erase or another tool),
/// removed or moved away, or a removed directory, is noticed before the batch
/// and the path opened anew; lines written to a file removed meanwhile are
/// written again. No write takes a file past the process's file-size limit
/// (`RLIMIT_FSIZE`, read for every batch, so a limit lowered while the
/// process runs counts from the next batch): the sink starts its next file
/// instead. When it starts, the sink removes what interrupted work left in
/// the directory: half-written compressed files, and copies of its files
/// left by a `privlog subject erase` that was killed (`.{name}.erase.tmp`).
/// A clock beyond the year 9999 (or before 0000) counts as the nearest day
/// within.
///
/// Every batch is written with whole-line writes, so a crash leaves at most
/// one torn last line, which privlog's record reader skips
/// and counts; a write that fails half-way (disk full) is cut back to the last
/// whole line. Records that could not be written are counted as dropped
/// (`disk_full`; `file_size_limit` for a line longer than any file may be;
/// `sink_error` for other I/O errors) and warned about; the requests are
/// never affected.
///
/// ```no_run
/// use std::time::Duration;
/// use privlog::sink::{RollingFsync, Retention, RollingFileSink};
///
/// let sink = RollingFileSink::new("/var/log/myapp", "requests")?
///     .max_file_size(256 << 20)
///     .compress(true)
///     .fsync(RollingFsync::Interval(Duration::from_secs(1)))
///     .retention(Retention::keep_all().max_age(Duration::from_secs(30 * 86_400)));
/// let (layer, guard) = privlog::builder().sink(sink).build()?;
/// # let _ = (layer, guard);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RollingFileSink {
    dir: PathBuf,
    prefix: String,
    name: String,
    max_file_size: Option<u64>,
    retention: Retention,
    compress: bool,
    format: LineFormat,
    fsync: RollingFsync,
    clock: Clock,
    active: Option<Active>,
    ledger: Option<Ledger>,
    buf: Vec<u8>,
    ends: Vec<usize>,
    last_sync: Instant,
    maintenance: Option<JoinHandle<Vec<String>>>,
    /// A rollover happened while a round was running: run another after it.
    maintenance_pending: bool,
    /// The file written last, spared by maintenance while no file is open.
    last_path: Option<PathBuf>,
    maintained_once: bool,
    /// Whether a maintenance round ran since the sink started: the first one
    /// runs even without compression and retention, to remove what
    /// interrupted work left behind.
    cleaned: bool,
}

struct Active {
    file: AppendFile,
    date: Date,
    seq: u32,
    /// Records written since the last `fsync` that are not yet counted as
    /// delivered (only with [`RollingFsync::EveryBatch`]).
    unsynced_records: u64,
    /// Whether bytes were written since the last `fsync`.
    dirty: bool,
}

/// How often a batch follows a file that keeps being replaced before its
/// records are given up.
const MAX_REOPENS: u32 = 3;

/// What one turn on the active file came to.
enum Step {
    /// `lines` whole lines were written; `error` kept the next ones out.
    Wrote { lines: usize, error: Option<io::Error> },
    /// The file was replaced or removed (before the write, or while it was
    /// written: then the lines are in no file and are written again).
    Replaced,
    /// Another process held the file's lock too long.
    Busy,
    /// Ending a torn last line failed.
    Failed(io::Error),
}

impl fmt::Debug for RollingFileSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RollingFileSink")
            .field("dir", &self.dir)
            .field("prefix", &self.prefix)
            .field("max_file_size", &self.max_file_size)
            .field("retention", &self.retention)
            .field("compress", &self.compress)
            .field("fsync", &self.fsync)
            .field("active", &self.active.as_ref().map(|a| a.file.path()))
            .finish_non_exhaustive()
    }
}

/// Checks a file name prefix: what [`RollingFileSink::new`] refuses.
pub(crate) fn check_prefix(prefix: &str) -> Result<(), String> {
    if valid_prefix(prefix) {
        return Ok(());
    }
    Err(format!(
        "invalid log file prefix {prefix:?}: use a plain name such as \"requests\" \
         (no path separators, no leading dot)"
    ))
}

impl RollingFileSink {
    /// A sink writing into `dir` (created if missing) with file names starting
    /// with `prefix`.
    ///
    /// Defaults: daily rotation only, no compression, [`RollingFsync::Never`],
    /// [`Retention::keep_all`].
    ///
    /// # Errors
    /// `prefix` is empty or holds a path separator, or `dir` cannot be created.
    pub fn new(dir: impl AsRef<Path>, prefix: impl Into<String>) -> Result<Self, SinkError> {
        let dir = dir.as_ref().to_path_buf();
        let prefix = prefix.into();
        check_prefix(&prefix).map_err(SinkError::new)?;
        fs::create_dir_all(&dir).map_err(|e| {
            SinkError::with_source(
                format!(
                    "cannot create log directory {} (check the parent exists and is writable)",
                    dir.display()
                ),
                e,
            )
        })?;
        Ok(RollingFileSink {
            name: format!("rolling:{}", dir.join(&prefix).display()),
            dir,
            prefix,
            max_file_size: None,
            retention: Retention::keep_all(),
            compress: false,
            format: LineFormat::Ndjson,
            fsync: RollingFsync::Never,
            clock: Arc::new(SystemTime::now),
            active: None,
            ledger: None,
            buf: Vec::with_capacity(64 * 1024),
            ends: Vec::new(),
            last_sync: Instant::now(),
            maintenance: None,
            maintenance_pending: false,
            last_path: None,
            maintained_once: false,
            cleaned: false,
        })
    }

    /// Starts a new file (the next `seq`) before one would grow past `bytes`.
    /// A single record larger than the limit gets a file of its own. Defaults
    /// to no size limit.
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = Some(bytes.max(1));
        self
    }

    /// Which closed files to delete; see [`Retention`]. Applied at start and
    /// after every rollover. Defaults to keeping every file.
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Gzip-compresses closed files (`.ndjson.gz`) in the background. Defaults
    /// to off.
    pub fn compress(mut self, on: bool) -> Self {
        self.compress = on;
        self
    }

    /// How each record is written: NDJSON (the default, the only format the
    /// `privlog` tools read), or a Common / Combined Log Format line for
    /// access-log analysers (see [`LineFormat`]). File names keep their
    /// `.ndjson` ending whatever the format, so rotation and retention treat
    /// every file alike.
    pub fn format(mut self, format: LineFormat) -> Self {
        self.format = format;
        self
    }

    /// When to `fsync`; see [`RollingFsync`]. Defaults to [`RollingFsync::Never`].
    pub fn fsync(mut self, fsync: RollingFsync) -> Self {
        self.fsync = fsync;
        self
    }

    /// The wall clock that decides the day of a file and the age of old files.
    /// Defaults to the system clock; set it to test rotation and retention.
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file being written, if one is open.
    pub fn current_file(&self) -> Option<&Path> {
        self.active.as_ref().map(|a| a.file.path())
    }

    fn now(&self) -> OffsetDateTime {
        calendar_time((self.clock)())
    }

    fn ledger(&self) -> Ledger {
        // `attach` is always called first by the pipeline; a sink driven by
        // hand without it still works, counting into a private ledger.
        self.ledger.clone().unwrap_or_else(|| Ledger::detached("rolling"))
    }

    /// Opens the file to write for `date`: the newest plain one of that day
    /// with room left, or the next number.
    fn open(&mut self, date: Date) -> io::Result<()> {
        let files = match log_files(&self.dir, Some(&self.prefix)) {
            Ok(files) => files,
            // The directory was removed while running (a clean-up gone too
            // far): make it again rather than lose every record from now on.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.dir)?;
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let today: Vec<&LogFile> = files.iter().filter(|f| f.date == date).collect();
        let newest = today.iter().map(|f| f.seq).max();
        let reuse = newest.and_then(|seq| {
            let plain = today.iter().find(|f| f.seq == seq && !f.compressed)?;
            let has_gz = today.iter().any(|f| f.seq == seq && f.compressed);
            let len = fs::metadata(&plain.path).map(|m| m.len()).unwrap_or(0);
            let room = self.max_file_size.is_none_or(|max| len < max);
            (!has_gz && room).then(|| plain.path.clone())
        });
        let (path, seq) = match reuse {
            Some(p) => (p, newest.unwrap_or(0)),
            None => {
                let seq = newest.map_or(0, |s| s.saturating_add(1));
                (self.dir.join(LogFile::file_name(&self.prefix, date, seq, false)), seq)
            }
        };
        self.open_exact(&path, date, seq)
    }

    /// Closes the current file (synced unless [`RollingFsync::Never`]) and starts
    /// maintenance. Returns an error only for a failed `fsync`.
    fn close_active(&mut self) -> Result<(), SinkError> {
        let result = self.sync_active();
        if let Some(a) = self.active.take() {
            self.last_path = Some(a.file.path().to_path_buf());
        }
        result
    }

    /// Syncs the current file per the policy and counts records waiting on it.
    fn sync_active(&mut self) -> Result<(), SinkError> {
        let ledger = self.ledger();
        let fsync = self.fsync;
        let Some(a) = self.active.as_mut() else { return Ok(()) };
        if !a.dirty || fsync == RollingFsync::Never {
            a.dirty = false;
            return Ok(());
        }
        let waiting = std::mem::take(&mut a.unsynced_records);
        a.dirty = false;
        self.last_sync = Instant::now();
        match a.file.file().sync_data() {
            Ok(()) => {
                ledger.delivered(waiting);
                Ok(())
            }
            Err(e) => {
                ledger.dropped(drop_reason(&e), waiting);
                Err(SinkError::with_source(
                    format!(
                        "cannot fsync log file {} ({waiting} records may be lost; check the disk)",
                        a.file.path().display()
                    ),
                    e,
                ))
            }
        }
    }

    fn start_maintenance(&mut self) -> Result<(), SinkError> {
        if !self.compress && self.retention.is_keep_all() && self.cleaned {
            return Ok(());
        }
        // One round at a time, and never waited for here: compressing a big
        // file takes seconds the writes must not. A round started later
        // covers whatever this one would have done.
        if self.maintenance.as_ref().is_some_and(|h| !h.is_finished()) {
            self.maintenance_pending = true;
            return Ok(());
        }
        let problems = self.finish_maintenance(None);
        self.maintenance_pending = false;
        let newest = self
            .active
            .as_ref()
            .map(|a| a.file.path())
            .or(self.last_path.as_deref());
        let job = Job {
            dir: self.dir.clone(),
            prefix: self.prefix.clone(),
            compress: self.compress,
            retention: self.retention.clone(),
            active: newest.and_then(LogFile::parse),
            now: self.now(),
        };
        match std::thread::Builder::new()
            .name("privlog-rolling-maintenance".to_owned())
            .spawn(move || job.run())
        {
            Ok(handle) => {
                self.maintenance = Some(handle);
                self.cleaned = true;
            }
            Err(e) => {
                return Err(SinkError::with_source(
                    format!("cannot start compression and retention for {}", self.dir.display()),
                    e,
                ));
            }
        }
        problems
    }

    /// Waits for the running maintenance round (until `deadline`, or for ever)
    /// and reports its problems.
    fn finish_maintenance(&mut self, deadline: Option<Instant>) -> Result<(), SinkError> {
        let Some(handle) = self.maintenance.take() else {
            return Ok(());
        };
        if let Some(deadline) = deadline {
            while !handle.is_finished() {
                if Instant::now() >= deadline {
                    // Left running; the next start finishes the job.
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        match handle.join() {
            Ok(problems) if problems.is_empty() => Ok(()),
            Ok(problems) => Err(SinkError::new(problems.join("; "))),
            Err(_) => Err(SinkError::new(format!(
                "compression or retention for {} stopped unexpectedly",
                self.dir.display()
            ))),
        }
    }

    /// One turn on the active file: the lines `from..to` (fewer when the
    /// file-size limit keeps some out).
    fn turn(&mut self, from: usize, to: usize) -> Step {
        let Some(a) = self.active.as_mut() else {
            return Step::Failed(io::Error::other("no open log file"));
        };
        let mut turn = match a.file.begin() {
            Ok(Begin::Ready(turn)) => turn,
            Ok(Begin::Replaced) => return Step::Replaced,
            Err(BeginError::Busy) => return Step::Busy,
            Err(BeginError::Io(e)) => return Step::Failed(e),
        };
        // How many lines fit before the size limit (at least one in an empty file).
        let mut end = to;
        if let Some(max) = self.max_file_size {
            let len = turn.len();
            let start = if from == 0 { 0 } else { self.ends[from - 1] };
            let room = max.saturating_sub(len);
            end = from
                + self.ends[from..to]
                    .iter()
                    .take_while(|&&e| (e - start) as u64 <= room)
                    .count();
            if end == from && len == 0 {
                end = from + 1;
            }
        }
        let w = turn.append(&self.buf, &self.ends, from, end);
        if !turn.still_linked() {
            return Step::Replaced;
        }
        if w.bytes > 0 {
            a.dirty = true;
        }
        Step::Wrote {
            lines: w.lines,
            error: w.error,
        }
    }

    fn count_written(&mut self, n: u64) {
        if self.fsync == RollingFsync::EveryBatch {
            if let Some(a) = self.active.as_mut() {
                a.unsynced_records += n;
            }
        } else {
            self.ledger().delivered(n);
        }
    }

    fn write_batch(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let ledger = self.ledger();
        let mut problems: Vec<SinkError> = Vec::new();
        let date = self.now().date();
        if self.active.as_ref().is_some_and(|a| a.date != date) {
            if let Err(e) = self.close_active() {
                problems.push(e);
            }
            // Compression and retention run once the new day's file is open.
            self.maintained_once = false;
        }
        self.buf.clear();
        self.ends.clear();
        for r in batch {
            self.format.write(r, &mut self.buf);
            self.ends.push(self.buf.len());
        }
        let mut next = 0;
        let mut reopens = 0;
        let mut too_large = 0u64;
        while next < batch.len() {
            if self.active.is_none() {
                if let Err(e) = self.open(date) {
                    let lost = (batch.len() - next) as u64;
                    ledger.dropped(drop_reason(&e), lost);
                    problems.push(open_error(&self.dir, &self.prefix, lost, e));
                    break;
                }
                if !self.maintained_once {
                    self.maintained_once = true;
                    if let Err(e) = self.start_maintenance() {
                        problems.push(e);
                    }
                }
            }
            let (seq, path) = match &self.active {
                Some(a) => (a.seq, a.file.path().to_path_buf()),
                None => break,
            };
            let error = match self.turn(next, batch.len()) {
                Step::Wrote { lines, error } => {
                    self.count_written(lines as u64);
                    next += lines;
                    error
                }
                Step::Replaced => {
                    // Replaced (e.g. rewritten by `privlog subject erase`) or
                    // removed: follow the path, with the lines not written.
                    if let Err(e) = self.close_active() {
                        problems.push(e);
                    }
                    reopens += 1;
                    if reopens > MAX_REOPENS {
                        let lost = (batch.len() - next) as u64;
                        ledger.dropped(DropReason::SinkError, lost);
                        problems.push(replaced_error(&path, lost));
                        break;
                    }
                    continue;
                }
                Step::Busy => {
                    let lost = (batch.len() - next) as u64;
                    ledger.dropped(DropReason::SinkError, lost);
                    problems.push(busy_error(&path, lost));
                    break;
                }
                Step::Failed(e) => Some(e),
            };
            if let Some(e) = error {
                if e.kind() == io::ErrorKind::FileTooLarge {
                    if self.active.as_ref().is_some_and(|_| self.empty_active()) {
                        // Too long for any file under the limit: this line only.
                        too_large += 1;
                        next += 1;
                        continue;
                    }
                    // The file-size limit ends this file: go on in the next one.
                } else {
                    let lost = (batch.len() - next) as u64;
                    ledger.dropped(drop_reason(&e), lost);
                    problems.push(write_error(&path, lost, e));
                    // Reopened (and its tail checked) on the next batch.
                    if let Err(e) = self.close_active() {
                        problems.push(e);
                    }
                    break;
                }
            }
            if next < batch.len() {
                // Size limit reached: the next number of the same day.
                if let Err(e) = self.close_active() {
                    problems.push(e);
                }
                let path = self
                    .dir
                    .join(LogFile::file_name(&self.prefix, date, seq.saturating_add(1), false));
                if let Err(e) = self.open_exact(&path, date, seq.saturating_add(1)) {
                    let lost = (batch.len() - next) as u64;
                    ledger.dropped(drop_reason(&e), lost);
                    problems.push(write_error(&path, lost, e));
                    break;
                }
                if let Err(e) = self.start_maintenance() {
                    problems.push(e);
                }
            }
        }
        if too_large > 0 {
            ledger.dropped(FILE_SIZE_LIMIT, too_large);
            let limit = file_size_limit().map_or_else(String::new, |l| format!(" of {l} bytes"));
            problems.push(SinkError::new(format!(
                "{too_large} records are longer than the file-size limit{limit} allows any log file {}.* in {} \
                 to be, so they are dropped whole; {LIMIT_FIX}",
                self.prefix,
                self.dir.display()
            )));
        }
        match self.fsync {
            RollingFsync::EveryBatch => {
                if let Err(e) = self.sync_active() {
                    problems.push(e);
                }
            }
            RollingFsync::Interval(every) if self.last_sync.elapsed() >= every => {
                if let Err(e) = self.sync_active() {
                    problems.push(e);
                }
            }
            _ => {}
        }
        join_problems(problems)
    }

    /// Whether the open file is empty (as of its last turn).
    fn empty_active(&self) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| a.file.file().metadata().is_ok_and(|m| m.len() == 0))
    }

    fn open_exact(&mut self, path: &Path, date: Date, seq: u32) -> io::Result<()> {
        let file = AppendFile::open(path)?;
        self.active = Some(Active {
            file,
            date,
            seq,
            unsynced_records: 0,
            dirty: false,
        });
        Ok(())
    }
}

/// The earliest time a log file's name can hold (four-digit years).
const CALENDAR_MIN: OffsetDateTime = time::macros::datetime!(0000-01-01 00:00:00 UTC);
/// The latest time a log file's name can hold.
const CALENDAR_MAX: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59.999999999 UTC);

/// `t` on the calendar of log file names; a time outside the years 0000 to
/// 9999 (a configured or offset clock gone wrong, a file's modification
/// time) gives the nearest time within, so records are still written (to
/// the first or last day's file) and nothing panics.
pub(crate) fn calendar_time(t: SystemTime) -> OffsetDateTime {
    let since = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => time::Duration::try_from(after)
            .ok()
            .and_then(|d| OffsetDateTime::UNIX_EPOCH.checked_add(d)),
        Err(before) => time::Duration::try_from(before.duration())
            .ok()
            .and_then(|d| OffsetDateTime::UNIX_EPOCH.checked_sub(d)),
    };
    match since {
        Some(at) => at.clamp(CALENDAR_MIN, CALENDAR_MAX),
        None if t < SystemTime::UNIX_EPOCH => CALENDAR_MIN,
        None => CALENDAR_MAX,
    }
}

fn drop_reason(e: &io::Error) -> DropReason {
    if e.kind() == io::ErrorKind::StorageFull || e.kind() == io::ErrorKind::QuotaExceeded {
        DropReason::Other("disk_full")
    } else {
        DropReason::SinkError
    }
}

fn open_error(dir: &Path, prefix: &str, lost: u64, e: io::Error) -> SinkError {
    SinkError::with_source(
        format!(
            "cannot open a log file {}.* in {} ({lost} records dropped; check the directory exists and is writable)",
            prefix,
            dir.display()
        ),
        e,
    )
}

fn write_error(path: &Path, lost: u64, e: io::Error) -> SinkError {
    let hint = if drop_reason(&e) == DropReason::Other("disk_full") {
        "free disk space or lower the retention"
    } else {
        "check the disk and the file's permissions"
    };
    SinkError::with_source(
        format!(
            "cannot write log file {} ({lost} records dropped; {hint})",
            path.display()
        ),
        e,
    )
}

fn join_problems(mut problems: Vec<SinkError>) -> Result<(), SinkError> {
    match problems.len() {
        0 => Ok(()),
        1 => Err(problems.remove(0)),
        _ => Err(SinkError::new(
            problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        )),
    }
}

impl Sink for RollingFileSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn attach(&mut self, ledger: Ledger) -> Accounting {
        self.ledger = Some(ledger);
        Accounting::Sink
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write_batch(batch)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        // Lines go straight to the file; only the fsync policy is left to honour.
        if let RollingFsync::Interval(every) = self.fsync
            && self.last_sync.elapsed() >= every
        {
            return self.sync_active();
        }
        Ok(())
    }

    fn tick(&mut self) -> Result<(), SinkError> {
        let mut problems = Vec::new();
        if let Err(e) = self.flush() {
            problems.push(e);
        }
        if self.maintenance.as_ref().is_some_and(JoinHandle::is_finished) {
            if let Err(e) = self.finish_maintenance(None) {
                problems.push(e);
            }
            if self.maintenance_pending
                && let Err(e) = self.start_maintenance()
            {
                problems.push(e);
            }
        }
        join_problems(problems)
    }

    fn close(&mut self, deadline: Instant) -> Result<(), SinkError> {
        let mut problems = Vec::new();
        if let Err(e) = self.close_active() {
            problems.push(e);
        }
        if let Err(e) = self.finish_maintenance(Some(deadline)) {
            problems.push(e);
        }
        if self.maintenance_pending && self.maintenance.is_none() && Instant::now() < deadline {
            if let Err(e) = self.start_maintenance() {
                problems.push(e);
            }
            if let Err(e) = self.finish_maintenance(Some(deadline)) {
                problems.push(e);
            }
        }
        join_problems(problems)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_outside_the_calendar_of_file_names_are_the_nearest_within() {
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(calendar_time(far), CALENDAR_MAX);
        let max = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(i64::MAX as u64 / 2));
        if let Some(max) = max {
            assert_eq!(calendar_time(max), CALENDAR_MAX);
        }
        if let Some(early) = SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(70_000_000_000)) {
            assert_eq!(calendar_time(early), CALENDAR_MIN);
        }
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(calendar_time(now), OffsetDateTime::from(now));
    }

    #[test]
    fn a_clock_past_the_year_9999_writes_to_the_calendars_last_day() {
        let dir = std::env::temp_dir().join(format!("privlog-rolling-far-clock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut sink = RollingFileSink::new(&dir, "r")
            .expect("sink")
            .retention(Retention::keep_all().max_age(Duration::from_secs(86_400)))
            .clock(|| SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000_000));
        let ledger = Ledger::detached("rolling");
        sink.attach(ledger.clone());
        let r = Record::new(datetime!(2026-11-22 0:00 UTC), "GET", "/");
        sink.write(std::slice::from_ref(&r)).expect("written");
        sink.close(Instant::now() + Duration::from_secs(10)).expect("closed");
        assert_eq!(ledger.stats().delivered, 1);
        assert!(dir.join("r.9999-12-31.0000.ndjson").exists());
        let _ = fs::remove_dir_all(dir);
    }
}
