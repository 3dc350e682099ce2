use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::Thread;

use super::WallClock;
use super::stats::Counters;
use crate::record::raw::RawRecord;

/// The request path's end of the pipeline: `submit` never blocks and never
/// makes a system call while the queue has room.
#[derive(Debug)]
pub(crate) struct Handoff {
    tx: SyncSender<RawRecord>,
    counters: Arc<Counters>,
    worker: Thread,
    /// Wall-clock time of request start instants, kept current by the worker.
    pub(crate) clock: Arc<WallClock>,
}

impl Handoff {
    pub(crate) fn new(
        tx: SyncSender<RawRecord>,
        counters: Arc<Counters>,
        worker: Thread,
        clock: Arc<WallClock>,
    ) -> Self {
        Handoff {
            tx,
            counters,
            worker,
            clock,
        }
    }

    pub(crate) fn submit(&self, raw: RawRecord) {
        self.counters.created.fetch_add(1, Relaxed);
        if self.counters.closed.load(Relaxed) {
            self.counters.dropped_closed.fetch_add(1, Relaxed);
            return;
        }
        match self.tx.try_send(raw) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.counters.dropped_queue_full.fetch_add(1, Relaxed);
                // The worker is behind: wake it now rather than at its next tick.
                self.worker.unpark();
            }
            Err(TrySendError::Disconnected(_)) => {
                self.counters.dropped_closed.fetch_add(1, Relaxed);
            }
        }
    }
}
