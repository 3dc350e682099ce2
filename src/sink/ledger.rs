use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Why records were dropped. Every drop is counted with its reason; none is silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// The hand-off queue from the request path was full.
    QueueFull,
    /// This sink's own queue was full (the sink is slower than traffic).
    SinkQueueFull,
    /// The sink's `write` failed.
    SinkError,
    /// The on-disk spool could not take more: its size cap was reached or its disk is full.
    SpoolFull,
    /// The destination rejected the batch as invalid (written to the dead-letter
    /// file when one is configured; those the file-size limit kept out of it
    /// count as `file_size_limit`).
    Rejected,
    /// Damaged records found while recovering a spool or reading a file.
    Corrupt,
    /// Still queued when the shutdown deadline passed.
    Shutdown,
    /// A sink-specific reason.
    Other(&'static str),
}

impl DropReason {
    /// The snake_case name used in statistics and warnings.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::SinkQueueFull => "sink_queue_full",
            DropReason::SinkError => "sink_error",
            DropReason::SpoolFull => "spool_full",
            DropReason::Rejected => "rejected",
            DropReason::Corrupt => "corrupt",
            DropReason::Shutdown => "shutdown",
            DropReason::Other(s) => s,
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who counts a sink's deliveries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accounting {
    /// The pipeline: `Ok` from `write` means delivered, `Err` means dropped.
    Pipeline,
    /// The sink reports every record it accepted through its [`Ledger`]:
    /// delivered, held (buffered or spooled) or dropped with a reason.
    Sink,
}

/// Where a sink holds records it has accepted but not yet delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// In memory (a batch waiting for its linger time or a retry).
    Buffered,
    /// In the durable on-disk spool.
    Spooled,
}

#[derive(Debug, Default)]
struct SinkCounters {
    name: String,
    received: AtomicU64,
    recovered: AtomicU64,
    queued: AtomicU64,
    buffered: AtomicU64,
    spooled: AtomicU64,
    delivered: AtomicU64,
    dropped: Mutex<BTreeMap<&'static str, u64>>,
}

/// A sink's record accounting, shared with the pipeline and readable at run time.
///
/// For every sink: `received + recovered = delivered + queued + buffered +
/// spooled + Σ dropped`.
///
/// The counters change only through the methods below: the pipeline counts
/// records into and out of the sink's queue, the sink (with
/// [`Accounting::Sink`]) or the pipeline counts their fate.
#[derive(Clone, Debug)]
pub struct Ledger {
    inner: Arc<SinkCounters>,
}

impl Ledger {
    pub(crate) fn new(name: &str) -> Self {
        Ledger {
            inner: Arc::new(SinkCounters {
                name: name.to_owned(),
                ..SinkCounters::default()
            }),
        }
    }

    /// A ledger not attached to any pipeline, for testing a sink on its own.
    pub fn detached(name: &str) -> Self {
        Self::new(name)
    }

    /// `n` records reached their destination.
    pub fn delivered(&self, n: u64) {
        self.inner.delivered.fetch_add(n, Relaxed);
    }

    /// `n` accepted records are now held.
    pub fn hold(&self, held: Held, n: u64) {
        self.slot(held).fetch_add(n, Relaxed);
    }

    /// `n` held records were delivered.
    pub fn deliver_held(&self, held: Held, n: u64) {
        self.delivered(n);
        sub(self.slot(held), n);
    }

    /// `n` held records moved from one place to another (memory to spool).
    pub fn move_held(&self, from: Held, to: Held, n: u64) {
        self.hold(to, n);
        sub(self.slot(from), n);
    }

    /// `n` held records were dropped.
    pub fn drop_held(&self, held: Held, reason: DropReason, n: u64) {
        self.dropped(reason, n);
        sub(self.slot(held), n);
    }

    /// `n` records found in the spool at start-up (written by an earlier run);
    /// they count as spooled.
    pub fn recovered(&self, n: u64) {
        self.inner.recovered.fetch_add(n, Relaxed);
        self.inner.spooled.fetch_add(n, Relaxed);
    }

    /// `n` accepted records were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason, n: u64) {
        if n == 0 {
            return;
        }
        let mut map = self
            .inner
            .dropped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry(reason.as_str()).or_insert(0) += n;
    }

    /// `n` records the pipeline offered to the sink entered its queue: they
    /// count as received and queued.
    pub(crate) fn enqueued(&self, n: u64) {
        self.inner.received.fetch_add(n, Relaxed);
        self.inner.queued.fetch_add(n, Relaxed);
    }

    /// `n` records left the sink's queue; the caller counts their fate
    /// (delivered, held or dropped) with the other methods.
    pub(crate) fn dequeued(&self, n: u64) {
        sub(&self.inner.queued, n);
    }

    fn slot(&self, held: Held) -> &AtomicU64 {
        match held {
            Held::Buffered => &self.inner.buffered,
            Held::Spooled => &self.inner.spooled,
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SinkStats {
        let c = &self.inner;
        let dropped = c
            .dropped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        SinkStats {
            name: c.name.clone(),
            received: c.received.load(Relaxed),
            recovered: c.recovered.load(Relaxed),
            queued: c.queued.load(Relaxed),
            buffered: c.buffered.load(Relaxed),
            spooled: c.spooled.load(Relaxed),
            delivered: c.delivered.load(Relaxed),
            dropped,
        }
    }
}

fn sub(a: &AtomicU64, n: u64) {
    // Saturating, so a sink's accounting mistake cannot wrap a gauge around.
    let _ = a.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(n)));
}

