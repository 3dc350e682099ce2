use std::io::{self, Write};
use std::path::Path;

use super::fsize::{FILE_SIZE_LIMIT, LIMIT_FIX, OutputFile, RAISE_LIMIT};
use super::rewrite_temp;
use super::shared_file::{KeptOut, LinesFile, busy_error, replaced_error};
use super::{Accounting, DropReason, Ledger, Sink, SinkError};
use crate::Record;
use crate::record::{LineFormat, write_ndjson};

/// Writes NDJSON to any [`Write`]r: one record per line, each batch in one
/// `write_all` so lines are never interleaved.
///
/// A writer is not checked against the process's file-size limit
/// (`RLIMIT_FSIZE`): for files, use [`FileSink`] or the rolling file sink.
/// Standard output ([`WriterSink::stdout`]) is: when it is a regular file,
/// no batch takes it past the limit; the lines that would are dropped whole
/// (`file_size_limit`).
///
/// ```
/// let sink = privlog::sink::WriterSink::stdout();
/// ```
#[derive(Debug)]
pub struct WriterSink<W> {
    name: String,
    out: W,
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// Standard output when it is a regular file.
    file: Option<OutputFile>,
    ledger: Option<Ledger>,
}

impl WriterSink<io::Stdout> {
    /// NDJSON to standard output. When standard output is a regular file (a
    /// service manager's `StandardOutput=file:` or `append:`), a write that
    /// would take it past the file-size limit is not made: its lines are
    /// dropped whole and counted as `file_size_limit`.
    pub fn stdout() -> Self {
        let mut sink = WriterSink::new("stdout", io::stdout());
        sink.file = OutputFile::stdout();
        sink
    }
}

impl<W: Write + Send + 'static> WriterSink<W> {
    /// NDJSON to `out`, reported under `name`.
    pub fn new(name: impl Into<String>, out: W) -> Self {
        WriterSink {
            name: name.into(),
            out,
            buf: Vec::with_capacity(64 * 1024),
            ends: Vec::new(),
            file: None,
            ledger: None,
        }
    }

    /// How many of the encoded lines fit under the file-size limit, when
    /// the output is a file it applies to.
    fn lines_that_fit(&mut self) -> usize {
        let Some(file) = self.file.as_mut() else {
            return self.ends.len();
        };
        let fit = |room: Option<u64>, ends: &[usize]| match room {
            None => ends.len(),
            Some(room) => ends.iter().take_while(|&&end| end as u64 <= room).count(),
        };
        // Read for every batch: the limit may have been lowered or raised
        // from outside (`prlimit --pid`) since the last one.
        file.reread_limit();
        fit(file.room(), &self.ends)
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

    fn attach(&mut self, ledger: Ledger) -> Accounting {
        self.ledger = Some(ledger);
        Accounting::Sink
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.buf.clear();
        self.ends.clear();
        for r in batch {
            write_ndjson(r, &mut self.buf);
            self.ends.push(self.buf.len());
        }
        let fit = self.lines_that_fit();
        let end = if fit == 0 { 0 } else { self.ends[fit - 1] };
        let out = fit as u64;
        let refused = (batch.len() - fit) as u64;
        // Without a ledger (a wrapper that does not pass `attach` on) the
        // pipeline counts the batch: delivered on `Ok`, dropped on `Err`.
        if let Err(e) = self.out.write_all(&self.buf[..end]) {
            if let Some(ledger) = &self.ledger {
                ledger.dropped(DropReason::SinkError, out);
                ledger.dropped(FILE_SIZE_LIMIT, refused);
            }
            return Err(SinkError::with_source(format!("cannot write to {}", self.name), e));
        }
        if let Some(ledger) = &self.ledger {
            ledger.delivered(out);
            ledger.dropped(FILE_SIZE_LIMIT, refused);
        }
        if refused == 0 {
            return Ok(());
        }
        let limit = self
            .file
            .as_ref()
            .and_then(OutputFile::limit)
            .map_or_else(String::new, |l| format!(" of {l} bytes"));
        Err(SinkError::new(format!(
            "cannot write {refused} records to {}: it is a file they would take past the file-size \
             limit{limit}, so they are dropped whole; {RAISE_LIMIT}, or rotate the file",
            self.name
        )))
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out
            .flush()
            .map_err(|e| SinkError::with_source(format!("cannot flush {}", self.name), e))
    }
}

