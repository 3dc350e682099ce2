//! Where batches the collector refused as invalid are kept.

use std::io;
use std::path::PathBuf;

use crate::Record;
use crate::record::write_ndjson;
use crate::sink::fsize::{FILE_SIZE_LIMIT, RAISE_LIMIT};
use crate::sink::shared_file::{LinesFile, is_cap_reached};
use crate::sink::{DropReason, SinkError};

/// Refused records dropped because the dead-letter file reached
/// `dead_letter_max_bytes`.
pub(crate) const DEAD_LETTER_FULL: DropReason = DropReason::Other("dead_letter_full");

/// An append-only NDJSON file of refused records (the same sanitized records,
/// in the canonical form, readable by `privlog` and any NDJSON tool).
///
/// Records are appended as whole lines under the shared lock the file sinks
/// take (so `privlog subject erase` can rewrite the file while the sink
/// runs), never past the process's file-size limit nor past its own cap.
#[derive(Debug, Default)]
pub(crate) struct DeadLetter {
    file: Option<LinesFile>,
    /// The size the file may reach.
    max_bytes: u64,
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
        /// Why the others were kept out, when the file's bounds did it (the
        /// file-size limit, the file's cap): they count as that reason;
        /// `None`: an I/O error, they count as refused.
        kept_out: Option<DropReason>,
        /// What kept them out, with the file and the fix.
        error: SinkError,
    },
}

impl DeadLetter {
    pub(crate) fn new(path: Option<PathBuf>, max_bytes: u64) -> Self {
        DeadLetter {
            file: path.map(LinesFile::new),
            max_bytes,
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
        let (lines, error) = file.append_within(&self.buf, &self.ends, Some(self.max_bytes));
        let Some(error) = error else {
            return match file.sync() {
                Ok(()) => Kept::All,
                // The lines are in the file; only their durability is in doubt.
                Err(e) => Kept::Part {
                    lines,
                    kept_out: None,
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
                kept_out: Some(FILE_SIZE_LIMIT),
                error,
            };
        }
        if is_cap_reached(&error) {
            let error = SinkError::new(format!(
                "cannot write {lost} refused records to the dead-letter file {path}: it reached \
                 dead_letter_max_bytes ({} bytes), so they are dropped (dead_letter_full); fix what the \
                 collector refuses (credentials, schema), send the file again and move it away (privlog \
                 starts a new one at the path), or raise dead_letter_max_bytes",
                self.max_bytes
            ));
            return Kept::Part {
                lines,
                kept_out: Some(DEAD_LETTER_FULL),
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
            kept_out: None,
            error,
        }
    }
}
