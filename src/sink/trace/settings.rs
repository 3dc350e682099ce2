//! The tracing sink as the operator config file describes it (feature
//! `config`).

use serde::Deserialize;

use super::TracingSink;
use crate::sink::SettingsError;

/// `type = "tracing"`: each record as one `tracing` event, see [`TracingSink`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TracingSettings {
    /// `trace`, `debug`, `info` (default), `warn` or `error`.
    pub level: Option<String>,
}

impl TracingSettings {
    fn level(&self) -> Result<tracing::Level, SettingsError> {
        match self.level.as_deref().unwrap_or("info") {
            "trace" => Ok(tracing::Level::TRACE),
            "debug" => Ok(tracing::Level::DEBUG),
            "info" => Ok(tracing::Level::INFO),
            "warn" => Ok(tracing::Level::WARN),
            "error" => Ok(tracing::Level::ERROR),
            other => Err(SettingsError::new(
                "tracing",
                "level",
                format!("unknown level {other:?}; expected trace, debug, info, warn or error"),
            )),
        }
    }

    /// A one-line description for `privlog check`.
    pub fn describe(&self) -> String {
        format!(
            "tracing events on target privlog::record at level {}",
            self.level.as_deref().unwrap_or("info")
        )
    }

    /// Checks the level: all that building the sink does, which opens nothing.
    ///
    /// # Errors
    /// `level` is not a level's name.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.level().map(|_| ())
    }

    /// Builds the sink.
    ///
    /// # Errors
    /// `level` is not a level's name.
    pub fn build(&self) -> Result<TracingSink, SettingsError> {
        Ok(TracingSink::new().level(self.level()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_checked_and_named() {
        let s: TracingSettings = toml::from_str("level = \"debug\"").expect("valid");
        s.build().expect("builds");
        assert!(s.describe().contains("level debug"), "{}", s.describe());
        let s: TracingSettings = toml::from_str("level = \"loud\"").expect("parses");
        let e = s.validate().expect_err("unknown level");
        assert_eq!((e.sink, e.field), ("tracing", "level"));
        assert!(e.reason.contains("trace, debug, info, warn or error"), "{e}");
        assert!(toml::from_str::<TracingSettings>("colour = 1").is_err());
    }
}
