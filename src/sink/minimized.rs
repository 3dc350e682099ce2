//! Per-destination field minimization: a sink that receives only the record
//! fields it is given.

use std::time::Instant;

use time::OffsetDateTime;

use super::{Accounting, Ledger, Sink, SinkError};
use crate::record::Vouched;
use crate::{Field, Fields, Record};

/// Wraps a sink so that it receives only the record fields in a [`Fields`]
/// set: the omitted fields are `None` in every record it sees, so no
/// encoding of it (NDJSON, ClickHouse, Loki, Elasticsearch, OTLP, syslog,
/// `tracing`, its spool) can hold their values.
///
/// Runs on the sink's own thread, before the sink sees the batch. The copies
/// live in a buffer kept from one batch to the next, so once warm a record
/// costs no allocation. Accounting is the wrapped sink's: one record in,
/// one record out.
///
/// ```
/// use privlog::{Field, Fields, sink::{Minimized, MemorySink}};
///
/// let third_party = Minimized::new(
///     MemorySink::new(),
///     Fields::all().without(Field::Account).without(Field::Tenant),
/// );
/// # let _ = third_party;
/// ```
#[derive(Debug)]
pub struct Minimized<S> {
    inner: S,
    fields: Fields,
    buf: Vec<Record>,
    /// Buffers of optional fields that went from `Some` to `None`.
    spares: Vec<String>,
}

impl<S: Sink> Minimized<S> {
    /// `inner`, receiving only `fields`.
    pub fn new(inner: S, fields: Fields) -> Self {
        Minimized {
            inner,
            fields,
            buf: Vec::new(),
            spares: Vec::new(),
        }
    }

    /// The fields the wrapped sink receives.
    pub fn fields(&self) -> Fields {
        self.fields
    }

    /// The wrapped sink.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the sink.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The most spare buffers kept.
const MAX_SPARES: usize = 16;

fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

fn set_opt(spares: &mut Vec<String>, dst: &mut Option<String>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => set(d, s),
        (None, Some(s)) => {
            let mut buf = spares.pop().unwrap_or_default();
            set(&mut buf, s);
            *dst = Some(buf);
        }
        (_, None) => {
            if let Some(buf) = dst.take()
                && spares.len() < MAX_SPARES
            {
                spares.push(buf);
            }
        }
    }
}

/// `dst` = `src` with only `fields`, in `dst`'s buffers.
pub(crate) fn copy_minimized(src: &Record, dst: &mut Record, fields: Fields, spares: &mut Vec<String>) {
    let keep = |f: Field| fields.contains(f);
    dst.v = src.v;
    dst.ts = src.ts;
    set_opt(
        spares,
        &mut dst.client,
        src.client.as_deref().filter(|_| keep(Field::Client)),
    );
    set(&mut dst.method, &src.method);
    set_opt(
        spares,
        &mut dst.route,
        src.route.as_deref().filter(|_| keep(Field::Route)),
    );
    set(&mut dst.path, &src.path);
    set_opt(
        spares,
        &mut dst.query,
        src.query.as_deref().filter(|_| keep(Field::Query)),
    );
    dst.status = src.status.filter(|_| keep(Field::Status));
    dst.req_bytes = src.req_bytes;
    dst.resp_bytes = src.resp_bytes;
    dst.ttfb_us = src.ttfb_us.filter(|_| keep(Field::TtfbUs));
    dst.duration_us = src.duration_us;
    dst.outcome = src.outcome;
    set(&mut dst.proto, &src.proto);
    set_opt(
        spares,
        &mut dst.account,
        src.account.as_deref().filter(|_| keep(Field::Account)),
    );
    dst.account_src = src
        .account_src
        .filter(|_| keep(Field::AccountSrc) && dst.account.is_some());
    set_opt(
        spares,
        &mut dst.tenant,
        src.tenant.as_deref().filter(|_| keep(Field::Tenant)),
    );
    set(&mut dst.epoch, &src.epoch);
    set(&mut dst.kid, &src.kid);
    // Leaving fields out changes no string that is written, so what the
    // sanitizer vouched for still holds.
    dst.vouched = if src.vouched.generated() {
        Vouched::SANITIZED
    } else {
        Vouched::default()
    };
}

impl<S: Sink> Sink for Minimized<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        if self.fields.is_all() {
            return self.inner.write(batch);
        }
        while self.buf.len() < batch.len() {
            self.buf
                .push(Record::new(OffsetDateTime::UNIX_EPOCH, String::new(), String::new()));
        }
        for (src, dst) in batch.iter().zip(self.buf.iter_mut()) {
            copy_minimized(src, dst, self.fields, &mut self.spares);
        }
        let minimized = self.buf.get(..batch.len()).unwrap_or_default();
        self.inner.write(minimized)
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
    use crate::AccountSource;

    fn full() -> Record {
        let mut r = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/x");
        r.client = Some("203.0.113.0/24".into());
        r.route = Some("/x".into());
        r.query = Some("a=1".into());
        r.status = Some(200);
        r.ttfb_us = Some(5);
        r.account = Some("acc_one".into());
        r.account_src = Some(AccountSource::App);
        r.tenant = Some("ten_one".into());
        r
    }

    #[test]
    fn all_fields_copy_the_record_and_omitted_ones_are_none() {
        let mut dst = Record::new(OffsetDateTime::UNIX_EPOCH, "", "");
        let mut spares = Vec::new();
        copy_minimized(&full(), &mut dst, Fields::all(), &mut spares);
        assert_eq!(dst, full());
        copy_minimized(&full(), &mut dst, Fields::all().without(Field::Account), &mut spares);
        assert_eq!((dst.account.as_deref(), dst.account_src), (None, None));
        assert_eq!(dst.tenant.as_deref(), Some("ten_one"));
        copy_minimized(&full(), &mut dst, Fields::required(), &mut spares);
        let mut expected = Record::new(OffsetDateTime::UNIX_EPOCH, "GET", "/x");
        expected.kid = dst.kid.clone();
        assert_eq!(dst, expected);
    }
}
