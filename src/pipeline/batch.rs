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
    /// `records[..kept]` go to every sink; `records[kept..len]` were sampled
    /// out and go only to the sinks that count every request.
    kept: usize,
}

impl Batch {
    fn with_capacity(n: usize) -> Self {
        Batch {
            records: Vec::with_capacity(n),
            len: 0,
            kept: 0,
        }
    }

    /// The batch's records.
    /// The kept records: what every sink gets.
    pub(crate) fn records(&self) -> &[Record] {
        self.records.get(..self.kept).unwrap_or_default()
    }

    /// The kept records and then the sampled-out ones: what a sink that
    /// counts every request gets.
    pub(crate) fn all(&self) -> &[Record] {
        self.records.get(..self.len).unwrap_or_default()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The next record to fill: an old one with its buffers, or a new one.
    /// A slot for the next record, counted as kept until
    /// [`Batch::sample_out_last`] or [`Batch::unfill_last`] says otherwise.
    pub(crate) fn next_slot(&mut self) -> &mut Record {
        if self.len == self.records.len() {
            self.records
                .push(Record::new(OffsetDateTime::UNIX_EPOCH, String::new(), String::new()));
        }
        // The new slot joins the kept ones; the first sampled-out record
        // (if any) moves to the end.
        self.records.swap(self.kept, self.len);
        self.len += 1;
        self.kept += 1;
        let i = self.kept - 1;
        &mut self.records[i]
    }

    /// The record of the last [`Batch::next_slot`], if any.
    pub(crate) fn last_mut(&mut self) -> Option<&mut Record> {
        let i = self.kept.checked_sub(1)?;
        self.records.get_mut(i)
    }

    /// The record of the last [`Batch::next_slot`] goes only to the sinks
    /// that count every request.
    pub(crate) fn sample_out_last(&mut self) {
        self.kept = self.kept.saturating_sub(1);
    }

    /// Forgets the record of the last [`Batch::next_slot`] (its buffers stay
    /// for reuse).
    pub(crate) fn unfill_last(&mut self) {
        if self.kept == 0 {
            return;
        }
        self.kept -= 1;
        self.len -= 1;
        self.records.swap(self.kept, self.len);
    }

    fn clear(&mut self) {
        self.len = 0;
        self.kept = 0;
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
    fn sampled_out_records_go_after_the_kept_ones_and_forgotten_ones_nowhere() {
        let mut b = Batches::new(8, 2);
        for (path, what) in [
            ("/k1", 'k'),
            ("/s1", 's'),
            ("/k2", 'k'),
            ("/x", 'x'),
            ("/s2", 's'),
            ("/k3", 'k'),
        ] {
            fill(&mut b, path);
            match what {
                's' => b.filling().sample_out_last(),
                'x' => b.filling().unfill_last(),
                _ => {}
            }
        }
        let sent = b.take();
        let paths = |rs: &[Record]| rs.iter().map(|r| r.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(sent.records()), ["/k1", "/k2", "/k3"]);
        let mut all = paths(sent.all());
        all[3..].sort();
        assert_eq!(all, ["/k1", "/k2", "/k3", "/s1", "/s2"]);
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
