use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::Thread;

use super::RequestClock;
use super::stats::Counters;
use crate::record::raw::{RawRecord, TEXT_CAPACITY};
use crossbeam_queue::ArrayQueue;

/// Boxes made up front for the capture pool: enough for the requests in
/// flight and the records of the millisecond a busy worker parks for. Few
/// enough that the boxes going round (the pool hands them out oldest first)
/// stay in the CPU's caches: with 1 024 the request path spent about twice
/// as long writing its capture. A burst beyond them allocates more boxes,
/// which then stay in the pool.
pub(crate) const PREFILLED_BOXES: usize = 256;

/// A capture on the heap, so the request path moves one pointer around
/// instead of the whole capture (request future, response body, queue).
pub(crate) type RawBox = Box<RawRecord>;

/// The request path's end of the pipeline: `submit` never blocks and never
/// makes a system call while the queue has room.
///
/// Captures travel in boxes that the worker hands back through a pool once it
/// has read them, so in steady state the request path allocates nothing: it
/// takes a box from the pool, fills it, and queues the pointer. Only when the
/// pool is empty (the worker is far behind) is a new box allocated.
#[derive(Debug)]
pub(crate) struct Handoff {
    tx: SyncSender<RawBox>,
    pool: Arc<ArrayQueue<RawBox>>,
    counters: Arc<Counters>,
    worker: Thread,
    /// Wall-clock time of request start instants, kept current by the worker.
    pub(crate) clock: Arc<RequestClock>,
}

/// A pool of `capacity` capture boxes, `PREFILLED_BOXES` of them made now.
pub(crate) fn box_pool(capacity: usize) -> ArrayQueue<RawBox> {
    let pool = ArrayQueue::new(capacity.max(1));
    for _ in 0..PREFILLED_BOXES.min(capacity) {
        let _ = pool.push(Box::new(RawRecord::with_capacity(TEXT_CAPACITY)));
    }
    pool
}

impl Handoff {
    pub(crate) fn new(
        tx: SyncSender<RawBox>,
        pool: Arc<ArrayQueue<RawBox>>,
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
    pub(crate) fn take_box(&self) -> RawBox {
        self.pool
            .pop()
            .unwrap_or_else(|| Box::new(RawRecord::with_capacity(TEXT_CAPACITY)))
    }

    pub(crate) fn submit(&self, raw: RawBox) {
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
                let _ = self.pool.push(raw);
                // The worker is behind: wake it now rather than at its next tick.
                self.worker.unpark();
            }
            Err(TrySendError::Disconnected(_)) => {
                self.counters.dropped_closed.fetch_add(1, Relaxed);
            }
        }
    }
}
