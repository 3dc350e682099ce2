use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::frame::{self, Parse, SEGMENT_MAGIC};
use super::{Fsync, SpoolConfig};
use crate::Record;
use crate::record::write_ndjson;
use crate::sink::SinkError;

const SEGMENT_EXT: &str = "spool";
const ACK_FILE: &str = "acked";
const ACK_TMP: &str = "acked.tmp";

/// What [`Spool::open`] found from an earlier run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// Records waiting for delivery, counting the damaged ones not yet reached
    /// (they are reported through [`SpoolBatch::damaged`] when reading reaches them).
    pub records: u64,
    /// Records lost to a torn last write, counted at once.
    pub torn: u64,
}

/// Records read from the head of the spool, to be acknowledged after delivery.
#[derive(Debug)]
pub struct SpoolBatch {
    /// The records, oldest first.
    pub records: Vec<Record>,
    /// Damaged records skipped while reading this batch; they are gone.
    pub damaged: u64,
    end: Cursor,
    last_seq: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    /// The first sequence number of the segment being read.
    segment: u64,
    /// Byte offset in that segment.
    offset: usize,
    /// The sequence number the next record should have.
    expected: u64,
}

#[derive(Debug)]
struct Segment {
    first_seq: u64,
    path: PathBuf,
    bytes: u64,
}

/// A bounded, checksummed on-disk log of records (see the [module docs](super)).
#[derive(Debug)]
pub struct Spool {
    cfg: SpoolConfig,
    segments: VecDeque<Segment>,
    /// Open on the last segment while appending to it.
    writer: Option<File>,
    next_seq: u64,
    acked: u64,
    cursor: Cursor,
    /// The bytes of the segment being read, loaded from disk on demand.
    cache: Option<(u64, Vec<u8>)>,
    total_bytes: u64,
    unsynced: bool,
    last_sync: Instant,
    buf: Vec<u8>,
    /// The spool directory, opened and locked: one spool per directory.
    _lock: File,
}

