//! Batches of records the worker fills and the sink threads read, recycled
//! so that records keep their string buffers from one batch to the next.

use std::collections::VecDeque;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::Record;

/// Records handed to the sinks together. Sinks see `len` records; the rest
/// are kept from earlier use, for their buffers.
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    records: Vec<Record>,
    len: usize,
}

impl Batch {
    fn with_capacity(n: usize) -> Self {
        Batch {
            records: Vec::with_capacity(n),
            len: 0,
        }
    }

    /// The batch's records.
    pub(crate) fn records(&self) -> &[Record] {
        self.records.get(..self.len).unwrap_or_default()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The next record to fill: an old one with its buffers, or a new one.
    /// It counts as part of the batch from now on.
    pub(crate) fn next_slot(&mut self) -> &mut Record {
        if self.len == self.records.len() {
            self.records
                .push(Record::new(OffsetDateTime::UNIX_EPOCH, String::new(), String::new()));
        }
        self.len += 1;
        let i = self.len - 1;
        &mut self.records[i]
    }

    /// Takes the records after the first `len` out of the batch again
    /// (their buffers stay for the next ones).
    pub(crate) fn unfill_to(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// The worker's batches: the one being filled and those handed to the sinks,
/// which come back for reuse once every sink has let go of them.
#[derive(Debug)]
pub(crate) struct Batches {
    filling: Arc<Batch>,
    sent: VecDeque<Arc<Batch>>,
    batch_size: usize,
    /// The most batches kept for reuse; beyond it the oldest is left to the
    /// sinks to free.
    keep: usize,
}

impl Batches {
    pub(crate) fn new(batch_size: usize, keep: usize) -> Self {
        Batches {
            filling: Arc::new(Batch::with_capacity(batch_size)),
            sent: VecDeque::new(),
            batch_size,
            keep: keep.max(1),
        }
    }

    /// The batch being filled.
    pub(crate) fn filling(&mut self) -> &mut Batch {
        if Arc::get_mut(&mut self.filling).is_none() {
            self.filling = Arc::new(Batch::with_capacity(self.batch_size));
        }
        // Unique now, so this never clones.
        Arc::make_mut(&mut self.filling)
    }

    pub(crate) fn filled(&self) -> usize {
        self.filling.len()
    }

    /// Takes the filled batch to hand to the sinks; a free one (the oldest
    /// the sinks are done with, or a new one) takes its place.
    pub(crate) fn take(&mut self) -> Arc<Batch> {
        let free = self.sent.front_mut().is_some_and(|b| Arc::get_mut(b).is_some());
        let mut next = free
            .then(|| self.sent.pop_front())
            .flatten()
            .unwrap_or_else(|| Arc::new(Batch::with_capacity(self.batch_size)));
        if let Some(b) = Arc::get_mut(&mut next) {
            b.clear();
        }
        let full = std::mem::replace(&mut self.filling, next);
        self.sent.push_back(full.clone());
        if self.sent.len() > self.keep {
            self.sent.pop_front();
        }
        full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(b: &mut Batches, path: &str) {
        let r = b.filling().next_slot();
        r.path.clear();
        r.path.push_str(path);
    }

    #[test]
    fn a_batch_comes_back_with_its_buffers_once_the_sinks_let_go() {
        let mut b = Batches::new(4, 8);
        fill(&mut b, "/a/long/path/to/keep/the/buffer");
        let sent = b.take();
        assert_eq!(sent.records().len(), 1);
        let ptr = sent.records()[0].path.as_ptr();
        drop(sent);
        // The next take reuses the batch the sinks dropped.
        fill(&mut b, "/x");
        let second = b.take();
        assert_eq!(second.records()[0].path, "/x");
        fill(&mut b, "/y");
        assert_eq!(b.filled(), 1);
        assert_eq!(b.filling().records()[0].path, "/y");
        assert_eq!(
            b.filling().records()[0].path.as_ptr(),
            ptr,
            "the record's buffer was reused"
        );
    }

    #[test]
    fn a_batch_a_sink_still_holds_is_not_reused() {
        let mut b = Batches::new(4, 8);
        fill(&mut b, "/held");
        let held = b.take();
        fill(&mut b, "/next");
        let _second = b.take();
        assert_eq!(held.records()[0].path, "/held", "a held batch is never written to");
        assert_eq!(b.filled(), 0);
    }

    #[test]
    fn at_most_keep_batches_are_kept() {
        let mut b = Batches::new(4, 2);
        let mut held = Vec::new();
        for i in 0..5 {
            fill(&mut b, &format!("/{i}"));
            held.push(b.take());
        }
        assert_eq!(b.sent.len(), 2);
        assert_eq!(held[0].records()[0].path, "/0");
    }
}
