//! Every record is accounted for, over real sockets: requests complete while
//! a sink is stuck, overflow drops are counted exactly, records made after
//! shutdown are counted, and a graceful shutdown writes everything queued.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // tests: a failed unwrap is a failed test

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use privlog::sink::{DropReason, FileSink, MemorySink, Sink, SinkError, SinkStats};
use privlog::{Policy, Record, Stats};
use support::PATIENCE;
use support::addon::{Server, key};
use support::client::{empty, get, send};
use support::files::TempDir;

/// A gate a sink waits at until the test opens it.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }

    fn wait(&self) {
        let mut open = self.0.0.lock().unwrap();
        while !*open {
            open = self.0.1.wait(open).unwrap();
        }
    }
}

/// Wraps a sink: every write first waits at the gate; counts what it passed on.
struct GatedSink<S> {
    inner: S,
    gate: Gate,
    written: Arc<AtomicU64>,
}

impl<S: Sink> Sink for GatedSink<S> {
    fn name(&self) -> &str {
        "gated"
    }

    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.gate.wait();
        self.inner.write(batch)?;
        self.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }
}

fn sink<'a>(stats: &'a Stats, name: &str) -> &'a SinkStats {
    stats
        .sinks
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no sink {name} in {stats:?}"))
}

/// Waits until the pipeline has dispatched all `n` created records and every
/// counter is at rest.
async fn settle(s: &Server, n: u64) -> Stats {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats = s.layer.stats();
        // Every sink but the stuck one has written what it got.
        let sinks_idle = stats.sinks.iter().all(|x| x.name == "gated" || x.queued == 0);
        if stats.created == n && stats.queued == 0 && sinks_idle && stats.is_balanced() {
            return stats;
        }
        assert!(Instant::now() < deadline, "pipeline never settled: {stats:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_sink_overflow_is_counted_exactly_and_requests_still_complete() {
    let gate = Gate::default();
    let written = Arc::new(AtomicU64::new(0));
    let gated = GatedSink {
        inner: MemorySink::new(),
        gate: gate.clone(),
        written: written.clone(),
    };
    let queue = 4;
    let builder = privlog::builder()
        .policy(Policy::atlassian_connect())
        .batch_size(1)
        .sink_queue_batches(queue)
        .sink(gated);
    let s = Server::start(builder, support::addon::addon).await;
    let n: u64 = 40;
    for _ in 0..n {
        // Each request completes although one sink is stuck.
        let (res, _) = send(s.addr, get(s.addr, "/health").body(empty()).unwrap()).await;
        assert_eq!(res.status(), 200);
    }
    let stats = settle(&s, n).await;
    assert_eq!(stats.dispatched, n);
    let stuck = sink(&stats, "gated");
    assert_eq!(stuck.received, n);
    assert_eq!(stuck.delivered, 0, "nothing passes the closed gate");
    // One batch in the sink's hands, the queue full, the rest dropped.
    assert!(stuck.queued <= queue as u64 + 1, "{stuck:?}");
    assert_eq!(
        stuck.queued + stuck.dropped_for(DropReason::SinkQueueFull),
        n,
        "{stuck:?}"
    );
    assert!(stuck.dropped_for(DropReason::SinkQueueFull) >= n - queue as u64 - 1);
    // The other sinks account for every record on their own.
    for other in stats.sinks.iter().filter(|x| x.name != "gated") {
        assert_eq!(other.queued, 0, "{other:?}");
        assert_eq!(other.delivered + other.dropped_total(), n, "{other:?}");
    }
    assert_eq!(s.mem.len() as u64, sink(&stats, "memory").delivered);

    gate.open();
    let (report, text) = s.stop().await;
    assert!(report.complete);
    let stats = report.stats;
    assert!(stats.is_balanced(), "{stats:?}");
    let stuck = sink(&stats, "gated");
    assert_eq!(
        stuck.delivered,
        written.load(Ordering::Relaxed),
        "delivered = what reached the sink"
    );
    assert_eq!(
        stuck.delivered + stuck.dropped_for(DropReason::SinkQueueFull),
        n,
        "every record delivered or dropped with its reason: {stuck:?}"
    );
    assert_eq!(stuck.dropped_total(), stuck.dropped_for(DropReason::SinkQueueFull));
    let file = stats
        .sinks
        .iter()
        .find(|x| x.name.starts_with("file:"))
        .expect("file sink");
    assert_eq!(support::records::parse_file(&text).len() as u64, file.delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_handoff_queue_under_a_burst_accounts_for_every_record() {
    let builder = privlog::builder()
        .policy(Policy::atlassian_connect())
        .queue_capacity(1)
        .batch_size(1)
        // Only the hand-off queue is tiny; the sinks keep up.
        .sink_queue_batches(1000);
    let s = Server::start(builder, support::addon::addon).await;
    let n = 200;
    let mut tasks = Vec::new();
    for _ in 0..n {
        let addr = s.addr;
        tasks.push(tokio::spawn(async move {
            send(addr, get(addr, "/health").body(empty()).unwrap()).await.0.status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200, "no request waits on or fails for logging");
    }
    let mem = s.mem.clone();
    let (report, text) = s.stop().await;
    let stats = report.stats;
    assert!(report.complete);
    assert!(stats.is_balanced(), "{stats:?}");
    assert_eq!(stats.created, n);
    assert_eq!(stats.dropped_shutdown, 0);
    assert_eq!(stats.created, stats.dispatched + stats.dropped_queue_full);
    // What was not dropped at the hand-off reached every sink.
    assert_eq!(mem.len() as u64, stats.dispatched);
    assert_eq!(support::records::parse_file(&text).len() as u64, stats.dispatched);
    for sink in &stats.sinks {
        assert_eq!(sink.delivered, stats.dispatched, "{sink:?}");
        assert_eq!(sink.dropped_total(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_made_after_shutdown_are_counted_not_lost_silently() {
    let mut s = Server::connect_addon(Policy::atlassian_connect()).await;
    send(s.addr, get(s.addr, "/health").body(empty()).unwrap()).await;
    s.records(1).await;
    // The pipeline stops while the server keeps serving.
    let report = s.shutdown_pipeline().await;
    assert!(report.complete);
    assert_eq!(report.stats.created, 1);
    let late = 5;
    for _ in 0..late {
        let (res, _) = send(s.addr, get(s.addr, "/health").body(empty()).unwrap()).await;
        assert_eq!(res.status(), 200, "requests are served without a pipeline");
    }
    let stats = s.layer.stats();
    assert_eq!(stats.created, 1 + late);
    assert_eq!(stats.dropped_shutdown, late);
    assert_eq!(stats.dispatched, 1);
    assert!(stats.is_balanced(), "{stats:?}");
    assert_eq!(s.mem.len(), 1);
    s.stop_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_writes_every_queued_record() {
    let dir = TempDir::new("shutdown");
    let log = dir.path().join("records.ndjson");
    let gate = Gate::default();
    let written = Arc::new(AtomicU64::new(0));
    let mem = MemorySink::new();
    let (layer, guard) = privlog::builder()
        .key(key())
        .policy(Policy::atlassian_connect())
        .batch_size(8)
        // Room for every batch while the gate is closed: nothing may be
        // dropped, only queued.
        .sink_queue_batches(1000)
        .sink(mem.clone())
        .sink(GatedSink {
            inner: FileSink::open(&log).unwrap(),
            gate: gate.clone(),
            written: written.clone(),
        })
        .build()
        .unwrap();
    let s = Server::serve(support::addon::addon(layer.clone()), layer, guard, mem, log, dir).await;
    let n = 300;
    for i in 0..n {
        let path = if i % 3 == 0 {
            "/health"
        } else {
            "/export/a.csv?size=100"
        };
        send(s.addr, get(s.addr, path).body(empty()).unwrap()).await;
    }
    s.records(n).await;
    let before = s.layer.stats();
    assert_eq!(before.created, n as u64);
    assert_eq!(
        sink(&before, "gated").delivered,
        0,
        "the file sink is still holding everything"
    );
    // Open the gate and shut down at once: what is queued must still be written.
    gate.open();
    let (report, text) = s.stop().await;
    assert!(report.complete, "{:?}", report.stats);
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    assert_eq!(sink(&report.stats, "gated").delivered, n as u64);
    assert_eq!(written.load(Ordering::Relaxed), n as u64);
    let records = support::records::parse_file(&text);
    assert_eq!(records.len(), n);
    assert_eq!(
        records.iter().filter(|r| r.route.as_deref() == Some("/health")).count(),
        n.div_ceil(3)
    );
}

/// A sink whose every write panics.
struct PanickingSink;

impl Sink for PanickingSink {
    fn name(&self) -> &str {
        "panicking"
    }

    fn write(&mut self, _batch: &[Record]) -> Result<(), SinkError> {
        panic!("a bug in a sink");
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_sink_loses_only_its_own_records_and_counts_them() {
    let builder = privlog::builder()
        .policy(Policy::atlassian_connect())
        .batch_size(1)
        .sink(PanickingSink);
    let s = Server::start(builder, support::addon::addon).await;
    let n: u64 = 30;
    for _ in 0..n {
        let (res, _) = send(s.addr, get(s.addr, "/health").body(empty()).unwrap()).await;
        assert_eq!(res.status(), 200, "a sink's panic never reaches a request");
    }
    let mem = s.mem.clone();
    let (report, text) = s.stop().await;
    let stats = report.stats;
    assert!(stats.is_balanced(), "{stats:?}");
    assert_eq!(stats.dispatched, n);
    let broken = sink(&stats, "panicking");
    assert_eq!(broken.delivered, 0);
    assert_eq!(broken.queued, 0, "nothing is left counted as on its way: {broken:?}");
    assert_eq!(broken.dropped_for(DropReason::SinkError), n, "{broken:?}");
    // The other sinks got everything.
    assert_eq!(mem.len() as u64, n);
    assert_eq!(support::records::parse_file(&text).len() as u64, n);
}