impl Spool {
    /// Opens (or creates) the spool in `cfg.dir` and scans what an earlier run
    /// left there.
    ///
    /// The spool holds an exclusive lock (`flock`) on its directory itself
    /// while it is open: two spools in one directory would deliver records
    /// twice and delete each other's segments. Deleting or replacing any file
    /// in the directory cannot release the lock.
    ///
    /// # Errors
    /// When the directory cannot be created or listed, or another spool (in
    /// this or another process) has it open. Damaged content is never an error.
    pub fn open(cfg: SpoolConfig) -> Result<(Spool, Recovery), SinkError> {
        let dir = cfg.dir.clone();
        fs::create_dir_all(&dir).map_err(|e| io_err("cannot create spool directory", &dir, e))?;
        let lock = lock_dir(&dir)?;
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| io_err("cannot list spool directory", &dir, e))? {
            let entry = entry.map_err(|e| io_err("cannot list spool directory", &dir, e))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXT) {
                continue;
            }
            let Some(first_seq) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if first_seq > frame::MAX_SEQ {
                // No spool numbers a segment this high: not one of ours.
                continue;
            }
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            found.push(Segment { first_seq, path, bytes });
        }
        found.sort_by_key(|s| s.first_seq);
        // An acknowledgement beyond any possible sequence number is damage.
        let ack_from_file = read_ack(&dir.join(ACK_FILE)).filter(|a| *a <= frame::MAX_SEQ);
        let acked = match ack_from_file {
            Some(a) => a,
            // Without the acknowledgement file nothing is known to be lost
            // before the oldest segment.
            None => found.first().map_or(0, |s| s.first_seq.saturating_sub(1)),
        };

        // Scan every segment for its highest valid sequence number; the last
        // one's trailing bytes that hold no valid frame are a torn write.
        let mut max_seq = acked;
        let mut torn = 0;
        let last = found.len().saturating_sub(1);
        for (i, seg) in found.iter().enumerate() {
            let Ok(bytes) = fs::read(&seg.path) else {
                continue;
            };
            let (seg_max, trailing) = scan(&bytes);
            if let Some(m) = seg_max {
                max_seq = max_seq.max(m);
            }
            if i == last && trailing {
                torn = 1;
            }
        }
        // A segment named after a sequence number no valid record reached (a
        // crash while starting it, or damage) holds nothing to read; the next
        // append may reuse its name, so it must not stay in the list.
        found.retain(|s| s.first_seq <= max_seq);
        let first_segment = found.first().map_or(acked.saturating_add(1), |s| s.first_seq);
        let spool = Spool {
            cursor: Cursor {
                segment: first_segment,
                offset: SEGMENT_MAGIC.len(),
                expected: acked.saturating_add(1),
            },
            total_bytes: found.iter().map(|s| s.bytes).sum(),
            segments: found.into(),
            writer: None,
            next_seq: max_seq.saturating_add(1),
            acked,
            cache: None,
            unsynced: false,
            last_sync: Instant::now(),
            buf: Vec::with_capacity(64 * 1024),
            _lock: lock,
            cfg,
        };
        let recovery = Recovery {
            records: max_seq - acked,
            torn,
        };
        Ok((spool, recovery))
    }

    /// Records appended and not yet acknowledged (damaged ones not yet reached included).
    pub fn pending(&self) -> u64 {
        self.next_seq.saturating_sub(1).saturating_sub(self.acked)
    }

    /// Whether every appended record was acknowledged.
    pub fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// Bytes the segment files take on disk.
    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// Appends `records`, oldest first, and returns how many were appended.
    /// The rest did not fit under [`SpoolConfig::max_bytes`].
    ///
    /// # Errors
    /// An I/O error (disk full, permissions): nothing of this call was appended.
    pub fn append(&mut self, records: &[Record]) -> Result<usize, SinkError> {
        let mut done = 0;
        let mut line = Vec::with_capacity(512);
        while done < records.len() {
            self.buf.clear();
            let room = self.room_in_segment();
            let mut n = 0;
            for r in &records[done..] {
                line.clear();
                write_ndjson(r, &mut line);
                line.pop(); // the newline
                let before = self.buf.len();
                frame::encode(self.next_seq + n as u64, &line, &mut self.buf);
                let grown = self.buf.len() as u64;
                if self.total_bytes + grown + header_if_new(self.writer.is_none()) > self.cfg.max_bytes
                    || (n > 0 && grown > room)
                {
                    self.buf.truncate(before);
                    break;
                }
                n += 1;
            }
            if n == 0 {
                break; // full
            }
            self.write_frames()?;
            self.next_seq += n as u64;
            done += n;
            if self.room_in_segment() == 0 {
                self.seal()?;
            }
        }
        self.after_write()?;
        Ok(done)
    }

    fn room_in_segment(&self) -> u64 {
        match (&self.writer, self.segments.back()) {
            (Some(_), Some(seg)) => self.cfg.segment_bytes.saturating_sub(seg.bytes),
            _ => self.cfg.segment_bytes,
        }
    }

    fn write_frames(&mut self) -> Result<(), SinkError> {
        if self.writer.is_none() {
            self.new_segment()?;
        }
        let (Some(file), Some(seg)) = (self.writer.as_mut(), self.segments.back_mut()) else {
            return Err(SinkError::new("spool has no open segment"));
        };
        if let Err(e) = file.write_all(&self.buf) {
            // Leave no half frame behind: later appends must start clean.
            let _ = file.set_len(seg.bytes);
            return Err(io_err("cannot append to spool segment", &seg.path, e));
        }
        seg.bytes += self.buf.len() as u64;
        self.total_bytes += self.buf.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    fn new_segment(&mut self) -> Result<(), SinkError> {
        if let Some(back) = self.segments.back()
            && back.first_seq == self.next_seq
        {
            // A recovered segment without one valid record: nothing in it to keep.
            self.total_bytes = self.total_bytes.saturating_sub(back.bytes);
            self.segments.pop_back();
            self.cache = None;
        }
        let path = self.cfg.dir.join(format!("{:020}.{SEGMENT_EXT}", self.next_seq));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_err("cannot create spool segment", &path, e))?;
        if let Err(e) = file.write_all(SEGMENT_MAGIC) {
            let _ = fs::remove_file(&path);
            return Err(io_err("cannot write spool segment", &path, e));
        }
        if self.cfg.fsync == Fsync::Always {
            sync_dir(&self.cfg.dir);
        }
        let bytes = SEGMENT_MAGIC.len() as u64;
        self.total_bytes += bytes;
        if self.segments.is_empty() {
            self.cursor.segment = self.next_seq;
            self.cursor.offset = SEGMENT_MAGIC.len();
        }
        self.segments.push_back(Segment {
            first_seq: self.next_seq,
            path,
            bytes,
        });
        self.writer = Some(file);
        Ok(())
    }

    /// Stops appending to the current segment; the next append starts a new one.
    fn seal(&mut self) -> Result<(), SinkError> {
        if let Some(file) = self.writer.take()
            && self.cfg.fsync != Fsync::Never
        {
            file.sync_data()
                .map_err(|e| io_err("cannot fsync spool segment", &self.cfg.dir, e))?;
        }
        Ok(())
    }

    fn after_write(&mut self) -> Result<(), SinkError> {
        match self.cfg.fsync {
            Fsync::Always => self.sync(),
            Fsync::Interval(d) if self.last_sync.elapsed() >= d => self.sync(),
            _ => Ok(()),
        }
    }

    /// Writes pending data to stable storage now.
    ///
    /// # Errors
    /// The `fsync` error.
    pub fn sync(&mut self) -> Result<(), SinkError> {
        if self.unsynced {
            if let Some(file) = &self.writer {
                file.sync_data()
                    .map_err(|e| io_err("cannot fsync spool segment", &self.cfg.dir, e))?;
            }
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Periodic upkeep: the interval `fsync`. Call it from a sink's `tick`.
    ///
    /// # Errors
    /// The `fsync` error.
    pub fn maintain(&mut self) -> Result<(), SinkError> {
        match self.cfg.fsync {
            Fsync::Interval(d) if self.unsynced && self.last_sync.elapsed() >= d => self.sync(),
            _ => Ok(()),
        }
    }

    /// Reads up to `max_records` records (and about `max_bytes` of payload) from
    /// the head of the spool without removing them. `None` when nothing is
    /// waiting. Call [`Spool::ack`] once the batch is delivered; until then the
    /// next `peek` returns the same records.
    ///
    /// # Errors
    /// An I/O error reading a segment.
    pub fn peek(&mut self, max_records: usize, max_bytes: usize) -> Result<Option<SpoolBatch>, SinkError> {
        let mut cur = self.cursor;
        let mut records = Vec::new();
        let mut damaged = 0u64;
        let mut last_seq = self.acked;
        let mut bytes = 0usize;
        'segments: loop {
            let Some(idx) = self.segments.iter().position(|s| s.first_seq == cur.segment) else {
                // The cursor's segment is gone: move to the next one, if any.
                match self.segments.iter().find(|s| s.first_seq > cur.segment) {
                    Some(s) => {
                        cur.segment = s.first_seq;
                        cur.offset = SEGMENT_MAGIC.len();
                        continue;
                    }
                    None => break,
                }
            };
            let next_segment = self.segments.get(idx + 1).map(|s| s.first_seq);
            let data = self.load(idx)?;
            while records.len() < max_records && bytes < max_bytes {
                match frame::parse(data, cur.offset) {
                    Parse::Frame(f) => {
                        cur.offset = f.end;
                        if f.seq < cur.expected {
                            continue; // already delivered
                        }
                        damaged += f.seq - cur.expected;
                        cur.expected = f.seq.saturating_add(1);
                        last_seq = f.seq;
                        match crate::read::parse_line(f.payload) {
                            Ok(r) => {
                                bytes += f.payload.len();
                                records.push(r);
                            }
                            Err(_) => damaged += 1,
                        }
                    }
                    // Damage (or a cut length) here: read on at the next valid frame,
                    // else at the next segment; at the end of the newest one, wait.
                    Parse::Invalid | Parse::Short => match frame::resync(data, cur.offset + 1) {
                        Some(at) => cur.offset = at,
                        None => match next_segment {
                            // Segments are read in increasing order, never twice.
                            Some(next) if next > cur.segment => {
                                cur.segment = next;
                                cur.offset = SEGMENT_MAGIC.len();
                                continue 'segments;
                            }
                            _ => break 'segments,
                        },
                    },
                }
            }
            break;
        }
        if records.is_empty() && damaged == 0 {
            // Nothing readable: still move past segments that were fully consumed.
            self.cursor = cur;
            return Ok(None);
        }
        Ok(Some(SpoolBatch {
            records,
            damaged,
            end: cur,
            last_seq,
        }))
    }

    /// The bytes of segment `idx`, reloading when the file grew.
    fn load(&mut self, idx: usize) -> Result<&[u8], SinkError> {
        let seg = &self.segments[idx];
        let fresh = match &self.cache {
            Some((first, data)) => *first != seg.first_seq || (data.len() as u64) < seg.bytes,
            None => true,
        };
        if fresh {
            let mut data = match self.cache.take() {
                Some((first, data)) if first == seg.first_seq => data,
                _ => Vec::new(),
            };
            let mut f = File::open(&seg.path).map_err(|e| io_err("cannot read spool segment", &seg.path, e))?;
            f.seek(SeekFrom::Start(data.len() as u64))
                .map_err(|e| io_err("cannot read spool segment", &seg.path, e))?;
            f.read_to_end(&mut data)
                .map_err(|e| io_err("cannot read spool segment", &seg.path, e))?;
            self.cache = Some((seg.first_seq, data));
        }
        Ok(self.cache.as_ref().map_or(&[][..], |(_, d)| d.as_slice()))
    }

    /// Marks `batch` delivered: persists the acknowledgement and deletes
    /// segments whose records are all delivered.
    ///
    /// # Errors
    /// An I/O error writing the acknowledgement file.
    pub fn ack(&mut self, batch: &SpoolBatch) -> Result<(), SinkError> {
        self.cursor = batch.end;
        self.acked = self.acked.max(batch.last_seq).max(batch.end.expected.saturating_sub(1));
        self.write_ack()?;
        // Whole segments before the one being read are done.
        while let Some(front) = self.segments.front() {
            let done_before_cursor = front.first_seq < self.cursor.segment;
            let all_acked = self.segments.len() == 1 && self.acked.saturating_add(1) >= self.next_seq;
            if !(done_before_cursor || all_acked) {
                break;
            }
            if let Some(seg) = self.segments.pop_front() {
                if self.segments.is_empty() {
                    self.writer = None;
                    self.cursor = Cursor {
                        segment: self.next_seq,
                        offset: SEGMENT_MAGIC.len(),
                        expected: self.cursor.expected,
                    };
                }
                if matches!(&self.cache, Some((first, _)) if *first == seg.first_seq) {
                    self.cache = None;
                }
                self.total_bytes = self.total_bytes.saturating_sub(seg.bytes);
                if let Err(e) = fs::remove_file(&seg.path)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    return Err(io_err("cannot delete delivered spool segment", &seg.path, e));
                }
            }
        }
        Ok(())
    }

    fn write_ack(&mut self) -> Result<(), SinkError> {
        let tmp = self.cfg.dir.join(ACK_TMP);
        let dst = self.cfg.dir.join(ACK_FILE);
        let mut f = File::create(&tmp).map_err(|e| io_err("cannot write spool acknowledgement", &tmp, e))?;
        f.write_all(format!("{}\n", self.acked).as_bytes())
            .map_err(|e| io_err("cannot write spool acknowledgement", &tmp, e))?;
        if self.cfg.fsync == Fsync::Always {
            f.sync_data()
                .map_err(|e| io_err("cannot fsync spool acknowledgement", &tmp, e))?;
        }
        fs::rename(&tmp, &dst).map_err(|e| io_err("cannot write spool acknowledgement", &dst, e))?;
        Ok(())
    }
}

