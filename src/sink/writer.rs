use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{Sink, SinkError};
use crate::Record;
use crate::record::write_ndjson;

/// Writes NDJSON to any [`Write`]r: one record per line, each batch in one
/// `write_all` so lines are never interleaved.
///
/// ```
/// let sink = privlog::sink::WriterSink::stdout();
/// ```
#[derive(Debug)]
pub struct WriterSink<W> {
    name: String,
    out: W,
    buf: Vec<u8>,
}

impl WriterSink<io::Stdout> {
    /// NDJSON to standard output.
    pub fn stdout() -> Self {
        WriterSink::new("stdout", io::stdout())
    }
}

impl<W: Write + Send + 'static> WriterSink<W> {
    /// NDJSON to `out`, reported under `name`.
    pub fn new(name: impl Into<String>, out: W) -> Self {
        WriterSink {
            name: name.into(),
            out,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// The writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }
}

impl<W: Write + Send + 'static> Sink for WriterSink<W> {
    fn name(&self) -> &str {
        &self.name
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.buf.clear();
        for r in batch {
            write_ndjson(r, &mut self.buf);
        }
        self.out
            .write_all(&self.buf)
            .map_err(|e| SinkError::with_source(format!("cannot write to {}", self.name), e))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out
            .flush()
            .map_err(|e| SinkError::with_source(format!("cannot flush {}", self.name), e))
    }
}

/// Appends NDJSON records to one file (created if missing).
///
/// For rotation and retention use the rotating file sink.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    inner: WriterSink<File>,
    sync: bool,
}

impl FileSink {
    /// Opens `path` for appending.
    ///
    /// # Errors
    /// The I/O error, with the path in the message.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SinkError> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| {
            SinkError::with_source(
                format!(
                    "cannot open log file {} for appending (check the directory exists and is writable)",
                    path.display()
                ),
                e,
            )
        })?;
        Ok(FileSink {
            inner: WriterSink::new(format!("file:{}", path.display()), file),
            path,
            sync: false,
        })
    }

    /// Calls `fsync` after every flush, so flushed records survive a power
    /// loss. Defaults to off (the operating system writes them back).
    pub fn sync_on_flush(mut self, on: bool) -> Self {
        self.sync = on;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.inner.write(batch)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()?;
        if self.sync {
            self.inner
                .get_ref()
                .sync_data()
                .map_err(|e| SinkError::with_source(format!("cannot fsync {}", self.path.display()), e))?;
        }
        Ok(())
    }
}
