use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::batch::{BatchConfig, Batcher};
use super::builder::{HttpSinkBuilder, Refused, shown};
use super::client::{Client, ClientConfig, Reply};
use super::dead_letter::{DeadLetter, Kept};
use super::encoder::Encoder;
use super::retry::{Class, RetryPolicy, classify};
use crate::Record;
use crate::sink::spool::{Recovery, Spool, SpoolBatch};
use crate::sink::util::{Backoff, RateLimited};
use crate::sink::{Accounting, DropReason, Held, Ledger, Sink, SinkError};

/// Records dropped because memory was full and no spool was configured.
const BUFFER_FULL: DropReason = DropReason::Other("buffer_full");

/// Ships records to an HTTP collector in batches, retrying and spooling
/// until they are delivered (see the [module docs](super)).
pub struct HttpSink {
    name: String,
    url: String,
    encoder: Arc<dyn Encoder>,
    batch_cfg: BatchConfig,
    batcher: Batcher,
    retry: RetryPolicy,
    backoff: Backoff,
    /// Full batches waiting to be sent, oldest first (held as `Buffered`).
    ready: VecDeque<Arc<Vec<Record>>>,
    ready_records: usize,
    max_buffered: usize,
    in_flight: HashMap<u64, Flight>,
    max_in_flight: usize,
    next_id: u64,
    spool: Option<Spool>,
    recovery: Recovery,
    spool_in_flight: bool,
    client: Client,
    dead_letter: DeadLetter,
    ledger: Ledger,
    warnings: RateLimited,
}

impl fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSink")
            .field("name", &self.name)
            .field("url", &shown(&self.url))
            .field("encoder", &self.encoder.name())
            .field("in_flight", &self.in_flight.len())
            .field("ready_records", &self.ready_records)
            .field("spool", &self.spool.as_ref().map(Spool::dir))
            .finish_non_exhaustive()
    }
}

struct Flight {
    records: Arc<Vec<Record>>,
    /// `Some` when the records came from the spool (acknowledged on delivery).
    spooled: Option<SpoolBatch>,
}

impl HttpSink {
    /// Starts building a sink that POSTs batches to `url`.
    pub fn builder(url: impl Into<String>) -> HttpSinkBuilder {
        HttpSinkBuilder::new(url)
    }

    /// Opens the spool and starts the request threads of a checked builder.
    pub(crate) fn from_builder(b: HttpSinkBuilder) -> Result<HttpSink, Refused> {
        let url = match b.encoder.url_query() {
            Some(q) if b.url.contains('?') => format!("{}&{q}", b.url),
            Some(q) => format!("{}?{q}", b.url),
            None => b.url.clone(),
        };
        let name = b.name.unwrap_or_else(|| b.encoder.name().to_owned());
        let (spool, recovery) = match b.spool {
            Some(cfg) => {
                let (s, r) = Spool::open(cfg).map_err(|e| Refused {
                    field: "spool_dir",
                    reason: "cannot open the spool".to_owned(),
                    source: Some(e),
                })?;
                (Some(s), r)
            }
            None => (None, Recovery::default()),
        };
        let client = Client::start(ClientConfig {
            url: url.clone(),
            encoder: Arc::clone(&b.encoder),
            headers: b.headers,
            gzip: b.gzip,
            timeout: b.timeout,
            threads: b.max_in_flight,
            ca_pem: b.ca_pem,
            name: name.clone(),
        })
        .map_err(|e| Refused {
            field: "max_in_flight",
            reason: "cannot start the request threads (lower max_in_flight or raise the thread limit)".to_owned(),
            source: Some(e),
        })?;
        Ok(HttpSink {
            ledger: Ledger::detached(&name),
            name,
            url,
            encoder: b.encoder,
            batch_cfg: b.batch,
            batcher: Batcher::new(b.batch),
            retry: b.retry,
            backoff: Backoff::default(),
            ready: VecDeque::new(),
            ready_records: 0,
            max_buffered: b.max_buffered_records,
            in_flight: HashMap::new(),
            max_in_flight: b.max_in_flight,
            next_id: 0,
            spool,
            recovery,
            spool_in_flight: false,
            client,
            dead_letter: DeadLetter::new(b.dead_letter, b.dead_letter_max_bytes),
            warnings: RateLimited::default(),
        })
    }

