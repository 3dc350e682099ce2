//! A sink built from the configuration, under its configured name: the
//! name its accounting, warnings and metrics (`sink` label) show.

use std::time::Instant;

use crate::Record;
use crate::sink::{Accounting, Ledger, Sink, SinkError};

/// `inner` under the name `name`; everything else is `inner`'s.
pub(super) struct Named {
    pub(super) name: String,
    pub(super) inner: Box<dyn Sink>,
}

impl Sink for Named {
    fn name(&self) -> &str {
        &self.name
    }
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.inner.write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }
    fn tick(&mut self) -> Result<(), SinkError> {
        self.inner.tick()
    }
    fn attach(&mut self, ledger: Ledger) -> Accounting {
        self.inner.attach(ledger)
    }
    fn close(&mut self, deadline: Instant) -> Result<(), SinkError> {
        self.inner.close(deadline)
    }
}
