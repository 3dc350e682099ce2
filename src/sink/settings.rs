//! The error every sink's settings (a `[[sinks]]` table of the
//! configuration file) give for a bad value (feature `config`).

use std::fmt;

/// A field of a sink's settings with a bad value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SettingsError {
    /// The sink's kind, as written in `type` (`rolling`, `http` …).
    pub sink: &'static str,
    /// The field (`timeout`, `table` …).
    pub field: &'static str,
    /// What is wrong and how to fix it.
    pub reason: String,
}

impl SettingsError {
    pub(crate) fn new(sink: &'static str, field: &'static str, reason: impl Into<String>) -> Self {
        SettingsError {
            sink,
            field,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} sink field `{}`: {}", self.sink, self.field, self.reason)
    }
}

impl std::error::Error for SettingsError {}