    /// Records waiting in the spool (none without a spool).
    pub fn spooled(&self) -> u64 {
        self.spool.as_ref().map_or(0, Spool::pending)
    }

    fn warn(&mut self, what: &str, detail: &str) {
        let Some(suppressed) = self.warnings.check() else {
            return;
        };
        tracing::warn!(
            target: "privlog",
            sink = %self.name,
            url = %shown(&self.url),
            detail = %detail,
            warnings_suppressed = suppressed,
            "privlog http sink: {what}"
        );
    }

    fn enqueue(&mut self, batch: Vec<Record>) {
        if batch.is_empty() {
            return;
        }
        self.ready_records += batch.len();
        self.ready.push_back(Arc::new(batch));
    }

    /// Moves held-in-memory records to the spool, or drops them for `reason`
    /// when there is no spool or it is full.
    fn spill(&mut self, records: &[Record], reason: DropReason) {
        if self.spool.is_none() {
            self.ledger.drop_held(Held::Buffered, reason, records.len() as u64);
            return;
        }
        let mut rest = records;
        while let Some(spool) = self.spool.as_mut() {
            let n = rest.len() as u64;
            match spool.append(rest) {
                Ok(k) => {
                    let k = k as u64;
                    self.ledger.move_held(Held::Buffered, Held::Spooled, k);
                    if k < n {
                        self.ledger.drop_held(Held::Buffered, DropReason::SpoolFull, n - k);
                        self.warn("spool full, records dropped", &format!("{} records", n - k));
                    }
                    return;
                }
                Err(e) => {
                    // The records the spool took before the error are in it.
                    let k = e.appended();
                    self.ledger.move_held(Held::Buffered, Held::Spooled, k as u64);
                    if e.is_file_size_limit() && k < rest.len() {
                        // Only the next record is too long for a segment
                        // file under the limit: the ones after it may fit.
                        self.ledger.drop_held(Held::Buffered, e.reason(), 1);
                        self.warn("record too long for the file-size limit, dropped", &e.to_string());
                        rest = &rest[k + 1..];
                        if rest.is_empty() {
                            return;
                        }
                        continue;
                    }
                    self.ledger.drop_held(Held::Buffered, e.reason(), n - k as u64);
                    let what = if (k as u64) < n {
                        "cannot write the spool, records dropped"
                    } else {
                        "records spooled, but the spool cannot fsync"
                    };
                    self.warn(what, &e.to_string());
                    return;
                }
            }
        }
    }

    /// Everything that does not need the caller to wait.
    fn pump(&mut self, now: Instant) {
        while let Some((id, reply)) = self.client.try_reply() {
            self.on_reply(id, reply, now);
        }
        if let Some(b) = self.batcher.take_due(now) {
            self.enqueue(b);
        }
        self.relieve(now);
        self.dispatch(now);
    }

    /// While the collector is failing, batches go to the spool at once; and
    /// memory never holds more than `max_buffered` waiting records.
    fn relieve(&mut self, now: Instant) {
        let failing = !self.backoff.ready(now) && self.spool.is_some();
        while self.ready_records > self.max_buffered || (failing && !self.ready.is_empty()) {
            let Some(b) = self.ready.pop_front() else { break };
            self.ready_records -= b.len();
            self.spill(&b, BUFFER_FULL);
        }
    }

    fn dispatch(&mut self, now: Instant) {
        if !self.backoff.ready(now) {
            return;
        }
        // While the collector is failing one request at a time probes it.
        let limit = if self.backoff.failures() > 0 {
            1
        } else {
            self.max_in_flight
        };
        // A failure inside this loop (the request threads are gone) starts a backoff.
        while self.in_flight.len() < limit && self.backoff.ready(now) {
            if !self.spool_in_flight && self.send_from_spool() {
                continue;
            }
            let Some(b) = self.ready.pop_front() else { break };
            self.ready_records -= b.len();
            self.start(b, None);
        }
    }

