//! The path from the request to the sinks: a bounded hand-off queue filled
//! with `try_send` on the request path, one worker thread that sanitizes and
//! batches, and one thread per sink.

mod batch;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;

mod accounting;
mod guard;
mod handoff;
mod metrics;
mod runner;
mod sampling;
mod suppression;
mod worker;

pub use accounting::{Stats, StatsHandle};
pub use guard::{ShutdownReport, WorkerGuard};
pub(crate) use handoff::Handoff;
pub use metrics::OPENMETRICS_CONTENT_TYPE;
pub use sampling::{Sampling, Skip};
pub use worker::{
    DEFAULT_BATCH_SIZE, DEFAULT_MAX_IDLE, DEFAULT_QUEUE_CAPACITY, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_SINK_QUEUE_BATCHES,
};
pub(crate) use worker::{Pipeline, PipelineConfig, spawn};
