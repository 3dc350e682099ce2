use std::fmt;

use serde::{Deserialize, Serialize};

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The response body was sent to its last byte.
    Completed,
    /// The request was abandoned before the response finished: the client went
    /// away (mid-upload or mid-download), or the future or body was dropped
    /// (timeout, cancellation).
    Aborted,
    /// The inner service returned an error, the response body failed, or the
    /// handler panicked (the record is emitted while the future unwinds).
    Error,
}

impl Outcome {
    /// The lowercase name used in the record (`completed`, `aborted`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Aborted => "aborted",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