    /// Sends the oldest spooled batch; `false` when there is none.
    fn send_from_spool(&mut self) -> bool {
        let Some(spool) = self.spool.as_mut() else { return false };
        if spool.is_empty() {
            return false;
        }
        loop {
            let batch = match spool.peek(self.batch_cfg.max_records, self.batch_cfg.max_bytes) {
                Ok(Some(b)) => b,
                Ok(None) => return false,
                Err(e) => {
                    let msg = e.to_string();
                    self.warn("cannot read the spool", &msg);
                    return false;
                }
            };
            if batch.records.is_empty() {
                // Only damage: account for it and read on. The spool has
                // moved past it even when it could not write that down.
                let acked = spool.ack(&batch);
                self.ledger.drop_held(Held::Spooled, DropReason::Corrupt, batch.damaged);
                if let Err(e) = acked {
                    let msg = e.to_string();
                    self.warn("cannot acknowledge spooled records", &msg);
                    return false;
                }
                continue;
            }
            let mut batch = batch;
            let records = Arc::new(std::mem::take(&mut batch.records));
            self.spool_in_flight = true;
            self.start(records, Some(batch));
            return true;
        }
    }

    fn start(&mut self, records: Arc<Vec<Record>>, spooled: Option<SpoolBatch>) {
        let id = self.next_id;
        self.next_id += 1;
        let sent = self.client.send(id, Arc::clone(&records));
        self.in_flight.insert(id, Flight { records, spooled });
        if !sent {
            self.on_reply(id, Reply::Transport("request threads stopped".into()), Instant::now());
        }
    }

    fn on_reply(&mut self, id: u64, reply: Reply, now: Instant) {
        let Some(flight) = self.in_flight.remove(&id) else {
            return;
        };
        match reply {
            Reply::Status {
                status,
                retry_after,
                body,
            } => match classify(status) {
                Class::Retry if self.encoder.refuses_batch(status, &body) => {
                    let detail = format!("status {status}: {}", snippet(&body));
                    self.warn("collector refused a batch as invalid", &detail);
                    let all: Vec<usize> = (0..flight.records.len()).collect();
                    self.partly_delivered(flight, &[], &all, status, &body);
                }
                Class::Delivered => {
                    self.backoff.succeeded();
                    let failures = if self.encoder.reads_response() {
                        self.encoder.item_failures(&body, flight.records.len())
                    } else {
                        None
                    };
                    match failures {
                        None => self.delivered(flight),
                        Some(f) => {
                            if !f.retry.is_empty() {
                                // Overloaded for some records: wait before sending them again.
                                self.backoff.failed(now, |n| self.retry.delay(n, retry_after));
                            }
                            self.partly_delivered(flight, &f.retry, &f.rejected, status, &body);
                        }
                    }
                }
                Class::Retry => {
                    self.backoff.failed(now, |n| self.retry.delay(n, retry_after));
                    let detail = format!(
                        "status {status}, retry {} in {:?}",
                        self.backoff.failures(),
                        self.backoff
                            .until()
                            .map(|t| t.saturating_duration_since(now))
                            .unwrap_or_default()
                    );
                    self.warn("collector unavailable, will retry", &detail);
                    self.retry_later(flight);
                }
                Class::Reject => {
                    let detail = format!("status {status}: {}", snippet(&body));
                    self.warn("collector refused a batch as invalid", &detail);
                    let all: Vec<usize> = (0..flight.records.len()).collect();
                    self.partly_delivered(flight, &[], &all, status, &body);
                }
            },
            Reply::Transport(msg) => {
                self.backoff.failed(now, |n| self.retry.delay(n, None));
                self.warn("cannot reach the collector, will retry", &msg);
                self.retry_later(flight);
            }
        }
    }

