use tracing::Level;

use crate::Record;
use crate::sink::{Accounting, DropReason, Ledger, Sink, SinkError};

/// The `tracing` target every record event has.
pub const RECORD_TARGET: &str = "privlog::record";

/// Emits each record as one [`tracing`] event, so an existing subscriber
/// (`tracing_subscriber::fmt`, its JSON formatter, an OpenTelemetry log
/// appender) receives the records where the application's logs already go.
///
/// Every event has the target [`RECORD_TARGET`] (`privlog::record`), the
/// message `request`, and one field per record field with the record's names
/// (`v`, `ts`, `client`, `method`, `route`, `path`, `query`, `status`,
/// `req_bytes`, `resp_bytes`, `ttfb_us`, `duration_us`, `outcome`, `proto`,
/// `account`, `account_src`, `tenant`, `epoch`, `kid`). Absent values (`None`) are left out
/// of the event. Numbers are numbers, `ts` is the RFC 3339 string.
///
/// The events are emitted on the sink's own thread, so the subscriber must be
/// the global default (`tracing_subscriber::fmt().init()` and friends), not a
/// thread-local one. Filter them in or out with the target:
/// `RUST_LOG=info,privlog::record=info`.
///
/// ```
/// use privlog::sink::TracingSink;
///
/// tracing_subscriber::fmt().json().init();
/// let (layer, guard) = privlog::builder().sink(TracingSink::new()).build()?;
/// # let _ = (layer, guard);
/// # Ok::<(), privlog::BuildError>(())
/// ```
///
/// prints, for each request:
///
/// ```text
/// {"timestamp":"2026-11-22T09:30:00.125Z","level":"INFO","fields":{"message":"request","v":1,"ts":"2026-11-22T09:30:00.123Z","client":"203.0.113.0/24","method":"GET","route":"/health","path":"/health","status":200,"req_bytes":0,"resp_bytes":2,"ttfb_us":41,"duration_us":63,"outcome":"completed","proto":"HTTP/1.1","epoch":"2026-11","kid":"k_1f0e2d3c"},"target":"privlog::record"}
/// ```
///
/// A record whose event no subscriber wants (filtered out by level or target)
/// is counted as dropped for reason `filtered`, so a filter that hides the
/// records shows up in the statistics.
#[derive(Debug)]
pub struct TracingSink {
    level: Level,
    ledger: Option<Ledger>,
    ts: Vec<u8>,
}

impl Default for TracingSink {
    fn default() -> Self {
        Self::new()
    }
}

impl TracingSink {
    /// A sink emitting [`Level::INFO`] events.
    pub fn new() -> Self {
        TracingSink {
            level: Level::INFO,
            ledger: None,
            ts: Vec::with_capacity(32),
        }
    }

    /// The level of the events. Defaults to [`Level::INFO`].
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    fn wanted(&self) -> bool {
        match self.level {
            Level::ERROR => tracing::enabled!(target: RECORD_TARGET, Level::ERROR),
            Level::WARN => tracing::enabled!(target: RECORD_TARGET, Level::WARN),
            Level::INFO => tracing::enabled!(target: RECORD_TARGET, Level::INFO),
            Level::DEBUG => tracing::enabled!(target: RECORD_TARGET, Level::DEBUG),
            Level::TRACE => tracing::enabled!(target: RECORD_TARGET, Level::TRACE),
        }
    }
}

/// One event at a level known at compile time (the macro needs a constant).
macro_rules! record_event {
    ($level:expr, $r:expr, $ts:expr) => {
        tracing::event!(
            target: RECORD_TARGET,
            $level,
            v = $r.v,
            ts = $ts,
            client = $r.client.as_deref(),
            method = $r.method.as_str(),
            route = $r.route.as_deref(),
            path = $r.path.as_str(),
            query = $r.query.as_deref(),
            status = $r.status,
            req_bytes = $r.req_bytes,
            resp_bytes = $r.resp_bytes,
            ttfb_us = $r.ttfb_us,
            duration_us = $r.duration_us,
            outcome = $r.outcome.as_str(),
            proto = $r.proto.as_str(),
            account = $r.account.as_deref(),
            account_src = $r.account_src.map(|s| s.as_str()),
            tenant = $r.tenant.as_deref(),
            epoch = $r.epoch.as_str(),
            kid = $r.kid.as_str(),
            "request"
        )
    };
}

impl Sink for TracingSink {
    fn name(&self) -> &str {
        "tracing"
    }

    fn attach(&mut self, ledger: Ledger) -> Accounting {
        self.ledger = Some(ledger);
        Accounting::Sink
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let n = batch.len() as u64;
        if !self.wanted() {
            if let Some(l) = &self.ledger {
                l.dropped(DropReason::Other("filtered"), n);
            }
            return Ok(());
        }
        for r in batch {
            self.ts.clear();
            crate::record::write_ts(r.ts, &mut self.ts);
            let ts = std::str::from_utf8(&self.ts).unwrap_or_default();
            match self.level {
                Level::ERROR => record_event!(Level::ERROR, r, ts),
                Level::WARN => record_event!(Level::WARN, r, ts),
                Level::INFO => record_event!(Level::INFO, r, ts),
                Level::DEBUG => record_event!(Level::DEBUG, r, ts),
                Level::TRACE => record_event!(Level::TRACE, r, ts),
            }
        }
        if let Some(l) = &self.ledger {
            l.delivered(n);
        }
        Ok(())
    }
}
