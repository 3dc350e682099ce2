//! The sanitized log record (schema v1), its NDJSON encoding and decoding.
//!
//! A [`Record`] is the only thing a [`Sink`](crate::sink::Sink) ever sees: every
//! field has already passed the privacy policy. Raw request data lives in a
//! crate-private type that never leaves the pipeline worker.

mod account_source;
mod clf;
mod decode;
mod encode;
mod fields;
mod outcome;
#[allow(clippy::module_inception)]
mod record;
mod sample_rate;

pub use account_source::AccountSource;
pub(crate) use account_source::deserialize_lenient as deserialize_account_source;
pub use clf::LineFormat;
#[cfg(all(test, feature = "tools"))]
pub(crate) use decode::worst_case_record;
pub use decode::{MAX_LINE_LEN, parse_line};
pub use encode::{MAX_FIELD_LEN, write_ndjson};
pub use fields::{Field, Fields, FieldsError, REQUIRED_FIELDS};
pub use outcome::Outcome;
pub(crate) use record::Vouched;
pub use record::{Record, SCHEMA_VERSION};
pub use sample_rate::SampleRate;

pub(crate) use encode::write_ts;
#[cfg(feature = "http")]
pub(crate) use encode::{write_str, write_u64};