    fn delivered(&mut self, flight: Flight) {
        let n = flight.records.len() as u64;
        match flight.spooled {
            None => self.ledger.deliver_held(Held::Buffered, n),
            Some(batch) => {
                self.ack(&batch);
                self.ledger.deliver_held(Held::Spooled, n);
                self.ledger.drop_held(Held::Spooled, DropReason::Corrupt, batch.damaged);
            }
        }
    }

    fn ack(&mut self, batch: &SpoolBatch) {
        self.spool_in_flight = false;
        if let Some(spool) = self.spool.as_mut()
            && let Err(e) = spool.ack(batch)
        {
            // The records were delivered; they may be delivered again after a restart.
            let msg = e.to_string();
            self.warn("cannot acknowledge spooled records", &msg);
        }
    }

    /// Some or all records failed inside a response: the `retry` ones are
    /// sent again, the `rejected` ones go to the dead-letter file.
    fn partly_delivered(&mut self, flight: Flight, retry: &[usize], rejected: &[usize], status: u16, body: &[u8]) {
        let held = if flight.spooled.is_some() {
            Held::Spooled
        } else {
            Held::Buffered
        };
        // Each record has one fate; an index named twice counts once, rejection first.
        const OK: u8 = 0;
        const AGAIN: u8 = 1;
        const REFUSED: u8 = 2;
        let mut fate = vec![OK; flight.records.len()];
        for &i in retry {
            if let Some(f) = fate.get_mut(i) {
                *f = AGAIN;
            }
        }
        for &i in rejected {
            if let Some(f) = fate.get_mut(i) {
                *f = REFUSED;
            }
        }
        let pick = |want: u8| -> Vec<Record> {
            flight
                .records
                .iter()
                .zip(&fate)
                .filter(|(_, f)| **f == want)
                .map(|(r, _)| r.clone())
                .collect()
        };
        let again = pick(AGAIN);
        let refused = pick(REFUSED);
        let ok = fate.iter().filter(|f| **f == OK).count() as u64;
        if let Some(batch) = &flight.spooled {
            self.ack(batch);
            self.ledger.drop_held(Held::Spooled, DropReason::Corrupt, batch.damaged);
            // What is sent again waits in memory now.
            self.ledger.move_held(Held::Spooled, Held::Buffered, again.len() as u64);
        }
        self.ledger.deliver_held(held, ok);
        if !refused.is_empty() {
            let n = refused.len() as u64;
            match self.dead_letter.write(&refused) {
                Kept::All => self.ledger.drop_held(held, DropReason::Rejected, n),
                Kept::NoFile => {
                    self.ledger.drop_held(held, DropReason::Rejected, n);
                    let detail = format!("{n} records, status {status}: {}", snippet(body));
                    self.warn("refused records dropped (no dead-letter file configured)", &detail);
                }
                Kept::Part { lines, kept_out, error } => {
                    // What the file-size limit or the file's cap kept out of
                    // the dead-letter file counts as such; the rest as refused.
                    let out = if kept_out.is_some() { n - lines as u64 } else { 0 };
                    self.ledger.drop_held(held, DropReason::Rejected, n - out);
                    if let Some(reason) = kept_out {
                        self.ledger.drop_held(held, reason, out);
                    }
                    self.warn("refused records dropped", &error.to_string());
                }
            }
        }
        if !again.is_empty() {
            self.ready_records += again.len();
            self.ready.push_front(Arc::new(again));
        }
    }

    fn retry_later(&mut self, flight: Flight) {
        match flight.spooled {
            // Still in the spool, unacknowledged: the next read returns it again.
            Some(_) => self.spool_in_flight = false,
            None if self.spool.is_some() => self.spill(&flight.records, DropReason::SpoolFull),
            None => {
                self.ready_records += flight.records.len();
                self.ready.push_front(flight.records);
            }
        }
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(200)]);
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

