use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Instant;

use super::dir::SpoolDir;
use super::error::{AppendError, IoFailure, io_err};
use super::frame::{self, Budget, Parse, SEGMENT_MAGIC};
use super::{MAX_BYTES, SEGMENT_BYTES, SpoolConfig, SpoolFsync};
use crate::Record;
use crate::record::write_ndjson;
use crate::sink::SinkError;
use crate::sink::fsize::{file_size_limit, limit_error};

const SEGMENT_SUFFIX: &str = ".spool";
const ACK_FILE: &str = "acked";
const ACK_TMP: &str = "acked.tmp";

/// The largest segment file any spool writes: the largest segment size,
/// plus the one frame that may start a segment near its end. A larger file
/// is not read (it is damage, or not one of ours).
const MAX_SEGMENT_FILE: u64 = SEGMENT_BYTES.max + (SEGMENT_MAGIC.len() + frame::MAX_FRAME) as u64;

/// The most sequence numbers the segments of one spool can span: every
/// record takes at least a frame header, and the spool holds at most the
/// largest cap of bytes. A segment named further than this past the
/// acknowledged record is not one of this spool's.
const MAX_SPAN: u64 = MAX_BYTES.max / frame::HEADER_LEN as u64;

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
    /// The file's name in the spool directory.
    name: String,
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
    /// What the search for frames after damage may still checksum in the
    /// segment (by its first sequence number) being read.
    resync: (u64, Budget),
    total_bytes: u64,
    unsynced: bool,
    last_sync: Instant,
    buf: Vec<u8>,
    /// The file-size limit (`RLIMIT_FSIZE`) when the spool was opened or a
    /// write last did not fit under it: no segment or acknowledgement file
    /// is written past it.
    limit: Option<u64>,
    /// The spool directory, opened and locked: one spool per directory.
    /// Every file is created, read, renamed and deleted through it, so the
    /// spool stays in the directory it locked wherever it is moved.
    dir: SpoolDir,
    /// Failures a test makes happen.
    #[cfg(test)]
    pub(crate) faults: Faults,
}