/// Opens `dir` and takes an exclusive lock on the directory itself, so that
/// no file a clean-up job may delete carries the lock.
fn lock_dir(dir: &Path) -> Result<File, SinkError> {
    let handle = File::open(dir).map_err(|e| io_err("cannot open spool directory", dir, e))?;
    match handle.try_lock() {
        Ok(()) => Ok(handle),
        Err(fs::TryLockError::WouldBlock) => Err(SinkError::new(format!(
            "spool directory {} is in use by another spool (this or another process holds its lock); \
             give each process and each sink its own spool directory",
            dir.display()
        ))),
        Err(fs::TryLockError::Error(e)) => Err(SinkError::with_source(
            format!(
                "cannot lock spool directory {} (put the spool on a local file system that supports flock)",
                dir.display()
            ),
            e,
        )),
    }
}

fn header_if_new(new: bool) -> u64 {
    if new { SEGMENT_MAGIC.len() as u64 } else { 0 }
}

/// The highest valid sequence number in a segment's bytes, and whether bytes
/// that hold no valid frame follow the last valid one.
fn scan(bytes: &[u8]) -> (Option<u64>, bool) {
    let mut at = if bytes.starts_with(SEGMENT_MAGIC) {
        SEGMENT_MAGIC.len()
    } else {
        0
    };
    let mut max = None;
    loop {
        match frame::parse(bytes, at) {
            Parse::Frame(f) => {
                max = Some(max.map_or(f.seq, |m: u64| m.max(f.seq)));
                at = f.end;
            }
            Parse::Short | Parse::Invalid => match frame::resync(bytes, at + 1) {
                Some(next) => at = next,
                None => return (max, at < bytes.len()),
            },
        }
    }
}

fn read_ack(path: &Path) -> Option<u64> {
    fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|n| *n <= frame::MAX_SEQ)
}

fn sync_dir(dir: &Path) {
    // Best effort: makes a new segment's directory entry durable.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn io_err(what: &str, path: &Path, e: io::Error) -> SinkError {
    SinkError::with_source(
        format!(
            "{what} {} (check the disk and the directory's permissions)",
            path.display()
        ),
        e,
    )
}
