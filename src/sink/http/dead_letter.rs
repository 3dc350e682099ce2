//! Where batches the collector refused as invalid are kept.

use std::io;
use std::path::PathBuf;

use crate::Record;
use crate::record::write_ndjson;
use crate::sink::SinkError;
use crate::sink::fsize::RAISE_LIMIT;
use crate::sink::shared_file::LinesFile;

/// An append-only NDJSON file of refused records (the same sanitized records,
/// in the canonical form, readable by `privlog` and any NDJSON tool).
///
/// Records are appended as whole lines under the shared lock the file sinks
/// take (so `privlog subject erase` can rewrite the file while the sink
/// runs), never past the process's file-size limit.
#[derive(Debug, Default)]
pub(crate) struct DeadLetter {
    file: Option<LinesFile>,
    buf: Vec<u8>,
    ends: Vec<usize>,
}

/// What became of refused records.
#[derive(Debug)]
pub(crate) enum Kept {
    /// No dead-letter file is configured.
    NoFile,
    /// All of them are in the file.
    All,
    /// Only the first `lines` are in the file.
    Part {
        /// Records written whole.
        lines: usize,
        /// Whether the file-size limit kept the others out.
        limit: bool,
        /// What kept them out, with the file and the fix.
        error: SinkError,
    },
}

impl DeadLetter {
    pub(crate) fn new(path: Option<PathBuf>) -> Self {
        DeadLetter {
            file: path.map(LinesFile::new),
            buf: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Appends `records` and syncs them to disk.
    pub(crate) fn write(&mut self, records: &[Record]) -> Kept {
        let Some(file) = self.file.as_mut() else {
            return Kept::NoFile;
        };
        self.buf.clear();
        self.ends.clear();
        for r in records {
            write_ndjson(r, &mut self.buf);
            self.ends.push(self.buf.len());
        }
        let (lines, error) = file.append(&self.buf, &self.ends);
        let Some(error) = error else {
            return match file.sync() {
                Ok(()) => Kept::All,
                // The lines are in the file; only their durability is in doubt.
                Err(e) => Kept::Part {
                    lines,
                    limit: false,
                    error: SinkError::with_source(
                        format!(
                            "cannot fsync the dead-letter file {} (check the disk)",
                            file.path().display()
                        ),
                        e,
                    ),
                },
            };
        };
        let lost = records.len() - lines;
        let path = file.path().display();
        if error.kind() == io::ErrorKind::FileTooLarge {
            let error = SinkError::with_source(
                format!(
                    "cannot write {lost} refused records to the dead-letter file {path}: they would take it \
                     past the file-size limit, so they are dropped (file_size_limit); {RAISE_LIMIT}, \
                     or move the full file away (privlog starts a new one at the path)"
                ),
                error,
            );
            return Kept::Part {
                lines,
                limit: true,
                error,
            };
        }
        let error = SinkError::with_source(
            format!(
                "cannot write {lost} refused records to the dead-letter file {path} (check the directory \
                 exists and is writable)"
            ),
            error,
        );
        Kept::Part {
            lines,
            limit: false,
            error,
        }
    }
}