/// Failures a test makes the spool meet, as a real file system would.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// The bytes of a simulated file system holding the segments and the
    /// acknowledgement file: a write beyond it writes what fits, then fails
    /// as on a full disk.
    pub(crate) disk: Option<u64>,
    /// Every fsync fails.
    pub(crate) sync: bool,
    /// A file-size limit in place of the process's: a write past it fails
    /// the test, as the kernel would kill the process.
    pub(crate) limit: Option<u64>,
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
    /// When a size or the fsync interval is out of range, the directory
    /// cannot be created or listed, group or others can write it or
    /// another user than the effective user or root owns it, or another
    /// spool (in this or another process) has it open. Damaged content is
    /// never an error.
    pub fn open(cfg: SpoolConfig) -> Result<(Spool, Recovery), SinkError> {
        cfg.validate()
            .map_err(|e| SinkError::new(format!("invalid spool setting: {e}")))?;
        let dir = SpoolDir::open(&cfg.dir)?;
        let mut found = Vec::new();
        let entries = dir
            .list()
            .map_err(|e| io_err("cannot list spool directory", dir.path(), e))?;
        for entry in entries {
            let Some(first_seq) = entry
                .name
                .strip_suffix(SEGMENT_SUFFIX)
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if first_seq > frame::MAX_SEQ {
                // No spool numbers a segment this high: not one of ours.
                continue;
            }
            if entry.len > MAX_SEGMENT_FILE {
                // Far larger than any segment: damage, not read. Its records
                // are counted by the gap before the next segment.
                continue;
            }
            found.push(Segment {
                first_seq,
                name: entry.name,
                bytes: entry.len,
            });
        }
        found.sort_by_key(|s| s.first_seq);
        // An acknowledgement beyond any possible sequence number is damage.
        let ack_from_file = read_ack(&dir).filter(|a| *a <= frame::MAX_SEQ);
        let acked = match ack_from_file {
            Some(a) => a,
            // Without the acknowledgement file nothing is known to be lost
            // before the oldest segment.
            None => found.first().map_or(0, |s| s.first_seq.saturating_sub(1)),
        };
        // A segment named beyond what one spool can span is not one of ours:
        // its numbers would make later records unreadable.
        found.retain(|s| s.first_seq <= acked.saturating_add(1).saturating_add(MAX_SPAN));

        // Scan every segment for its highest valid sequence number; the last
        // one's trailing bytes that hold no valid frame are a torn write.
        let mut max_seq = acked;
        let mut torn = 0;
        let last = found.len().saturating_sub(1);
        for (i, seg) in found.iter().enumerate() {
            let Ok(bytes) = read_all(&dir, &seg.name) else {
                continue;
            };
            let (seg_max, trailing) = scan(&bytes, seg.first_seq);
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
            resync: (0, Budget::for_segment(0)),
            unsynced: false,
            last_sync: Instant::now(),
            buf: Vec::with_capacity(64 * 1024),
            limit: file_size_limit(),
            dir,
            #[cfg(test)]
            faults: Faults::default(),
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

    /// Appends `records`, oldest first, and returns how many were appended:
    /// all of them, or the first ones when the rest did not fit under
    /// [`SpoolConfig::max_bytes`].
    ///
    /// No segment file grows past the process's file-size limit
    /// (`RLIMIT_FSIZE`, `ulimit -f`): a record that would take the current
    /// segment past it starts a new segment, and a record too long even for
    /// an empty segment is refused ([`AppendError::is_file_size_limit`]).
    ///
    /// # Errors
    /// An I/O error: a full disk, permissions, a failed `fsync`, a record
    /// too long for the file-size limit. [`AppendError::appended`] says how
    /// many records, the first ones, were appended whole before it; no part
    /// of a later record stays in the spool, and appends succeed again once
    /// the cause is gone (space freed).
    pub fn append(&mut self, records: &[Record]) -> Result<usize, AppendError> {
        let mut done = 0;
        let mut line = Vec::with_capacity(512);
        // The limit is read again at most once per call after the file
        // system refused a write the cached limit allowed.
        let mut reread = false;
        while done < records.len() {
            self.buf.clear();
            let new = self.writer.is_none();
            let room = self.room_in_segment();
            let under_limit = self.room_under_limit();
            let mut n = 0;
            // Why the first record did not fit: (spool full, past the limit).
            let mut first = (false, false);
            for r in &records[done..] {
                line.clear();
                write_ndjson(r, &mut line);
                line.pop(); // the newline
                let before = self.buf.len();
                frame::encode(self.next_seq + n as u64, &line, &mut self.buf);
                let grown = self.buf.len() as u64;
                let full = self.total_bytes + grown + header_if_new(new) > self.cfg.max_bytes;
                let past_limit = under_limit.is_some_and(|u| grown > u);
                if full || past_limit || (n > 0 && grown > room) {
                    if n == 0 {
                        first = (full, past_limit);
                    }
                    self.buf.truncate(before);
                    break;
                }
                n += 1;
            }
            if n == 0 {
                let (full, past_limit) = first;
                if past_limit {
                    // The limit may have been raised since it was read.
                    let limit = self.read_limit();
                    if limit != self.limit {
                        self.limit = limit;
                        continue;
                    }
                    if !new {
                        // Ends this segment; the record may fit in a new one.
                        self.seal().map_err(|e| AppendError::new(done, e))?;
                        continue;
                    }
                    line.clear();
                    write_ndjson(&records[done], &mut line);
                    let frame = (frame::HEADER_LEN + line.len() - 1) as u64;
                    let refused = AppendError::too_long(done, frame, limit.unwrap_or(0), &self.cfg.dir);
                    self.after_write().map_err(|e| AppendError::new(done, e))?;
                    return Err(refused);
                }
                if full {
                    break;
                }
            }
            // Either every frame of the chunk is written, or none is.
            match self.write_frames() {
                Ok(()) => {}
                Err(e) if e.file_size_limit() && !reread => {
                    // The limit was lowered since it was read: plan the
                    // chunk again under the new one.
                    reread = true;
                    self.limit = self.read_limit();
                    continue;
                }
                Err(e) => return Err(AppendError::new(done, e)),
            }
            self.next_seq += n as u64;
            done += n;
            if self.room_in_segment() == 0 {
                self.seal().map_err(|e| AppendError::new(done, e))?;
            }
        }
        self.after_write().map_err(|e| AppendError::new(done, e))?;
        Ok(done)
    }

    /// The file-size limit now.
    #[cfg(not(test))]
    fn read_limit(&self) -> Option<u64> {
        file_size_limit()
    }

    #[cfg(test)]
    fn read_limit(&self) -> Option<u64> {
        self.faults.limit.or_else(file_size_limit)
    }

    /// The bytes the segment appended to next may still grow by under the
    /// file-size limit (a new segment starts with its magic); `None`
    /// without a limit.
    fn room_under_limit(&self) -> Option<u64> {
        let limit = self.limit?;
        let used = match (&self.writer, self.segments.back()) {
            (Some(_), Some(seg)) => seg.bytes,
            _ => SEGMENT_MAGIC.len() as u64,
        };
        Some(limit.saturating_sub(used))
    }

    fn room_in_segment(&self) -> u64 {
        match (&self.writer, self.segments.back()) {
            (Some(_), Some(seg)) => self.cfg.segment_bytes.saturating_sub(seg.bytes),
            _ => self.cfg.segment_bytes,
        }
    }

    /// Writes the frames in `buf` at the end of the open segment (opening a
    /// new one if none is): all of them, or on failure none.
    fn write_frames(&mut self) -> Result<(), IoFailure> {
        if self.writer.as_ref().is_some_and(deleted) {
            // Its file was deleted: what is written to it would be lost.
            // Reading counts the records it held; these go to a new segment.
            self.forget_segment(self.segments.len().saturating_sub(1));
        }
        if self.writer.is_none() {
            self.new_segment()?;
        }
        let room = self.room_on_disk();
        let (Some(file), Some(seg)) = (self.writer.as_mut(), self.segments.back_mut()) else {
            return Err(IoFailure::new(
                "spool has no open segment in",
                &self.cfg.dir,
                io::Error::other("no segment"),
            ));
        };
        #[cfg(test)]
        killed_past_test_limit(self.faults.limit, seg.bytes, self.buf.len());
        if let Err(e) = put(file, &self.buf, seg.bytes, room) {
            // Leave no part of a frame behind, and write the next append
            // where this one started.
            let undone = file
                .set_len(seg.bytes)
                .and_then(|()| file.seek(SeekFrom::Start(seg.bytes)));
            if undone.is_err() {
                // The segment may end in part of a frame, which reading
                // skips: the next append starts a new segment.
                self.writer = None;
            }
            return Err(IoFailure::new(
                "cannot append to spool segment",
                &self.dir.shown(&seg.name),
                e,
            ));
        }
        seg.bytes += self.buf.len() as u64;
        self.total_bytes += self.buf.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    fn new_segment(&mut self) -> Result<(), IoFailure> {
        if let Some(back) = self.segments.back()
            && back.first_seq == self.next_seq
        {
            // A recovered segment without one valid record: nothing in it to keep.
            self.total_bytes = self.total_bytes.saturating_sub(back.bytes);
            self.segments.pop_back();
            self.cache = None;
        }
        let name = segment_name(self.next_seq);
        let mut file = self.create_segment(&name)?;
        #[cfg(test)]
        killed_past_test_limit(self.faults.limit, 0, SEGMENT_MAGIC.len());
        if let Err(e) = put(&mut file, SEGMENT_MAGIC, 0, self.room_on_disk()) {
            let _ = self.dir.remove(&name);
            return Err(IoFailure::new("cannot write spool segment", &self.dir.shown(&name), e));
        }
        if self.cfg.fsync == SpoolFsync::Always {
            self.dir.sync();
        }
        let bytes = SEGMENT_MAGIC.len() as u64;
        self.total_bytes += bytes;
        if self.segments.is_empty() {
            self.cursor.segment = self.next_seq;
            self.cursor.offset = SEGMENT_MAGIC.len();
        }
        self.segments.push_back(Segment {
            first_seq: self.next_seq,
            name,
            bytes,
        });
        self.writer = Some(file);
        Ok(())
    }

    /// Creates the new segment file `name`, never opening an existing file.
    ///
    /// A file of that name in the spool's own (locked) directory is a
    /// leftover no valid record of this spool reaches (a segment started by
    /// a crashed run, or damage): every record in the directory has a
    /// sequence number below the one it is named after. It is removed, never
    /// written into.
    fn create_segment(&self, name: &str) -> Result<File, IoFailure> {
        let failed = |e| IoFailure::new("cannot create spool segment", &self.dir.shown(name), e);
        match self.dir.create_new(name) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.dir.remove(name).map_err(failed)?;
                self.dir.create_new(name).map_err(failed)
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// Stops appending to the current segment; the next append starts a new one.
    fn seal(&mut self) -> Result<(), IoFailure> {
        if let Some(file) = self.writer.take()
            && self.cfg.fsync != SpoolFsync::Never
        {
            self.sync_file(&file)?;
        }
        Ok(())
    }

    fn after_write(&mut self) -> Result<(), IoFailure> {
        match self.cfg.fsync {
            SpoolFsync::Always => self.sync_now(),
            SpoolFsync::Interval(d) if self.last_sync.elapsed() >= d => self.sync_now(),
            _ => Ok(()),
        }
    }

    /// Writes pending data to stable storage now.
    ///
    /// # Errors
    /// The `fsync` error.
    pub fn sync(&mut self) -> Result<(), SinkError> {
        Ok(self.sync_now()?)
    }

    fn sync_now(&mut self) -> Result<(), IoFailure> {
        if self.unsynced {
            if let Some(file) = &self.writer {
                self.sync_file(file)?;
            }
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    fn sync_file(&self, file: &File) -> Result<(), IoFailure> {
        #[cfg(test)]
        if self.faults.sync {
            return Err(IoFailure::new(
                "cannot fsync spool segment in",
                &self.cfg.dir,
                io::Error::other("fsync failed"),
            ));
        }
        file.sync_data()
            .map_err(|e| IoFailure::new("cannot fsync spool segment in", &self.cfg.dir, e))
    }

    /// Puts the spool under a simulated file-size limit, as if the process
    /// had been started with it.
    #[cfg(test)]
    pub(crate) fn simulate_limit(&mut self, limit: u64) {
        self.faults.limit = Some(limit);
        self.limit = Some(limit);
    }

    /// Appends a whole, valid frame whose line is `payload` as it is (not a
    /// record), as damage no checksum catches.
    #[cfg(test)]
    pub(crate) fn append_unparsable(&mut self, payload: &[u8]) {
        self.buf.clear();
        frame::encode(self.next_seq, payload, &mut self.buf);
        if let Err(e) = self.write_frames() {
            panic!("{}", SinkError::from(e));
        }
        self.next_seq += 1;
    }

    /// The bytes a write may still take on the file system, where a test
    /// simulates a small one; `None`: as many as the file system takes.
    #[cfg(not(test))]
    fn room_on_disk(&self) -> Option<u64> {
        None
    }

    #[cfg(test)]
    fn room_on_disk(&self) -> Option<u64> {
        let ack = self.dir.len(ACK_FILE).unwrap_or(0);
        self.faults
            .disk
            .map(|d| d.saturating_sub(self.total_bytes).saturating_sub(ack))
    }

    /// Periodic upkeep: the interval `fsync`. Call it from a sink's `tick`.
    ///
    /// # Errors
    /// The `fsync` error.
    pub fn maintain(&mut self) -> Result<(), SinkError> {
        match self.cfg.fsync {
            SpoolFsync::Interval(d) if self.unsynced && self.last_sync.elapsed() >= d => self.sync(),
            _ => Ok(()),
        }
    }

    /// Reads up to `max_records` records (and about `max_bytes` of payload) from
    /// the head of the spool without removing them. `None` when nothing is
    /// waiting. Call [`Spool::ack`] once the batch is delivered; until then the
    /// next `peek` returns the same records.
    ///
    /// # Errors
    /// An I/O error reading a segment (a missing segment is not one: it is
    /// skipped and its records counted in [`SpoolBatch::damaged`]).
    pub fn peek(&mut self, max_records: usize, max_bytes: usize) -> Result<Option<SpoolBatch>, SinkError> {
        let mut cur = self.cursor;
        let mut records = Vec::new();
        let mut damaged = 0u64;
        let mut last_seq = self.acked;
        let mut bytes = 0usize;
        let mut spent = false;
        'segments: loop {
            let Some(idx) = self.segments.iter().position(|s| s.first_seq == cur.segment) else {
                // The cursor's segment is gone (delivered, or its file went
                // missing): move to the next one, if any. Records before it
                // that are in no segment are lost: counted exactly, from the
                // next segment's first sequence number (or the next one to
                // be appended).
                let next = self.segments.iter().find(|s| s.first_seq > cur.segment);
                let resume = next.map_or(self.next_seq, |s| s.first_seq);
                if resume > cur.expected {
                    damaged += resume - cur.expected;
                    cur.expected = resume;
                }
                match next {
                    Some(s) => {
                        cur.segment = s.first_seq;
                        cur.offset = SEGMENT_MAGIC.len();
                        continue;
                    }
                    None => break,
                }
            };
            let next_segment = self.segments.get(idx + 1).map(|s| s.first_seq);
            match self.load(idx) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // Deleted while the spool runs: skip it as at open; its
                    // records are counted on the next round of the loop.
                    self.forget_segment(idx);
                    continue;
                }
                Err(e) => {
                    let path = self.dir.shown(&self.segments[idx].name);
                    return Err(io_err("cannot read spool segment", &path, e));
                }
            }
            let data = self.cache.as_ref().map_or(&[][..], |(_, d)| d.as_slice());
            if self.resync.0 != cur.segment {
                let size = data
                    .len()
                    .max(usize::try_from(self.cfg.segment_bytes).unwrap_or(usize::MAX));
                self.resync = (cur.segment, Budget::for_segment(size));
            }
            while records.len() < max_records && bytes < max_bytes {
                match frame::parse(data, cur.offset, cur.segment) {
                    Parse::Frame(f) => {
                        cur.offset = f.end;
                        if f.seq < cur.expected {
                            continue; // already delivered
                        }
                        damaged += f.seq - cur.expected;
                        cur.expected = f.seq.saturating_add(1);
                        last_seq = f.seq;
                        match crate::record::parse_line(f.payload) {
                            Ok(r) => {
                                bytes += f.payload.len();
                                records.push(r);
                            }
                            Err(_) => damaged += 1,
                        }
                    }
                    // Damage (or a cut length) here: read on at the next valid frame,
                    // else at the next segment; at the end of the newest one, wait.
                    Parse::Invalid | Parse::Short => {
                        match frame::resync(data, cur.offset + 1, cur.segment, &mut self.resync.1) {
                            Some(at) => cur.offset = at,
                            None => match next_segment {
                                // Segments are read in increasing order, never twice.
                                Some(next) if next > cur.segment => {
                                    cur.segment = next;
                                    cur.offset = SEGMENT_MAGIC.len();
                                    continue 'segments;
                                }
                                _ => {
                                    // The rest of the newest segment counts as damaged
                                    // once the search spent its budget there: later
                                    // records go to a new segment, where it goes on.
                                    spent = self.resync.1.is_spent();
                                    break 'segments;
                                }
                            },
                        }
                    }
                }
            }
            break;
        }
        if spent && self.segments.back().is_some_and(|s| s.first_seq == cur.segment) {
            self.seal()?;
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
    fn load(&mut self, idx: usize) -> io::Result<&[u8]> {
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
            let mut f = self.dir.open_read(&seg.name)?;
            f.seek(SeekFrom::Start(data.len() as u64))?;
            // No segment the spool writes is larger; what lies beyond is not read.
            f.take(MAX_SEGMENT_FILE.saturating_sub(data.len() as u64))
                .read_to_end(&mut data)?;
            self.cache = Some((seg.first_seq, data));
        }
        Ok(self.cache.as_ref().map_or(&[][..], |(_, d)| d.as_slice()))
    }

    /// Drops segment `idx`, whose file is gone, from the spool's index. When
    /// it is the one appended to, the next append starts a new segment (a
    /// write to the open handle would go to the deleted file).
    fn forget_segment(&mut self, idx: usize) {
        let last = idx + 1 == self.segments.len();
        if let Some(seg) = self.segments.remove(idx) {
            self.total_bytes = self.total_bytes.saturating_sub(seg.bytes);
            if matches!(&self.cache, Some((first, _)) if *first == seg.first_seq) {
                self.cache = None;
            }
        }
        if last {
            self.writer = None;
        }
    }

    /// Marks `batch` delivered: persists the acknowledgement and deletes
    /// segments whose records are all delivered.
    ///
    /// When the acknowledgement cannot be written (a full disk), the
    /// delivered segments are deleted all the same, so the space comes back:
    /// the acknowledgement file, now stale, is removed first, and a later
    /// open starts at the oldest segment left, delivering its already
    /// delivered records again rather than taking deleted ones for lost.
    ///
    /// # Errors
    /// An I/O error writing the acknowledgement file or deleting a segment.
    /// The batch counts as acknowledged in this process either way.
    pub fn ack(&mut self, batch: &SpoolBatch) -> Result<(), SinkError> {
        self.cursor = batch.end;
        self.acked = self.acked.max(batch.last_seq).max(batch.end.expected.saturating_sub(1));
        let persisted = self.write_ack();
        let done = self.delivered_segments();
        if done == 0 {
            return persisted;
        }
        if persisted.is_err()
            && let Err(e) = self.dir.remove(ACK_FILE)
            && e.kind() != io::ErrorKind::NotFound
        {
            // The stale acknowledgement stays: so do the segments after it.
            return persisted;
        }
        for _ in 0..done {
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
                if let Err(e) = self.dir.remove(&seg.name)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    return Err(io_err(
                        "cannot delete delivered spool segment",
                        &self.dir.shown(&seg.name),
                        e,
                    ));
                }
            }
        }
        persisted
    }

    /// How many segments at the front hold only delivered records.
    fn delivered_segments(&self) -> usize {
        let all_acked = self.acked.saturating_add(1) >= self.next_seq;
        let before_cursor = self
            .segments
            .iter()
            .take_while(|s| s.first_seq < self.cursor.segment)
            .count();
        // The segment being appended to goes too once all of it is delivered.
        if all_acked && self.segments.len() == before_cursor + 1 {
            before_cursor + 1
        } else {
            before_cursor
        }
    }

    fn write_ack(&mut self) -> Result<(), SinkError> {
        let tmp = self.dir.shown(ACK_TMP);
        let dst = self.dir.shown(ACK_FILE);
        let text = format!("{}\n", self.acked);
        let room = self.room_on_disk();
        if self.limit.is_some_and(|l| text.len() as u64 > l) {
            self.limit = self.read_limit();
            if let Some(limit) = self.limit.filter(|l| text.len() as u64 > *l) {
                return Err(io_err("cannot write spool acknowledgement", &tmp, limit_error(limit)));
            }
        }
        #[cfg(test)]
        killed_past_test_limit(self.faults.limit, 0, text.len());
        let written = self.create_ack_tmp().and_then(|mut f| {
            put(&mut f, text.as_bytes(), 0, room)?;
            if self.cfg.fsync == SpoolFsync::Always {
                f.sync_data()?;
            }
            Ok(())
        });
        if let Err(e) = written {
            // What was written of it takes space a full disk lacks.
            let _ = self.dir.remove(ACK_TMP);
            return Err(io_err("cannot write spool acknowledgement", &tmp, e));
        }
        self.dir
            .rename(ACK_TMP, ACK_FILE)
            .map_err(|e| io_err("cannot write spool acknowledgement", &dst, e))?;
        Ok(())
    }

    /// Creates the acknowledgement's temporary file anew: whatever is left
    /// under its name (a file from a crashed run, a link) is removed, never
    /// opened or followed.
    fn create_ack_tmp(&self) -> io::Result<File> {
        match self.dir.create_new(ACK_TMP) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.dir.remove(ACK_TMP)?;
                self.dir.create_new(ACK_TMP)
            }
            other => other,
        }
    }
}

