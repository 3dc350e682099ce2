//! The request path's end of the pipeline: the bounded hand-off queue.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::Thread;

use super::accounting::Counters;
use crate::capture::{BoxPool, Capture, CaptureBox, RequestClock, TEXT_CAPACITY};

/// The request path's end of the pipeline: `submit` never blocks and never
/// makes a system call while the queue has room.
///
/// Captures travel in boxes that the worker hands back through a pool once it
/// has read them, so in steady state the request path allocates nothing: it
/// takes a box from the pool, fills it, and queues the pointer. Only when the
/// pool is empty (the worker is far behind) is a new box allocated.
#[derive(Debug)]
pub(crate) struct Handoff {
    tx: SyncSender<CaptureBox>,
    pool: Arc<BoxPool>,
    counters: Arc<Counters>,
    worker: Thread,
    /// Wall-clock time of request start instants, kept current by the worker.
    pub(crate) clock: Arc<RequestClock>,
}

impl Handoff {
    pub(crate) fn new(
        tx: SyncSender<CaptureBox>,
        pool: Arc<BoxPool>,
        counters: Arc<Counters>,
        worker: Thread,
        clock: Arc<RequestClock>,
    ) -> Self {
        Handoff {
            tx,
            pool,
            counters,
            worker,
            clock,
        }
    }

    /// A box for a new capture: from the pool, or new
    /// when the pool is empty.
    pub(crate) fn take_box(&self) -> CaptureBox {
        self.pool
            .take()
            .unwrap_or_else(|| Box::new(Capture::with_capacity(TEXT_CAPACITY)))
    }

    pub(crate) fn submit(&self, raw: CaptureBox) {
        self.counters.created.fetch_add(1, Relaxed);
        if self.counters.closed.load(Relaxed) {
            self.counters.dropped_closed.fetch_add(1, Relaxed);
            return;
        }
        match self.tx.try_send(raw) {
            Ok(()) => {}
            Err(TrySendError::Full(mut raw)) => {
                self.counters.dropped_queue_full.fetch_add(1, Relaxed);
                raw.release();
                self.pool.put(raw);
                // The worker is behind: wake it now rather than at its next tick.
                self.worker.unpark();
            }
            Err(TrySendError::Disconnected(_)) => {
                self.counters.dropped_closed.fetch_add(1, Relaxed);
            }
        }
    }
}