impl Sink for HttpSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn attach(&mut self, ledger: Ledger) -> Accounting {
        self.ledger = ledger;
        let r = self.recovery;
        self.ledger.recovered(r.records + r.torn);
        self.ledger.drop_held(Held::Spooled, DropReason::Corrupt, r.torn);
        Accounting::Sink
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let now = Instant::now();
        self.ledger.hold(Held::Buffered, batch.len() as u64);
        for r in batch {
            if let Some(full) = self.batcher.push(r.clone(), now) {
                self.enqueue(full);
            }
        }
        self.pump(now);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.pump(Instant::now());
        Ok(())
    }

    fn tick(&mut self) -> Result<(), SinkError> {
        self.pump(Instant::now());
        if let Some(spool) = self.spool.as_mut() {
            spool.maintain()?;
        }
        Ok(())
    }

    fn close(&mut self, deadline: Instant) -> Result<(), SinkError> {
        let last = self.batcher.take();
        self.enqueue(last);
        loop {
            let now = Instant::now();
            self.pump(now);
            let work = !self.ready.is_empty() || !self.in_flight.is_empty() || self.spooled() > 0;
            if !work || now >= deadline {
                break;
            }
            if self.in_flight.is_empty() {
                match self.backoff.until() {
                    // Waiting for the next retry, if it comes before the deadline.
                    Some(t) if t > now && t < deadline => {}
                    // The next retry is too late, or nothing could be sent.
                    _ => break,
                }
            }
            let wake = self
                .backoff
                .until()
                .filter(|t| *t > now)
                .unwrap_or(deadline)
                .min(deadline);
            let wait = wake
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            if let Some((id, reply)) = self.client.reply_within(wait) {
                self.on_reply(id, reply, Instant::now());
            }
        }
        // What is left stays in the spool for the next start, or is dropped and
        // counted when there is no spool. A batch still in flight may yet
        // arrive: spooling it too can deliver it twice, never zero times.
        let flights: Vec<Flight> = self.in_flight.drain().map(|(_, f)| f).collect();
        for f in flights {
            if f.spooled.is_none() {
                self.spill(&f.records, DropReason::Shutdown);
            }
        }
        while let Some(b) = self.ready.pop_front() {
            self.ready_records -= b.len();
            self.spill(&b, DropReason::Shutdown);
        }
        self.client.stop();
        if let Some(spool) = self.spool.as_mut() {
            spool.sync()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::path::PathBuf;

    use super::*;
    use crate::sink::spool::{SpoolConfig, SpoolFsync};

    struct TempDir(PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A URL nothing listens on.
    fn down_url() -> String {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_or(9, |a| a.port());
        format!("http://127.0.0.1:{port}/ingest")
    }

    #[test]
    fn damaged_spooled_records_are_counted_when_the_full_disk_refuses_the_acknowledgement() {
        let tmp = TempDir(std::env::temp_dir().join(format!("privlog-http-sink-unit-{}", std::process::id())));
        let cfg = SpoolConfig::new(&tmp.0).fsync(SpoolFsync::Never);
        {
            let (mut spool, _) = Spool::open(cfg.clone()).unwrap_or_else(|e| panic!("open: {e}"));
            // Whole frames whose lines are not records.
            spool.append_unparsable(b"not a record");
            spool.append_unparsable(b"{}");
        }
        let mut sink = HttpSink::builder(down_url())
            .spool(cfg)
            .build()
            .unwrap_or_else(|e| panic!("build: {e}"));
        let ledger = Ledger::detached("test");
        sink.attach(ledger.clone());
        assert_eq!(ledger.stats().spooled, 2);
        // Not one byte left: the acknowledgement file cannot be written.
        if let Some(spool) = sink.spool.as_mut() {
            spool.faults.disk = Some(0);
        }
        let _ = sink.tick();
        let s = ledger.stats();
        assert_eq!(s.dropped_for(DropReason::Corrupt), 2, "{s:?}");
        assert_eq!(
            s.spooled,
            sink.spooled(),
            "the ledger's spooled count is the spool's: {s:?}"
        );
        assert!(s.is_balanced(), "{s:?}");
    }
}
