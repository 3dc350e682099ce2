//! Where batches the collector refused as invalid are kept.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::PathBuf;

use crate::Record;
use crate::record::write_ndjson;
use crate::sink::SinkError;

/// An append-only NDJSON file of refused records (the same sanitized records,
/// in the canonical form, readable by `privlog` and any NDJSON tool).
#[derive(Debug, Default)]
pub(crate) struct DeadLetter {
    path: Option<PathBuf>,
}

impl DeadLetter {
    pub(crate) fn new(path: Option<PathBuf>) -> Self {
        DeadLetter { path }
    }

    /// Appends `records` and syncs them to disk. `Ok(false)` when no file is configured.
    pub(crate) fn write(&self, records: &[Record]) -> Result<bool, SinkError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let mut buf = Vec::with_capacity(records.len() * 320);
        for r in records {
            write_ndjson(r, &mut buf);
        }
        let err = |e| {
            SinkError::with_source(
                format!(
                    "cannot write the dead-letter file {} (check the directory exists and is writable)",
                    path.display()
                ),
                e,
            )
        };
        let mut f = OpenOptions::new().create(true).append(true).open(path).map_err(err)?;
        f.write_all(&buf).map_err(err)?;
        f.sync_data().map_err(err)?;
        Ok(true)
    }
}
