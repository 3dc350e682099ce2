use std::sync::{Arc, Mutex, PoisonError};

use super::{Sink, SinkError};
use crate::Record;

/// Keeps records in memory, for tests and examples. Clones share the records.
///
/// ```
/// let mem = privlog::sink::MemorySink::new();
/// let reader = mem.clone(); // give `mem` to the builder, read through `reader`
/// assert!(reader.records().is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<Record>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every record written so far.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Takes every record written so far, leaving the sink empty.
    pub fn take(&self) -> Vec<Record> {
        std::mem::take(&mut *self.records.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many records were written so far.
    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no record was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Sink for MemorySink {
    fn name(&self) -> &str {
        "memory"
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(batch);
        Ok(())
    }
}