/// Writes all of `bytes` to `file`, whose write position is `at`. `room`,
/// when a test simulates a small file system: what fits is written, then
/// the write fails as on a full disk.
fn put(file: &mut File, bytes: &[u8], at: u64, room: Option<u64>) -> io::Result<()> {
    if let Some(room) = room
        && bytes.len() as u64 > room
    {
        let fits = usize::try_from(room).unwrap_or(usize::MAX).min(bytes.len());
        write_all_within_limit(file, &bytes[..fits], at)?;
        return Err(io::Error::from(io::ErrorKind::StorageFull));
    }
    write_all_within_limit(file, bytes, at)
}

/// `write_all`, except that a short write which leaves the file at the
/// file-size limit ends it with the limit's error: one more write there
/// would kill the process (`SIGXFSZ`). The spool checks the limit before
/// writing; this catches a limit lowered since it was read.
fn write_all_within_limit(file: &mut File, bytes: &[u8], at: u64) -> io::Result<()> {
    let mut off = 0;
    while off < bytes.len() {
        match file.write(&bytes[off..]) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                off += n;
                if off < bytes.len()
                    && let Some(limit) = file_size_limit()
                    && at.saturating_add(off as u64) >= limit
                {
                    return Err(limit_error(limit));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Fails the test when a write of `len` bytes at `at` would pass the
/// simulated file-size limit: the kernel would kill the process there.
#[cfg(test)]
fn killed_past_test_limit(limit: Option<u64>, at: u64, len: usize) {
    if let Some(limit) = limit {
        assert!(
            at + len as u64 <= limit,
            "a write of {len} bytes at {at} passes the file-size limit of {limit} bytes (SIGXFSZ)"
        );
    }
}

fn header_if_new(new: bool) -> u64 {
    if new { SEGMENT_MAGIC.len() as u64 } else { 0 }
}

/// The highest valid sequence number in a segment's bytes, and whether bytes
/// that hold no valid frame follow the last valid one.
fn scan(bytes: &[u8], first_seq: u64) -> (Option<u64>, bool) {
    let mut budget = Budget::for_segment(bytes.len());
    let mut at = if bytes.starts_with(SEGMENT_MAGIC) {
        SEGMENT_MAGIC.len()
    } else {
        0
    };
    let mut max = None;
    loop {
        match frame::parse(bytes, at, first_seq) {
            Parse::Frame(f) => {
                max = Some(max.map_or(f.seq, |m: u64| m.max(f.seq)));
                at = f.end;
            }
            Parse::Short | Parse::Invalid => match frame::resync(bytes, at + 1, first_seq, &mut budget) {
                Some(next) => at = next,
                None => return (max, at < bytes.len()),
            },
        }
    }
}

/// Whether the open file `f` has no name left in any directory.
#[cfg(unix)]
fn deleted(f: &File) -> bool {
    rustix::fs::fstat(f).is_ok_and(|st| st.st_nlink == 0)
}

#[cfg(not(unix))]
fn deleted(_f: &File) -> bool {
    false
}

/// The acknowledged sequence number in the `acked` file, if it holds one.
fn read_ack(dir: &SpoolDir) -> Option<u64> {
    let mut text = String::new();
    // The file holds one number: a longer one is damage.
    dir.open_read(ACK_FILE).ok()?.take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok().filter(|n| *n <= frame::MAX_SEQ)
}

/// The bytes of the file `name` in the spool directory.
fn read_all(dir: &SpoolDir, name: &str) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    dir.open_read(name)?.take(MAX_SEGMENT_FILE).read_to_end(&mut data)?;
    Ok(data)
}

/// The file name of the segment whose first record is `seq`.
fn segment_name(seq: u64) -> String {
    format!("{seq:020}{SEGMENT_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    use proptest::prelude::*;
    use time::OffsetDateTime;

    use super::*;
    use crate::sink::DropReason;

    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn tempdir() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!(
            "privlog-spool-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Relaxed)
        ));
        let _ = fs::remove_dir_all(&d);
        TempDir(d)
    }

    fn records(from: usize, n: usize) -> Vec<Record> {
        (from..from + n)
            .map(|i| Record::new(OffsetDateTime::UNIX_EPOCH, "GET", format!("/r/{i}")))
            .collect()
    }

    /// A spool with 1 KiB segments, so that one append spans several.
    fn small(dir: &Path) -> Spool {
        let cfg = SpoolConfig::new(dir).segment_bytes(1024).fsync(SpoolFsync::Never);
        match Spool::open(cfg) {
            Ok((spool, _)) => spool,
            Err(e) => panic!("open: {e}"),
        }
    }

    /// Reads and acknowledges everything: the records read, the damage, and
    /// the acknowledgements that failed.
    fn drain(spool: &mut Spool) -> (Vec<Record>, u64, usize) {
        let (mut out, mut damaged, mut failed_acks) = (Vec::new(), 0, 0);
        for _ in 0..100_000 {
            match spool.peek(16, 1 << 20) {
                Ok(Some(b)) => {
                    damaged += b.damaged;
                    if spool.ack(&b).is_err() {
                        failed_acks += 1;
                    }
                    out.extend(b.records);
                }
                Ok(None) => return (out, damaged, failed_acks),
                Err(e) => panic!("peek: {e}"),
            }
        }
        panic!("the spool never ran dry");
    }

    /// The bytes the segment files take on disk.
    fn segment_bytes_on_disk(dir: &Path) -> u64 {
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "spool"))
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .sum()
    }

    #[test]
    fn an_append_the_full_disk_cuts_short_reports_exactly_the_records_it_spooled() {
        let tmp = tempdir();
        let mut spool = small(&tmp.0);
        // Room for a few segments of the batch, not for all of it.
        spool.faults.disk = Some(3000);
        let batch = records(0, 100);
        let err = match spool.append(&batch) {
            Err(e) => e,
            Ok(n) => panic!("{n} records fit on a 3000-byte disk"),
        };
        let k = err.appended();
        assert!(k > 0 && k < 100, "{k} records appended");
        assert!(err.is_disk_full());
        assert_eq!(err.reason(), DropReason::SpoolFull);
        assert_eq!(spool.pending(), k as u64);
        assert_eq!(
            spool.bytes(),
            segment_bytes_on_disk(&tmp.0),
            "no part of a frame stays behind"
        );
        spool.faults.disk = None;
        let (read, damaged, _) = drain(&mut spool);
        assert_eq!(read, batch[..k], "the records reported appended, whole and in order");
        assert_eq!(damaged, 0);
    }

    #[test]
    fn a_write_cut_mid_frame_leaves_nothing_behind_and_the_next_append_follows_on() {
        let tmp = tempdir();
        let mut spool = small(&tmp.0);
        match spool.append(&records(0, 2)) {
            Ok(2) => {}
            other => panic!("{other:?}"),
        }
        // Room for half of the next frame.
        spool.faults.disk = Some(spool.bytes() + 20);
        match spool.append(&records(2, 1)) {
            Err(e) => assert_eq!(e.appended(), 0),
            Ok(n) => panic!("{n} appended on a full disk"),
        }
        assert_eq!(
            spool.bytes(),
            segment_bytes_on_disk(&tmp.0),
            "the half frame was taken back"
        );
        spool.faults.disk = None;
        match spool.append(&records(3, 2)) {
            Ok(2) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(
            spool.bytes(),
            segment_bytes_on_disk(&tmp.0),
            "no gap before the next frames"
        );
        drop(spool);
        let (mut spool, recovery) = match Spool::open(SpoolConfig::new(&tmp.0).fsync(SpoolFsync::Never)) {
            Ok(s) => s,
            Err(e) => panic!("reopen: {e}"),
        };
        assert_eq!((recovery.records, recovery.torn), (4, 0));
        let (read, damaged, _) = drain(&mut spool);
        let mut expected = records(0, 2);
        expected.extend(records(3, 2));
        assert_eq!(read, expected);
        assert_eq!(damaged, 0);
    }

    #[test]
    fn delivering_frees_a_full_disk_even_when_the_acknowledgement_cannot_be_written() {
        let tmp = tempdir();
        let mut spool = small(&tmp.0);
        spool.faults.disk = Some(8000);
        let mut appended = 0;
        let mut next = 0;
        // Fill the disk to the last byte the frames allow.
        loop {
            match spool.append(&records(next, 10)) {
                Ok(n) => appended += n,
                Err(e) => {
                    appended += e.appended();
                    break;
                }
            }
            next += 10;
        }
        let filled = records(0, next + 10);
        assert!(spool.bytes() > 7000, "the spool filled the disk: {}", spool.bytes());
        // The last bytes a frame could not use go to another file.
        spool.faults.disk = Some(spool.bytes());
        let (read, damaged, failed_acks) = drain(&mut spool);
        assert!(failed_acks > 0, "the full disk refused the acknowledgement file");
        assert_eq!(read, filled[..appended]);
        assert_eq!(damaged, 0);
        assert_eq!(spool.bytes(), 0, "the delivered segments were deleted");
        assert_eq!(segment_bytes_on_disk(&tmp.0), 0);
        // The space is back: the spool takes records again.
        match spool.append(&records(1000, 10)) {
            Ok(10) => {}
            other => panic!("{other:?}"),
        }
        drop(spool);
        // Nothing delivered is taken for lost, nothing waiting is forgotten.
        let (mut spool, recovery) = match Spool::open(SpoolConfig::new(&tmp.0).fsync(SpoolFsync::Never)) {
            Ok(s) => s,
            Err(e) => panic!("reopen: {e}"),
        };
        let (read, damaged, _) = drain(&mut spool);
        assert_eq!(damaged, 0);
        assert_eq!(recovery.records, read.len() as u64);
        assert_eq!(read, records(1000, 10));
    }

    #[test]
    fn records_written_before_a_failed_fsync_count_as_appended() {
        let tmp = tempdir();
        let cfg = SpoolConfig::new(&tmp.0).segment_bytes(1024).fsync(SpoolFsync::Always);
        let (mut spool, _) = match Spool::open(cfg) {
            Ok(s) => s,
            Err(e) => panic!("open: {e}"),
        };
        spool.faults.sync = true;
        let err = match spool.append(&records(0, 40)) {
            Err(e) => e,
            Ok(n) => panic!("{n} appended without an error from the failing fsync"),
        };
        assert!(err.appended() > 0, "{err}");
        assert!(!err.is_disk_full());
        assert_eq!(err.reason(), DropReason::SinkError);
        assert_eq!(spool.pending(), err.appended() as u64);
        spool.faults.sync = false;
        let (read, _, _) = drain(&mut spool);
        assert_eq!(read, records(0, err.appended()));
    }

    /// Record `i`, with `extra` more bytes in its path (up to 2 000 stay
    /// under the encoder's field cap).
    fn record_of(i: usize, extra: usize) -> Record {
        Record::new(
            OffsetDateTime::UNIX_EPOCH,
            "GET",
            format!("/r/{i}/{}", "x".repeat(extra)),
        )
    }

    /// The bytes of every file in the spool directory, by name.
    fn file_sizes(dir: &Path) -> Vec<(String, u64)> {
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, e.metadata().map_or(0, |m| m.len()))
            })
            .collect()
    }

    /// Appends `rs` as the HTTP sink does: after a record refused for the
    /// file-size limit, the ones after it. Returns the records spooled, how
    /// many the limit refused, and the error that ended the rest.
    fn append_past_refusals(spool: &mut Spool, rs: &[Record]) -> (Vec<Record>, usize, Option<AppendError>) {
        let (mut kept, mut refused) = (Vec::new(), 0);
        let mut rest = rs;
        while !rest.is_empty() {
            match spool.append(rest) {
                Ok(k) => {
                    kept.extend_from_slice(&rest[..k]);
                    break;
                }
                Err(e) if e.is_file_size_limit() => {
                    assert_eq!(e.reason(), DropReason::Other("file_size_limit"));
                    kept.extend_from_slice(&rest[..e.appended()]);
                    refused += 1;
                    rest = &rest[e.appended() + 1..];
                }
                Err(e) => {
                    kept.extend_from_slice(&rest[..e.appended()]);
                    return (kept, refused, Some(e));
                }
            }
        }
        (kept, refused, None)
    }

    #[test]
    fn a_record_that_would_take_the_segment_past_the_file_size_limit_starts_a_new_one() {
        let tmp = tempdir();
        let cfg = SpoolConfig::new(&tmp.0)
            .segment_bytes(64 << 10)
            .fsync(SpoolFsync::Never);
        let (mut spool, _) = Spool::open(cfg).unwrap_or_else(|e| panic!("open: {e}"));
        spool.simulate_limit(1000);
        let batch = records(0, 60);
        match spool.append(&batch) {
            Ok(60) => {}
            other => panic!("{other:?}"),
        }
        let sizes = file_sizes(&tmp.0);
        assert!(sizes.len() > 3, "new segments at the limit: {sizes:?}");
        assert!(sizes.iter().all(|(_, n)| *n <= 1000), "{sizes:?}");
        let (read, damaged, _) = drain(&mut spool);
        assert_eq!((read, damaged), (batch, 0));
    }

    #[test]
    fn a_record_too_long_for_an_empty_segment_under_the_file_size_limit_is_refused_alone() {
        let tmp = tempdir();
        let mut spool = small(&tmp.0);
        spool.simulate_limit(600);
        let mut batch = records(0, 10);
        batch[4] = record_of(4, 700);
        let err = match spool.append(&batch) {
            Err(e) => e,
            Ok(n) => panic!("{n} appended, the long record among them"),
        };
        assert_eq!(err.appended(), 4);
        assert!(err.is_file_size_limit() && !err.is_disk_full());
        assert_eq!(err.reason(), DropReason::Other("file_size_limit"));
        let msg = err.to_string();
        assert!(
            msg.contains("file-size limit of 600 bytes") && msg.contains("ulimit -f"),
            "names the limit and the fix: {msg}"
        );
        match spool.append(&batch[5..]) {
            Ok(5) => {}
            other => panic!("the records after it: {other:?}"),
        }
        let (read, damaged, _) = drain(&mut spool);
        let mut expected = batch;
        expected.remove(4);
        assert_eq!((read, damaged), (expected, 0));
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Append this many records.
        Append(usize),
        /// Read and acknowledge up to this many records.
        Deliver(usize),
        /// The disk now has this many bytes (`None`: no limit).
        Disk(Option<u64>),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1usize..60).prop_map(Op::Append),
            3 => (1usize..40).prop_map(Op::Deliver),
            2 => prop::option::of(0u64..12_000).prop_map(Op::Disk),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the disk does, every append reports exactly the records
        /// it spooled: they, and only they, are read back, whole, in order,
        /// once; and with room again, the spool takes every record.
        #[test]
        fn appends_on_a_filling_disk_account_for_every_record(ops in prop::collection::vec(op(), 1..40)) {
            let tmp = tempdir();
            let mut spool = small(&tmp.0);
            let mut waiting: VecDeque<Record> = VecDeque::new();
            let mut next = 0;
            for op in ops {
                match op {
                    Op::Append(n) => {
                        let rs = records(next, n);
                        next += n;
                        let k = match spool.append(&rs) {
                            Ok(k) => k,
                            Err(e) => {
                                prop_assert!(e.is_disk_full(), "{}", e);
                                e.appended()
                            }
                        };
                        waiting.extend(rs.into_iter().take(k));
                        prop_assert_eq!(spool.pending(), waiting.len() as u64);
                        prop_assert_eq!(spool.bytes(), segment_bytes_on_disk(&tmp.0));
                    }
                    Op::Deliver(n) => {
                        if let Some(b) = spool.peek(n, 1 << 20).map_err(|e| TestCaseError::fail(e.to_string()))? {
                            prop_assert_eq!(b.damaged, 0);
                            for r in &b.records {
                                prop_assert_eq!(Some(r), waiting.front());
                                waiting.pop_front();
                            }
                            let _ = spool.ack(&b);
                        }
                    }
                    Op::Disk(d) => spool.faults.disk = d,
                }
            }
            spool.faults.disk = None;
            let rs = records(next, 30);
            prop_assert_eq!(spool.append(&rs).ok(), Some(30), "room again: every record taken");
            waiting.extend(rs);
            let (read, damaged, _) = drain(&mut spool);
            prop_assert_eq!(damaged, 0);
            prop_assert_eq!(read, Vec::from(waiting));
        }

        /// Under any file-size limit, with records of any length and a disk
        /// that fills up: no write passes the limit (the simulated kernel
        /// would fail the test), no file in the spool is larger than it, a
        /// record is refused for the limit only when it is too long for an
        /// empty segment, and every record spooled is read back, in order,
        /// once, after the spool is opened again.
        #[test]
        fn appends_under_a_file_size_limit_keep_every_file_within_it(
            limit in 0u64..3000,
            batches in prop::collection::vec(prop::collection::vec(0usize..2000, 1..30), 1..12),
            deliver_every in 1usize..4,
            disk in prop::option::of(2000u64..20_000),
        ) {
            let tmp = tempdir();
            let mut spool = small(&tmp.0);
            spool.simulate_limit(limit);
            spool.faults.disk = disk;
            let mut waiting: VecDeque<Record> = VecDeque::new();
            let mut next = 0;
            // A full disk may refuse the acknowledgement file: then delivered
            // records are read again after the restart (at least once).
            let mut acks_failed = false;
            for (b, extras) in batches.iter().enumerate() {
                let rs: Vec<Record> = extras.iter().enumerate().map(|(i, x)| record_of(next + i, *x)).collect();
                next += rs.len();
                let (kept, refused, error) = append_past_refusals(&mut spool, &rs);
                if let Some(e) = &error {
                    prop_assert!(e.is_disk_full(), "{}", e);
                }
                let too_long = rs
                    .iter()
                    .filter(|r| {
                        let mut line = Vec::new();
                        write_ndjson(r, &mut line);
                        (SEGMENT_MAGIC.len() + frame::HEADER_LEN + line.len() - 1) as u64 > limit
                    })
                    .count();
                if error.is_none() {
                    // Exactly the records too long for an empty segment are
                    // refused (the spool cap is never reached here).
                    prop_assert_eq!(refused, too_long);
                    prop_assert_eq!(kept.len() + refused, rs.len());
                } else {
                    prop_assert!(refused <= too_long);
                }
                waiting.extend(kept);
                prop_assert_eq!(spool.pending(), waiting.len() as u64);
                for (name, len) in file_sizes(&tmp.0) {
                    prop_assert!(len <= limit, "{} holds {} bytes, past the limit of {}", name, len, limit);
                }
                if b % deliver_every == 0
                    && let Some(batch) = spool.peek(10, 1 << 20).map_err(|e| TestCaseError::fail(e.to_string()))?
                {
                    for r in &batch.records {
                        prop_assert_eq!(Some(r), waiting.front());
                        waiting.pop_front();
                    }
                    acks_failed |= spool.ack(&batch).is_err();
                }
            }
            drop(spool);
            let (mut spool, recovery) = Spool::open(SpoolConfig::new(&tmp.0).segment_bytes(1024).fsync(SpoolFsync::Never))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(recovery.torn, 0);
            let (read, damaged, _) = drain(&mut spool);
            prop_assert_eq!(damaged, 0);
            let waiting = Vec::from(waiting);
            if acks_failed {
                prop_assert!(read.ends_with(&waiting), "every waiting record, after those delivered again");
            } else {
                prop_assert_eq!(read, waiting);
            }
        }
    }
}
