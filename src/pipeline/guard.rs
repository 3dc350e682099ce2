//! The guard that keeps the pipeline running and shuts it down.

use std::fmt;
use std::time::Duration;

use super::{Pipeline, Stats, StatsHandle};

/// Keeps the pipeline running; flushes every queued record when dropped or
/// shut down.
///
/// Hold it for as long as the service runs (e.g. in `main`). Dropping it waits
/// up to the shutdown timeout; [`WorkerGuard::shutdown_within`] says how it went.
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

    fn stop(&mut self, timeout: Duration) -> ShutdownReport {
        match self.pipeline.take() {
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
