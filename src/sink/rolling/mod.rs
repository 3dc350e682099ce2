//! NDJSON files that roll over daily and by size, with compression and retention.
//!
//! See [`RollingFileSink`] for the sink and [`Retention`] for the rule that
//! decides which closed files to delete; the rule also works on its own (for
//! a cron job or a command-line tool) through [`Retention::apply`].

mod maintain;
mod name;
mod retention;
#[cfg(feature = "config")]
mod settings;
mod sink;

pub use name::{LogFile, log_files};
pub use retention::{Retention, RetentionReport};
#[cfg(feature = "config")]
pub use settings::RollingSettings;
#[cfg(feature = "tools")]
pub(crate) use sink::calendar_time;
pub use sink::{RollingFileSink, RollingFsync};
