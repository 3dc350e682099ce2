//! The guard that keeps the pipeline running and shuts it down.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use super::{Pipeline, Stats, StatsHandle};

/// Keeps the pipeline running; flushes every queued record when dropped or
/// shut down.
///
/// Hold it for as long as the service runs (e.g. in `main`), and shut it down
/// after the server has stopped (after axum's graceful shutdown returned), so
/// that no request is still running:
///
/// - in async code, `guard.shutdown_async().await`: the wait happens on a
///   thread of its own, and the runtime's thread keeps serving other tasks;
/// - in blocking code, [`WorkerGuard::shutdown`] or
///   [`WorkerGuard::shutdown_within`].
///
/// Dropping the guard flushes too: it waits on the dropping thread, up to the
/// shutdown timeout, for every queued record to be written. The pipeline runs
/// on threads of its own, so this also completes when the guard is dropped
/// inside an async runtime (even a single-threaded one); that thread is busy
/// for the wait, which is why async code should prefer `shutdown_async`.
#[must_use = "dropping the guard shuts the pipeline down"]
pub struct WorkerGuard {
    pipeline: Option<Pipeline>,
    timeout: Duration,
}

impl WorkerGuard {
    /// A guard over a running pipeline, shutting it down within `timeout`.
    pub(crate) fn new(pipeline: Pipeline, timeout: Duration) -> Self {
        WorkerGuard {
            pipeline: Some(pipeline),
            timeout,
        }
    }
}

impl fmt::Debug for WorkerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerGuard")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How a shutdown went.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Whether the worker and every sink finished before the deadline.
    pub complete: bool,
    /// The accounting after shutdown.
    pub stats: Stats,
}

impl WorkerGuard {
    /// The pipeline's accounting right now.
    pub fn stats(&self) -> Stats {
        self.pipeline.as_ref().map(|p| p.stats.stats()).unwrap_or_default()
    }

    /// A handle for reading the accounting from elsewhere.
    pub fn stats_handle(&self) -> Option<StatsHandle> {
        self.pipeline.as_ref().map(|p| p.stats.clone())
    }

    /// Stops taking records and writes everything queued, waiting up to the
    /// configured shutdown timeout.
    pub fn shutdown(self) -> ShutdownReport {
        let t = self.timeout;
        self.shutdown_within(t)
    }

    /// Stops taking records and writes everything queued, waiting up to `timeout`.
    /// Records created after this are counted as `dropped_shutdown`.
    pub fn shutdown_within(mut self, timeout: Duration) -> ShutdownReport {
        self.stop(timeout)
    }

    /// Like [`WorkerGuard::shutdown`], without blocking the calling thread:
    /// the wait for the sinks happens on a thread of its own, and the returned
    /// future completes with the report. Needs no particular async runtime.
    ///
    /// The shutdown starts when this is called, not when the future is first
    /// polled; dropping the future does not stop it.
    pub fn shutdown_async(self) -> impl Future<Output = ShutdownReport> + Send + 'static {
        let t = self.timeout;
        self.shutdown_async_within(t)
    }

    /// Like [`WorkerGuard::shutdown_within`], without blocking the calling
    /// thread (see [`WorkerGuard::shutdown_async`]).
    pub fn shutdown_async_within(mut self, timeout: Duration) -> impl Future<Output = ShutdownReport> + Send + 'static {
        let shared = Arc::new(Mutex::new(Slot {
            pipeline: self.pipeline.take(),
            report: None,
            waker: None,
        }));
        let done = shared.clone();
        let spawned = thread::Builder::new()
            .name("privlog-shutdown".to_owned())
            .spawn(move || {
                let pipeline = done.lock().unwrap_or_else(PoisonError::into_inner).pipeline.take();
                let report = stop(pipeline, timeout);
                let mut slot = done.lock().unwrap_or_else(PoisonError::into_inner);
                slot.report = Some(report);
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            });
        if let Err(e) = spawned {
            // No thread to wait on: wait here rather than lose records.
            tracing::warn!(
                target: "privlog",
                error = %e,
                "privlog could not start a thread for the shutdown; it waits on the calling thread"
            );
            let mut slot = shared.lock().unwrap_or_else(PoisonError::into_inner);
            let pipeline = slot.pipeline.take();
            slot.report = Some(stop(pipeline, timeout));
        }
        ShutdownFuture { shared }
    }

    fn stop(&mut self, timeout: Duration) -> ShutdownReport {
        stop(self.pipeline.take(), timeout)
    }
}

