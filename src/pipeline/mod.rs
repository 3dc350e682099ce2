//! The path from the request to the sinks: a bounded hand-off queue filled
//! with `try_send` on the request path, one worker thread that sanitizes and
//! batches, and one thread per sink.

mod batch;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
mod clock;
mod handoff;
mod runner;
mod stats;
mod worker;

pub(crate) use clock::RequestClock;
pub(crate) use handoff::{Handoff, RawBox};
pub use stats::{Stats, StatsHandle};
pub(crate) use worker::{Pipeline, PipelineConfig, spawn};
