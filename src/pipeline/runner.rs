//! One thread per sink.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Acquire, Release, SeqCst};
use std::sync::atomic::{AtomicBool, fence};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;

use super::batch::Batch;
use crate::Record;
use crate::sink::util::RateLimited;
use crate::sink::{Accounting, DropReason, Ledger, Sink, SinkError};

/// How often an idle sink is ticked.
const TICK: Duration = Duration::from_millis(100);
pub(crate) type Deadline = Arc<Mutex<Option<Instant>>>;

/// Batches on their way from the worker to one sink thread.
///
/// A lock-free ring rather than a channel: the worker hands a batch over
/// with one atomic operation and wakes the sink thread only if it sleeps,
/// and the two threads never wait on each other's lock (with a channel's
/// lock, a thread preempted while holding it made the other sleep too).
#[derive(Debug)]
pub(crate) struct SinkQueue {
    batches: ArrayQueue<Arc<Batch>>,
    /// Set by the worker when it sends nothing more.
    closed: AtomicBool,
    /// Set when the sink thread has ended, normally or by a panic.
    gone: AtomicBool,
    /// Whether the sink gets the sampled-out records too.
    every: bool,
}

/// Why a batch was not queued; the batch comes back.
pub(crate) enum SendError {
    /// The queue is full: the sink is behind.
    Full(Arc<Batch>),
    /// The sink thread has ended.
    Gone,
}

impl SinkQueue {
    pub(crate) fn new(capacity: usize, every: bool) -> Self {
        SinkQueue {
            batches: ArrayQueue::new(capacity.max(1)),
            closed: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            every,
        }
    }

    /// The records of `batch` this queue's sink gets.
    pub(crate) fn records_of<'b>(&self, batch: &'b Batch) -> &'b [Record] {
        if self.every { batch.all() } else { batch.records() }
    }
}

/// The worker's end of a [`SinkQueue`]: closes the queue when dropped.
#[derive(Debug)]
pub(crate) struct SinkSender {
    queue: Arc<SinkQueue>,
    thread: Thread,
}

impl SinkSender {
    pub(crate) fn new(queue: Arc<SinkQueue>, thread: Thread) -> Self {
        SinkSender { queue, thread }
    }

    /// The records of `batch` this sink gets.
    pub(crate) fn records_of<'b>(&self, batch: &'b Batch) -> &'b [Record] {
        self.queue.records_of(batch)
    }

    /// Queues `batch` and wakes the sink thread (a system call only when it
    /// sleeps). If the sink thread ended meanwhile, what is left in the queue
    /// is counted as lost on `ledger`.
    pub(crate) fn try_send(&self, batch: Arc<Batch>, ledger: &Ledger) -> Result<(), SendError> {
        if self.queue.gone.load(SeqCst) {
            return Err(SendError::Gone);
        }
        self.queue.batches.push(batch).map_err(SendError::Full)?;
        fence(SeqCst);
        if self.queue.gone.load(SeqCst) {
            discard(&self.queue, ledger);
        } else {
            self.thread.unpark();
        }
        Ok(())
    }
}

impl Drop for SinkSender {
    fn drop(&mut self) {
        self.queue.closed.store(true, Release);
        self.thread.unpark();
    }
}

/// Takes the batches left in `queue` off the ledger's queued count and
/// counts their records as lost to a sink error.
fn discard(queue: &SinkQueue, ledger: &Ledger) {
    let mut lost = 0;
    while let Some(batch) = queue.batches.pop() {
        let n = queue.records_of(&batch).len() as u64;
        ledger.dequeued(n);
        lost += n;
    }
    ledger.dropped(DropReason::SinkError, lost);
}

/// When the sink thread ends, normally or by a panic, marks its queue as
/// gone and counts what is left in it as lost.
struct Ended<'a> {
    queue: &'a SinkQueue,
    ledger: &'a Ledger,
}

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.queue.gone.store(true, SeqCst);
        // Pairs with the fence after the worker's push: either the worker
        // sees `gone` and takes its batch back, or the batch is seen here.
        fence(SeqCst);
        discard(self.queue, self.ledger);
    }
}

pub(crate) fn run(mut sink: Box<dyn Sink>, queue: Arc<SinkQueue>, ledger: Ledger, deadline: Deadline) {
    let queue = &*queue;
    let _ended = Ended { queue, ledger: &ledger };
    let accounting = sink.attach(ledger.clone());
    let name = sink.name().to_owned();
    let mut warn = RateLimited::default();
    let mut report = |what: &str, e: &SinkError, lost: u64| {
        if let Some(suppressed) = warn.check() {
            tracing::warn!(
                target: "privlog",
                sink = %name,
                error = %e,
                records_dropped = lost,
                warnings_suppressed = suppressed,
                "privlog sink {what} failed"
            );
        }
    };
    let mut dirty = false;
    // When the last batch was written or the sink last ticked.
    let mut quiet_since = Instant::now();
    loop {
        let Some(batch) = queue.batches.pop() else {
            if dirty {
                // Caught up: flush what the batches left buffered.
                dirty = false;
                if let Err(e) = sink.flush() {
                    report("flush", &e, 0);
                }
                continue;
            }
            if queue.closed.load(Acquire) {
                // The worker sends nothing after closing: done once empty.
                if queue.batches.is_empty() {
                    break;
                }
                continue;
            }
            let quiet = quiet_since.elapsed();
            if quiet >= TICK {
                if let Err(e) = sink.tick() {
                    report("tick", &e, 0);
                }
                quiet_since = Instant::now();
            } else {
                thread::park_timeout(TICK - quiet);
            }
            continue;
        };
        let records = queue.records_of(&batch);
        let n = records.len() as u64;
        // A sink that panics is not used again: its records are counted as
        // lost to a sink error from here on, and every other sink goes on.
        let written = panic::catch_unwind(AssertUnwindSafe(|| sink.write(records)));
        let Ok(written) = written else {
            drop(batch);
            ledger.dequeued(n);
            ledger.dropped(DropReason::SinkError, n);
            tracing::error!(
                target: "privlog",
                sink = %name,
                records_dropped = n,
                "privlog sink panicked while writing; its records are dropped from now on (the other sinks go on)"
            );
            // Ending the thread counts the batches still queued for it.
            return;
        };
        match written {
            Ok(()) => {
                if accounting == Accounting::Pipeline {
                    ledger.delivered(n);
                }
            }
            Err(e) => {
                // A sink that keeps its own accounting has already
                // counted the records this error cost.
                let lost = if accounting == Accounting::Pipeline { n } else { 0 };
                ledger.dropped(DropReason::SinkError, lost);
                report("write", &e, lost);
            }
        }
        // Back to the worker for reuse as soon as possible.
        drop(batch);
        ledger.dequeued(n);
        dirty = true;
        quiet_since = Instant::now();
    }
    let deadline = deadline
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(5));
    if let Err(e) = sink.close(deadline) {
        report("close", &e, 0);
    }
}