/// What the shutdown thread takes over, where it leaves its report, and whom
/// it wakes.
struct Slot {
    pipeline: Option<Pipeline>,
    report: Option<ShutdownReport>,
    waker: Option<Waker>,
}

/// Completes when the shutdown thread has left its report.
struct ShutdownFuture {
    shared: Arc<Mutex<Slot>>,
}

impl Future for ShutdownFuture {
    type Output = ShutdownReport;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ShutdownReport> {
        let mut slot = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(report) = slot.report.take() {
            return Poll::Ready(report);
        }
        if Arc::strong_count(&self.shared) == 1 {
            // The shutdown thread ended without a report (it panicked).
            return Poll::Ready(ShutdownReport {
                complete: false,
                stats: Stats::default(),
            });
        }
        match &mut slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Shuts `pipeline` down within `timeout`, waiting on this thread.
fn stop(pipeline: Option<Pipeline>, timeout: Duration) -> ShutdownReport {
    match pipeline {
        Some(mut p) => {
            let complete = p.shutdown(timeout);
            ShutdownReport {
                complete,
                stats: p.stats.stats(),
            }
        }
        None => ShutdownReport {
            complete: true,
            stats: Stats::default(),
        },
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let t = self.timeout;
        let report = self.stop(t);
        if !report.complete {
            tracing::warn!(
                target: "privlog",
                timeout_ms = t.as_millis() as u64,
                "privlog shutdown timed out; records still queued: {}",
                report.stats.queued
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::time::SystemTime;

    use super::*;
    use crate::pipeline::{PipelineConfig, spawn};
    use crate::record::Record;
    use crate::sanitize::Sanitizer;
    use crate::sink::{MemorySink, Sink, SinkError};
    use crate::{MasterKey, Policy};

    /// A sink whose writes wait until `open` is set.
    struct Gate {
        open: Arc<AtomicBool>,
        inner: MemorySink,
    }

    impl Sink for Gate {
        fn name(&self) -> &str {
            "gate"
        }

        fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
            while !self.open.load(SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            self.inner.write(batch)
        }
    }

    fn guard_over(sink: impl Sink, records: usize) -> WorkerGuard {
        let sanitizer = Sanitizer::new(Policy::new().compile().expect("valid"), &MasterKey::from_bytes([7; 32]));
        let pipeline = match spawn(PipelineConfig::default(), sanitizer, vec![Box::new(sink)]) {
            Ok(p) => p,
            Err(e) => panic!("spawn: {e}"),
        };
        for _ in 0..records {
            let mut raw = pipeline.handoff.take_box();
            raw.begin(SystemTime::now(), http::Method::GET, http::Version::HTTP_11, None);
            raw.set_path_query("/a", None);
            raw.status = Some(200);
            pipeline.handoff.submit(raw);
        }
        WorkerGuard::new(pipeline, Duration::from_secs(30))
    }

    #[test]
    fn shutdown_async_lets_the_runtime_thread_run_other_tasks_while_it_waits() {
        let open = Arc::new(AtomicBool::new(false));
        let memory = MemorySink::new();
        let guard = guard_over(
            Gate {
                open: open.clone(),
                inner: memory.clone(),
            },
            3,
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let report = rt.block_on(async move {
            // Runs only when the one runtime thread is free: a shutdown that
            // blocked it would wait for this until its deadline.
            let opener = tokio::spawn(async move { open.store(true, SeqCst) });
            let report = guard.shutdown_async().await;
            opener.await.expect("opener");
            report
        });
        assert!(report.complete, "{report:?}");
        assert_eq!(memory.records().len(), 3);
        assert_eq!(report.stats.delivered_everywhere(), 3);
        assert!(report.stats.is_balanced(), "{report:?}");
    }

    #[test]
    fn a_guard_dropped_inside_a_single_threaded_runtime_still_writes_every_record() {
        let memory = MemorySink::new();
        let guard = guard_over(memory.clone(), 5);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move { drop(guard) });
        assert_eq!(memory.records().len(), 5);
    }
}
