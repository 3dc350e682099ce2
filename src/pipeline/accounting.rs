use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::sink::{Ledger, SinkStats};

/// Keeps a value on its own cache line, so the worker's writes don't slow
/// down request threads that touch a neighbouring counter.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct OwnLine<T>(pub(crate) T);

#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Records made by the request path.
    pub(crate) created: AtomicU64,
    /// Records refused by the full hand-off queue.
    pub(crate) dropped_queue_full: AtomicU64,
    /// Records refused because the pipeline had shut down.
    pub(crate) dropped_closed: AtomicU64,
    /// Records the worker could not make (it panicked on them).
    pub(crate) dropped_sanitize_error: AtomicU64,
    /// Records sanitized and offered to every sink.
    pub(crate) dispatched: OwnLine<AtomicU64>,
    /// Dispatched records written without their account because it is on
    /// the suppression list.
    pub(crate) suppressed: AtomicU64,
    /// Records a skip rule left out.
    pub(crate) skipped: AtomicU64,
    /// Records sampling left out (offered only to the sinks that count every request).
    pub(crate) sampled_out: AtomicU64,
    /// Set once the worker has stopped taking records.
    pub(crate) closed: std::sync::atomic::AtomicBool,
}

/// Reads the pipeline's accounting at run time. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StatsHandle {
    pub(crate) counters: Arc<Counters>,
    pub(crate) sinks: Arc<Vec<Ledger>>,
    /// Per sink, whether it gets the sampled-out records too.
    pub(crate) every: Arc<Vec<bool>>,
}

impl StatsHandle {
    /// A snapshot of every counter.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        // Read the later stages first so a concurrent record cannot be seen
        // in two places at once.
        let sinks: Vec<SinkStats> = self.sinks.iter().map(Ledger::stats).collect();
        let suppressed = c.suppressed.load(Relaxed);
        let dispatched = c.dispatched.0.load(Relaxed);
        let sampled_out = c.sampled_out.load(Relaxed);
        let skipped = c.skipped.load(Relaxed);
        let dropped_sanitize_error = c.dropped_sanitize_error.load(Relaxed);
        let dropped_queue_full = c.dropped_queue_full.load(Relaxed);
        let dropped_shutdown = c.dropped_closed.load(Relaxed);
        let created = c.created.load(Relaxed);
        Stats {
            created,
            queued: created.saturating_sub(
                dispatched + skipped + sampled_out + dropped_queue_full + dropped_shutdown + dropped_sanitize_error,
            ),
            dropped_queue_full,
            dropped_shutdown,
            dropped_sanitize_error,
            dispatched,
            suppressed,
            skipped,
            sampled_out,
            sinks,
            every: self.every.to_vec(),
        }
    }
}

/// A snapshot of the pipeline's accounting.
///
/// `created = queued + dropped_queue_full + dropped_shutdown +
/// dropped_sanitize_error + dispatched + skipped + sampled_out`, and
/// every dispatched record was offered to every sink, whose own accounting is
/// in [`Stats::sinks`]; a sink that counts every request (the usage
/// statistics sink) was offered the sampled-out records too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records made by the request path (one per request).
    pub created: u64,
    /// Records in the hand-off queue or being sanitized.
    pub queued: u64,
    /// Records dropped because the hand-off queue was full.
    pub dropped_queue_full: u64,
    /// Records dropped because the pipeline had shut down.
    pub dropped_shutdown: u64,
    /// Records dropped because the worker could not make them: it panicked
    /// while sanitizing the request (a fault in privlog, reported as an
    /// error), and went on with the next one.
    pub dropped_sanitize_error: u64,
    /// Records sanitized and offered to every sink.
    pub dispatched: u64,
    /// Of the dispatched records, those written without `account` and
    /// `account_src` because the account is on the suppression list (a
    /// part of `dispatched`, not a separate fate: the totals are unchanged).
    pub suppressed: u64,
    /// Requests a skip rule left without a record (no sink got one).
    pub skipped: u64,
    /// Records sampling left out: no sink got them but those that count
    /// every request ([`Sink::sees_sampled_out`](crate::sink::Sink::sees_sampled_out)).
    pub sampled_out: u64,
    /// Per-sink accounting.
    pub sinks: Vec<SinkStats>,
    /// Per sink, whether it was offered the sampled-out records too.
    every: Vec<bool>,
}

impl Stats {
    /// Whether every record is accounted for: in the pipeline and in every sink.
    ///
    /// Exact after shutdown and whenever no record is moving; under load a
    /// snapshot can be off by the records in flight between two counters
    /// (see [`SinkStats::is_balanced`](crate::sink::SinkStats::is_balanced)).
    pub fn is_balanced(&self) -> bool {
        self.created
            == self.queued
                + self.dropped_queue_full
                + self.dropped_shutdown
                + self.dropped_sanitize_error
                + self.dispatched
                + self.skipped
                + self.sampled_out
            && self.sinks.iter().enumerate().all(|(i, s)| {
                let offered = if self.every.get(i).copied().unwrap_or(false) {
                    self.dispatched + self.sampled_out
                } else {
                    self.dispatched
                };
                s.is_balanced() && s.received == offered
            })
    }

    /// Records delivered by every sink (the smallest delivered count).
    pub fn delivered_everywhere(&self) -> u64 {
        self.sinks.iter().map(|s| s.delivered).min().unwrap_or(0)
    }
}