/// A snapshot of one sink's accounting.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Records offered to this sink by the pipeline.
    pub received: u64,
    /// Records found in the sink's spool at start-up.
    pub recovered: u64,
    /// Records in the sink's queue, not yet written.
    pub queued: u64,
    /// Records the sink holds in memory.
    pub buffered: u64,
    /// Records in the sink's on-disk spool.
    pub spooled: u64,
    /// Records delivered.
    pub delivered: u64,
    /// Records dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
}

impl SinkStats {
    /// All dropped records.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Records dropped for one reason.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped.get(reason.as_str()).copied().unwrap_or(0)
    }

    /// Whether `received + recovered = delivered + queued + buffered + spooled + Σ dropped`.
    ///
    /// Exact for the statistics after shutdown and whenever no record is
    /// moving. A snapshot taken under load reads the counters one by one and
    /// can be off by the records moving between two of them at that instant;
    /// only a difference that stays while traffic is quiet means a record
    /// went unaccounted.
    pub fn is_balanced(&self) -> bool {
        self.received + self.recovered
            == self.delivered + self.queued + self.buffered + self.spooled + self.dropped_total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One step of a record's way through a sink, as the pipeline and a sink
    /// with its own accounting take it; each picks how many of the records
    /// that can make the step make it.
    #[derive(Clone, Debug)]
    enum Step {
        Enqueue(u64),
        Recover(u64),
        DeliverQueued(u64),
        DropQueued(u64),
        Buffer(u64),
        Spool(u64),
        SpillBuffered(u64),
        DeliverHeld(bool, u64),
        DropHeld(bool, u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u64..1000).prop_map(Step::Enqueue),
            (0u64..100).prop_map(Step::Recover),
            (0u64..1000).prop_map(Step::DeliverQueued),
            (0u64..1000).prop_map(Step::DropQueued),
            (0u64..1000).prop_map(Step::Buffer),
            (0u64..1000).prop_map(Step::Spool),
            (0u64..1000).prop_map(Step::SpillBuffered),
            (any::<bool>(), 0u64..1000).prop_map(|(b, n)| Step::DeliverHeld(b, n)),
            (any::<bool>(), 0u64..1000).prop_map(|(b, n)| Step::DropHeld(b, n)),
        ]
    }

    proptest! {
        /// received + recovered = delivered + queued + buffered + spooled +
        /// Σ dropped after every step, and each gauge reads what the steps
        /// left in it.
        #[test]
        fn every_step_keeps_the_accounting_identity(steps in proptest::collection::vec(step(), 0..60)) {
            let l = Ledger::detached("t");
            let (mut queued, mut buffered, mut spooled) = (0u64, 0u64, 0u64);
            for s in steps {
                match s {
                    Step::Enqueue(n) => {
                        l.enqueued(n);
                        queued += n;
                    }
                    Step::Recover(n) => {
                        l.recovered(n);
                        spooled += n;
                    }
                    Step::DeliverQueued(n) => {
                        let n = n.min(queued);
                        l.dequeued(n);
                        l.delivered(n);
                        queued -= n;
                    }
                    Step::DropQueued(n) => {
                        let n = n.min(queued);
                        l.dequeued(n);
                        l.dropped(DropReason::SinkQueueFull, n);
                        queued -= n;
                    }
                    Step::Buffer(n) | Step::Spool(n) => {
                        let n = n.min(queued);
                        let held = if matches!(s, Step::Buffer(_)) { Held::Buffered } else { Held::Spooled };
                        l.dequeued(n);
                        l.hold(held, n);
                        queued -= n;
                        *(if held == Held::Buffered { &mut buffered } else { &mut spooled }) += n;
                    }
                    Step::SpillBuffered(n) => {
                        let n = n.min(buffered);
                        l.move_held(Held::Buffered, Held::Spooled, n);
                        buffered -= n;
                        spooled += n;
                    }
                    Step::DeliverHeld(from_spool, n) | Step::DropHeld(from_spool, n) => {
                        let (held, left) = if from_spool {
                            (Held::Spooled, &mut spooled)
                        } else {
                            (Held::Buffered, &mut buffered)
                        };
                        let n = n.min(*left);
                        if matches!(s, Step::DeliverHeld(..)) {
                            l.deliver_held(held, n);
                        } else {
                            l.drop_held(held, DropReason::Rejected, n);
                        }
                        *left -= n;
                    }
                }
                let st = l.stats();
                prop_assert!(st.is_balanced(), "{st:?}");
                prop_assert_eq!((st.queued, st.buffered, st.spooled), (queued, buffered, spooled));
            }
        }
    }

    #[test]
    fn taking_more_off_the_queue_than_it_holds_stops_at_zero() {
        let l = Ledger::detached("t");
        l.enqueued(3);
        l.dequeued(5);
        let st = l.stats();
        assert_eq!((st.received, st.queued), (3, 0));
    }
}
