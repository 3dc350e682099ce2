//! Shipping records to HTTP collectors: Vector, Fluent Bit, Logstash,
//! ClickHouse, Grafana Loki, Elasticsearch / OpenSearch and OpenTelemetry
//! collectors (feature `http`).
//!
//! ```no_run
//! use privlog::sink::http::{ClickHouse, HttpSink};
//! use privlog::sink::spool::SpoolConfig;
//!
//! # fn main() -> Result<(), privlog::sink::SinkError> {
//! let sink = HttpSink::builder("http://127.0.0.1:8123/")
//!     .encoder(ClickHouse::new("privlog_requests")?)
//!     .header("X-ClickHouse-User", "writer")
//!     .header("X-ClickHouse-Key", "collector-password")
//!     .spool(SpoolConfig::new("/var/lib/myapp/privlog-spool"))
//!     .dead_letter("/var/lib/myapp/privlog-rejected.ndjson")
//!     .build()?;
//! // privlog::builder().sink(sink) …
//! # Ok(()) }
//! ```
//!
//! # What happens to a record
//!
//! 1. It joins the open batch, which is sent when it holds
//!    [`BatchConfig::max_records`] records or [`BatchConfig::max_bytes`]
//!    bytes, or [`BatchConfig::linger`] after its first record.
//! 2. Up to [`HttpSinkBuilder::max_in_flight`] requests run at once on the
//!    sink's request threads, each limited by [`HttpSinkBuilder::timeout`].
//! 3. The response decides:
//!    - **2xx**: delivered. (For the Elasticsearch bulk API, documents refused
//!      inside the response are retried or dead-lettered one by one.)
//!    - **408, 429, 5xx except 501, no response** (refused, reset, timed out):
//!      retried after a backoff of 1 s doubling to 30 s with full jitter, or
//!      after the response's `Retry-After` (seconds or HTTP-date) — see
//!      [`RetryPolicy`]. While it waits, the batch and every new one go to the
//!      spool; only one request probes the collector until it answers again.
//!    - **any other status** (400, 401, 403, 404, 413, 422, 501 …): the batch
//!      itself is refused and retrying would never end, so its records are
//!      appended to the [dead-letter file](HttpSinkBuilder::dead_letter) and
//!      counted as `rejected`.
//! 4. Spooled batches are sent, oldest first and one at a time, as soon as
//!    the collector answers again — also by the next process that opens the
//!    same spool. They may arrive after newer batches sent directly.
//!
//! Every record is counted in the sink's ledger as buffered, spooled,
//! delivered or dropped with a reason (`rejected`, `spool_full`, `corrupt`,
//! `shutdown`, `buffer_full`, `sink_error` for a spool write failing for
//! another reason than a full disk): nothing is lost silently. When the disk
//! fills up in the middle of a batch, the records the spool took count as
//! spooled and only the others as `spool_full`.
//!
//! # Shutdown
//!
//! [`Sink::close`](crate::sink::Sink::close) sends what is buffered and what is
//! spooled until the deadline; what is left goes to the spool (or, without a
//! spool, is counted as `shutdown`). A request still running at the deadline
//! is spooled too, so its records arrive at least once — possibly twice.
//!
//! # Secrets
//!
//! Header values (credentials) are never logged, shown by `Debug` or put in
//! errors; URLs with credentials in them (any `@`; write `%40` for one in a
//! path or query) are refused before any name is resolved, and warnings,
//! errors and `Debug` show URLs without credentials, query string or fragment.

mod batch;
mod builder;
mod client;
mod dead_letter;
mod elasticsearch;
mod encoder;
mod loki;
mod otlp;
mod retry;
#[cfg(feature = "config")]
mod settings;
mod sink;

#[cfg(feature = "config")]
pub use crate::sink::SettingsError;
pub use batch::BatchConfig;
pub use builder::HttpSinkBuilder;
#[cfg(feature = "tools")]
pub(crate) use builder::{check_url, shown};
pub use elasticsearch::Elasticsearch;
pub use encoder::{ClickHouse, Encoder, ItemFailures, Ndjson};
pub use loki::Loki;
pub use otlp::Otlp;
pub use retry::RetryPolicy;
#[cfg(feature = "config")]
pub use settings::{EncodingName, HttpSinkSettings};
pub use sink::HttpSink;
