//! Helpers every sink shares: the human duration of settings files, retry
//! backoff and rate-limited warnings.

mod backoff;
#[cfg(feature = "config")]
mod duration;
mod warn;

pub(crate) use backoff::{Backoff, doubling};
#[cfg(feature = "config")]
pub use duration::parse_duration;
pub(crate) use warn::RateLimited;
