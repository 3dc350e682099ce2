use std::fmt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a sink could not write.
#[derive(Debug)]
pub struct SinkError {
    message: String,
    source: Option<BoxError>,
}

impl SinkError {
    /// An error with a message (lowercase, naming the destination and the fix).
    pub fn new(message: impl Into<String>) -> Self {
        SinkError {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and an underlying cause.
    pub fn with_source(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        SinkError {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// The message without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for SinkError {
    fn from(e: std::io::Error) -> Self {
        SinkError::with_source("i/o error", e)
    }
}
