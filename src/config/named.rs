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

    fn sees_sampled_out(&self) -> bool {
        self.inner.sees_sampled_out()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fields;
    use crate::sink::Minimized;

    /// A sink that counts every request, as the usage sink does.
    struct CountsEvery;

    impl Sink for CountsEvery {
        fn name(&self) -> &str {
            "counts-every"
        }
        fn write(&mut self, _: &[Record]) -> Result<(), SinkError> {
            Ok(())
        }
        fn sees_sampled_out(&self) -> bool {
            true
        }
    }

    #[test]
    fn wrappers_keep_a_sink_seeing_the_records_sampling_left_out() {
        let named = Named {
            name: "usage".to_owned(),
            inner: Box::new(CountsEvery),
        };
        assert!(named.sees_sampled_out());
        let minimized = Minimized::new(named, Fields::all().without(crate::Field::Account));
        assert!(minimized.sees_sampled_out());
        assert!(!crate::sink::MemorySink::new().sees_sampled_out());
    }
}