/// Appends NDJSON records to one file (created if missing).
///
/// Each batch is appended with whole-line writes while the sink holds a
/// shared advisory lock (`flock`) on the file, after checking that the path
/// still names the file it has open. A file replaced (by
/// `privlog subject erase`, which takes the lock, or by any other tool) or
/// removed is noticed before the next batch and the path opened anew; lines
/// written to a file removed meanwhile are written again to the new one. A
/// write never takes the file past the process's file-size limit
/// (`RLIMIT_FSIZE`, read for every batch, so a limit lowered while the
/// process runs counts from the next batch): lines that would are dropped
/// (`file_size_limit`), whole. A copy of the file that a killed
/// `privlog subject erase` left (`.{name}.erase.tmp`) is removed on open.
/// A record counts as delivered once its line is in the file; lines that
/// could not be written count as dropped (`sink_error`, or
/// `file_size_limit`).
///
/// For rotation and retention use the rotating file sink.
#[derive(Debug)]
pub struct FileSink {
    name: String,
    file: LinesFile,
    sync: bool,
    format: LineFormat,
    ledger: Option<Ledger>,
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl FileSink {
    /// Opens `path` for appending.
    ///
    /// # Errors
    /// The I/O error, with the path in the message.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SinkError> {
        let path = path.as_ref().to_path_buf();
        // A copy of the file left by a `privlog subject erase` that was
        // killed; one an erase is working on stays.
        let _ = rewrite_temp::remove_if_left_over(&rewrite_temp::temp_path(&path));
        let name = format!("file:{}", path.display());
        let file = LinesFile::open(path.clone()).map_err(|e| open_error(&path, e))?;
        Ok(FileSink {
            name,
            file,
            sync: false,
            format: LineFormat::Ndjson,
            ledger: None,
            buf: Vec::with_capacity(64 * 1024),
            ends: Vec::new(),
        })
    }

    /// Calls `fsync` after every flush, so flushed records survive a power
    /// loss. Defaults to off (the operating system writes them back).
    pub fn sync_on_flush(mut self, on: bool) -> Self {
        self.sync = on;
        self
    }

    /// How each record is written: NDJSON (the default, the only format the
    /// `privlog` tools read), or a Common / Combined Log Format line for
    /// access-log analysers (see [`LineFormat`]).
    pub fn format(mut self, format: LineFormat) -> Self {
        self.format = format;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Writes the encoded lines, following the file at the path. Returns how
    /// many lines reached the file, and the problem that kept the others out
    /// with their drop reason.
    fn append(&mut self) -> (usize, Option<(DropReason, SinkError)>) {
        let (written, kept_out) = self.file.append_lines(&self.buf, &self.ends, None);
        let lost = self.ends.len() - written;
        let path = self.file.path();
        let problem = kept_out.map(|k| match k {
            KeptOut::Open(e) => (DropReason::SinkError, open_error(path, e)),
            KeptOut::Replaced => (DropReason::SinkError, replaced_error(path, lost as u64)),
            KeptOut::Busy => (DropReason::SinkError, busy_error(path, lost as u64)),
            KeptOut::Write(e) => write_problem(path, lost, e),
        });
        (written, problem)
    }
}

fn open_error(path: &Path, e: io::Error) -> SinkError {
    SinkError::with_source(
        format!(
            "cannot open log file {} for appending (check the directory exists and is writable)",
            path.display()
        ),
        e,
    )
}

fn write_problem(path: &Path, lost: usize, e: io::Error) -> (DropReason, SinkError) {
    if e.kind() == io::ErrorKind::FileTooLarge {
        let error = SinkError::with_source(
            format!(
                "cannot write {lost} records to log file {}: they would take it past the file-size limit, \
                 so they are dropped whole; {LIMIT_FIX}",
                path.display()
            ),
            e,
        );
        return (FILE_SIZE_LIMIT, error);
    }
    let error = SinkError::with_source(
        format!(
            "cannot write log file {} ({lost} records dropped; check the disk and the file's permissions)",
            path.display()
        ),
        e,
    );
    (DropReason::SinkError, error)
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn attach(&mut self, ledger: Ledger) -> Accounting {
        self.ledger = Some(ledger);
        Accounting::Sink
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.buf.clear();
        self.ends.clear();
        for r in batch {
            self.format.write(r, &mut self.buf);
            self.ends.push(self.buf.len());
        }
        let (written, problem) = self.append();
        // Without a ledger (a wrapper that does not pass `attach` on) the
        // pipeline counts the batch: delivered on `Ok`, dropped on `Err`.
        if let Some(ledger) = &self.ledger {
            ledger.delivered(written as u64);
            if let Some((reason, _)) = &problem {
                ledger.dropped(*reason, (batch.len() - written) as u64);
            }
        }
        match problem {
            None => Ok(()),
            Some((_, e)) => Err(e),
        }
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if self.sync {
            self.file
                .sync()
                .map_err(|e| SinkError::with_source(format!("cannot fsync {}", self.file.path().display()), e))?;
        }
        Ok(())
    }
}
