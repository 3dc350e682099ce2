//! One thread per sink.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::batch::Batch;
use crate::sink::{Accounting, DropReason, Ledger, Sink, SinkError};

/// How often an idle sink is ticked.
const TICK: Duration = Duration::from_millis(100);
/// The least time between two warnings about the same sink.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(10);

/// A warning that fires at most once per [`WARN_EVERY`], counting what it held back.
#[derive(Debug, Default)]
pub(crate) struct RateLimited {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    /// Whether to warn now; `Some(n)` carries how many warnings were held back.
    pub(crate) fn check(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < WARN_EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

pub(crate) type Deadline = Arc<Mutex<Option<Instant>>>;

pub(crate) fn run(mut sink: Box<dyn Sink>, rx: Receiver<Arc<Batch>>, ledger: Ledger, deadline: Deadline) {
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
    loop {
        let next = if dirty {
            match rx.try_recv() {
                Ok(b) => Ok(b),
                Err(TryRecvError::Empty) => {
                    dirty = false;
                    if let Err(e) = sink.flush() {
                        report("flush", &e, 0);
                    }
                    continue;
                }
                Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
            }
        } else {
            rx.recv_timeout(TICK)
        };
        match next {
            Ok(batch) => {
                let n = batch.len() as u64;
                match sink.write(batch.records()) {
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
                let _ = ledger
                    .inner
                    .queued
                    .fetch_update(Relaxed, Relaxed, |q| Some(q.saturating_sub(n)));
                dirty = true;
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = sink.tick() {
                    report("tick", &e, 0);
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let deadline = deadline
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(5));
    if let Err(e) = sink.close(deadline) {
        report("close", &e, 0);
    }
}
