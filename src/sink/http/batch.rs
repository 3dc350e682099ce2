//! Collecting records into batches by count, bytes and linger time.

use std::time::{Duration, Instant};

use crate::Record;
use crate::limits::{DurationLimit, Limit, OutOfRange};

/// `batch_max_records`.
pub(crate) const MAX_RECORDS: Limit = Limit::count("batch_max_records", 1, 65_536);
/// `batch_max_bytes`: a batch's body is built in memory.
pub(crate) const MAX_BYTES: Limit = Limit::bytes("batch_max_bytes", 1, 64 << 20);
/// `batch_linger`.
pub(crate) const LINGER: DurationLimit = DurationLimit::new("batch_linger", Duration::ZERO, Duration::from_secs(3600));

/// When a batch is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    pub(crate) max_records: usize,
    pub(crate) max_bytes: usize,
    pub(crate) linger: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_records: 1000,
            max_bytes: 1024 * 1024,
            linger: Duration::from_secs(1),
        }
    }
}

impl BatchConfig {
    /// The defaults: 1000 records, 1 MiB, 1 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch is sent once it holds this many records. Defaults to 1000; at
    /// most 65 536.
    pub fn max_records(mut self, n: usize) -> Self {
        self.max_records = n;
        self
    }

    /// A batch is sent once its records' estimated encoded size (before
    /// compression) reaches this many bytes. Defaults to 1 MiB; at most 64 MiB.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// A batch that is not full is sent this long after its first record
    /// arrived. Defaults to 1 s; at most 1 h.
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }

    /// Checks every setting against its range.
    pub(crate) fn validate(&self) -> Result<(), OutOfRange> {
        MAX_RECORDS.check_usize(self.max_records)?;
        MAX_BYTES.check_usize(self.max_bytes)?;
        LINGER.check(self.linger)?;
        Ok(())
    }
}

/// The batch being filled.
#[derive(Debug)]
pub(crate) struct Batcher {
    cfg: BatchConfig,
    records: Vec<Record>,
    bytes: usize,
    opened: Option<Instant>,
}

impl Batcher {
    pub(crate) fn new(cfg: BatchConfig) -> Self {
        Batcher {
            cfg,
            records: Vec::new(),
            bytes: 0,
            opened: None,
        }
    }

    /// Adds a record; returns the batch when it became full.
    pub(crate) fn push(&mut self, r: Record, now: Instant) -> Option<Vec<Record>> {
        self.opened.get_or_insert(now);
        self.bytes += estimated_size(&r);
        self.records.push(r);
        if self.records.len() >= self.cfg.max_records || self.bytes >= self.cfg.max_bytes {
            return Some(self.take());
        }
        None
    }

    /// The batch, when its linger time is over.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<Vec<Record>> {
        match self.opened {
            Some(t) if now.duration_since(t) >= self.cfg.linger => Some(self.take()),
            _ => None,
        }
    }

    /// The batch, whatever its state (empty when nothing was added).
    pub(crate) fn take(&mut self) -> Vec<Record> {
        self.bytes = 0;
        self.opened = None;
        std::mem::take(&mut self.records)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }
}

/// A cheap upper estimate of a record's NDJSON size.
pub(crate) fn estimated_size(r: &Record) -> usize {
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    276 + r.method.len()
        + r.path.len()
        + r.proto.len()
        + r.epoch.len()
        + r.kid.len()
        + opt(&r.client)
        + opt(&r.route)
        + opt(&r.query)
        + opt(&r.account)
        + r.account_src.map_or(0, |s| s.as_str().len())
        + opt(&r.tenant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn rec() -> Record {
        Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/x")
    }

    #[test]
    fn a_batch_is_full_at_max_records() {
        let mut b = Batcher::new(BatchConfig::new().max_records(3));
        let now = Instant::now();
        assert!(b.push(rec(), now).is_none());
        assert!(b.push(rec(), now).is_none());
        assert_eq!(b.push(rec(), now).map(|v| v.len()), Some(3));
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn a_batch_is_full_at_max_bytes() {
        let mut b = Batcher::new(BatchConfig::new().max_bytes(estimated_size(&rec()) * 2));
        let now = Instant::now();
        assert!(b.push(rec(), now).is_none());
        assert_eq!(b.push(rec(), now).map(|v| v.len()), Some(2));
    }

    #[test]
    fn a_batch_is_due_after_its_linger_time() {
        let mut b = Batcher::new(BatchConfig::new().linger(Duration::from_secs(1)));
        let t0 = Instant::now();
        assert!(b.push(rec(), t0).is_none());
        assert!(b.take_due(t0 + Duration::from_millis(999)).is_none());
        assert_eq!(b.take_due(t0 + Duration::from_secs(1)).map(|v| v.len()), Some(1));
        assert!(b.take_due(t0 + Duration::from_secs(5)).is_none());
    }
}
