//! Each record as one `tracing` event. See [`TracingSink`].

#[cfg(feature = "config")]
mod settings;
mod sink;

#[cfg(feature = "config")]
pub use settings::TracingSettings;
pub use sink::{RECORD_TARGET, TracingSink};
