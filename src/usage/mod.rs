//! Anonymized usage statistics: counts, distinct accounts, latency
//! percentiles and bytes per period, route, method and status — with
//! k-anonymity decided on the accounts the application vouched for, counted
//! within one key period (a person's pseudonym changes with the key and its
//! epoch, so accounts from different key periods are never added up), and
//! never a per-person row.
//!
//! Two ways in:
//!
//! - live, as a sink: [`UsageSink`] aggregates records as they are made and
//!   emits [`Summary`] rows at each period's end;
//! - afterwards, from record files (feature `tools`): `Scan` reads NDJSON
//!   files (plain, gzip, standard input) on all cores into an
//!   `Aggregator`; the `privlog stats` and `privlog report` commands are
//!   built on it.
//!
//! ```
//! # #[cfg(feature = "tools")] {
//! use privlog::usage::{Aggregator, Dimension, Observation};
//! use privlog::{AccountSource, Record};
//!
//! let mut agg = Aggregator::new(Dimension::parse_list("day,status").unwrap());
//! for i in 0..10 {
//!     let mut r = Record::new(time::OffsetDateTime::UNIX_EPOCH, "GET", "/");
//!     r.status = Some(200);
//!     r.duration_us = 1000 + i;
//!     r.account = Some(format!("acc_{i}"));
//!     r.account_src = Some(AccountSource::App); // the application vouched for it
//!     agg.add(&Observation::from_record(&r));
//! }
//! let rows = agg.summaries(5).rows;
//! assert_eq!(rows[0].status.as_deref(), Some("2xx"));
//! assert_eq!(rows[0].distinct_accounts, 10);
//! assert_eq!(rows[0].vouched_accounts, 10);
//! # }
//! ```
//!
//! Distinct counts are exact up to 1024 values and estimated by a
//! HyperLogLog sketch (about 1.6 % standard error) beyond; percentiles come
//! from a log-bucket histogram accurate to about 1.6 %. Both merge, so
//! results from threads, files and periods combine.

// Without the `tools` feature only what the sink needs is public; the
// aggregation toolkit and the file scan are the tools'.
#[cfg_attr(not(feature = "tools"), allow(unreachable_pub, dead_code))]
mod aggregate;
#[cfg_attr(not(feature = "tools"), allow(unreachable_pub, dead_code))]
mod distinct;
#[cfg(feature = "tools")]
mod filter;
#[cfg_attr(not(feature = "tools"), allow(unreachable_pub, dead_code))]
mod histogram;
#[cfg_attr(not(feature = "tools"), allow(unreachable_pub, dead_code))]
mod observation;
#[cfg(feature = "tools")]
mod scan;
mod sink;

pub use aggregate::{
    DEFAULT_K, Dimension, MAX_KEY_PERIOD_COUNTS, MAX_KEY_PERIODS, NONE, OTHER, Summaries, Summary, UNVERIFIED,
    UnknownDimension, WITHHELD,
};
pub use sink::{Period, PeriodError, UsageSink};

#[cfg(feature = "tools")]
pub use aggregate::{Accumulator, Aggregator};
#[cfg(feature = "tools")]
pub use distinct::{DistinctCounter, EXACT_LIMIT, hash_value};
#[cfg(feature = "tools")]
pub use filter::{Filter, FilterError, StatusFilter};
#[cfg(feature = "tools")]
pub use histogram::LatencyHistogram;
#[cfg(feature = "tools")]
pub use observation::Observation;
#[cfg(feature = "tools")]
pub use scan::{Scan, ScanError, ScanReport};
