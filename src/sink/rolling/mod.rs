//! NDJSON files that roll over daily and by size, with compression and retention.
//!
//! See [`RollingFileSink`] for the sink and [`Retention`] for the rule that
//! decides which closed files to delete; the rule also works on its own (for
//! a cron job or a command-line tool) through [`Retention::apply`].

mod maintain;
mod name;
mod retention;
mod sink;

pub use name::{LogFile, log_files};
pub use retention::{Retention, RetentionReport};
#[cfg(feature = "tools")]
pub(crate) use sink::calendar_time;
#[cfg(feature = "config")]
pub(crate) use sink::check_prefix;
pub use sink::{Fsync, RollingFileSink};
