//! Where records go: the [`Sink`] trait and the built-in sinks.
//!
//! Each sink runs on its own thread with its own bounded queue, so one slow or
//! failing sink cannot stall the others or the request path. A sink sees only
//! sanitized [`Record`]s.
//!
//! # Writing a sink
//!
//! ```
//! use privlog::{Record, sink::{Sink, SinkError}};
//!
//! struct CountingSink(u64);
//!
//! impl Sink for CountingSink {
//!     fn name(&self) -> &str { "counting" }
//!     fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
//!         self.0 += batch.len() as u64;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! By default the pipeline counts a batch as delivered when `write` returns
//! `Ok` and as dropped (`sink_error`) when it returns `Err`. A sink that buffers
//! or spools records itself returns [`Accounting::Sink`] from [`Sink::attach`]
//! and reports every record's fate through the [`Ledger`].

mod error;
#[cfg(test)]
mod extreme_records;
// Parts of these serve only the file tools (`subject` erase, `retention`).
#[cfg_attr(not(feature = "tools"), allow(dead_code))]
mod fsize;
mod ledger;
mod memory;
mod minimized;
#[cfg(feature = "config")]
pub(crate) mod paths;
#[cfg_attr(not(feature = "tools"), allow(dead_code))]
pub(crate) mod rewrite_temp;
mod rolling;
#[cfg(feature = "config")]
mod settings;
#[cfg_attr(not(feature = "tools"), allow(dead_code))]
mod shared_file;
mod syslog;
mod trace;
pub(crate) mod util;
mod writer;

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "spool")]
pub mod spool;

pub use error::SinkError;
pub use ledger::{Accounting, DropReason, Held, Ledger, SinkStats};
pub use memory::MemorySink;
pub use minimized::Minimized;
#[cfg(feature = "config")]
pub use rolling::RollingSettings;
pub use rolling::{LogFile, Retention, RetentionReport, RollingFileSink, RollingFsync, log_files};
#[cfg(feature = "config")]
pub use settings::SettingsError;
#[cfg(feature = "config")]
pub use syslog::SyslogSettings;
#[cfg(feature = "syslog-tls")]
pub use syslog::SyslogTls;
pub use syslog::{Facility, Severity, SyslogSink};
#[cfg(feature = "config")]
pub use trace::TracingSettings;
pub use trace::{RECORD_TARGET, TracingSink};
pub use writer::{FileSink, WriterSink};

pub(crate) use fsize::{FILE_SIZE_LIMIT, RAISE_LIMIT, WithinLimit, refused_by_limit};
#[cfg(feature = "tools")]
pub(crate) use rolling::calendar_time;
pub(crate) use shared_file::{FileId, LOCK_WAIT, LinesFile, LockError, LockKind, lock};

use std::time::Instant;

use crate::Record;

/// A destination for records.
///
/// Methods are called from the sink's own thread, never concurrently, never
/// from the request path. Implementations may block (a network round trip, an
/// fsync): only this sink waits.
pub trait Sink: Send + 'static {
    /// A short name for statistics and warnings (`stdout`, `file`, `clickhouse`).
    fn name(&self) -> &str;

    /// Writes one batch.
    ///
    /// # Errors
    /// With [`Accounting::Pipeline`] an error counts the whole batch as dropped
    /// for reason `sink_error`; the error is reported through `tracing`,
    /// rate-limited.
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError>;

    /// Pushes buffered output to its destination. Called when the sink's queue
    /// is idle and before shutdown.
    ///
    /// # Errors
    /// Reported through `tracing`, rate-limited.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Called about every 100 ms while the sink's queue is idle: retry timers,
    /// linger deadlines, spool draining.
    ///
    /// # Errors
    /// Reported through `tracing`, rate-limited.
    fn tick(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Called once before the first batch with this sink's ledger. Return
    /// [`Accounting::Sink`] to report delivery yourself.
    fn attach(&mut self, ledger: Ledger) -> Accounting {
        let _ = ledger;
        Accounting::Pipeline
    }

    /// Called once at shutdown after the last batch: deliver or persist what
    /// is held before `deadline`. Defaults to [`Sink::flush`].
    ///
    /// # Errors
    /// Reported through `tracing`.
    fn close(&mut self, deadline: Instant) -> Result<(), SinkError> {
        let _ = deadline;
        self.flush()
    }

    /// Whether this sink also receives the records that sampling left out
    /// (never the skipped ones), so that it can count every request: the
    /// usage statistics sink does. Such a record carries no `sample_rate`;
    /// it is one request. Default: `false`, the sink gets only kept records.
    fn sees_sampled_out(&self) -> bool {
        false
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        (**self).write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
    fn tick(&mut self) -> Result<(), SinkError> {
        (**self).tick()
    }
    fn attach(&mut self, ledger: Ledger) -> Accounting {
        (**self).attach(ledger)
    }
    fn close(&mut self, deadline: Instant) -> Result<(), SinkError> {
        (**self).close(deadline)
    }
    fn sees_sampled_out(&self) -> bool {
        (**self).sees_sampled_out()
    }
}
