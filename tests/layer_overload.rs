//! Overload and sink faults over real sockets: a sink that blocks forever, one
//! far slower than traffic, one that always fails, a file on a full disk.
//! Requests always complete, the records held in memory stay within the
//! configured caps, and every record is accounted for with its drop reason.
//! (How much latency a stuck sink costs is measured by
//! `scripts/stuck-sink-latency.sh`, not asserted here.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use privlog::sink::{DropReason, FileSink, MemorySink, Sink, SinkError};
use privlog::{MasterKey, Policy, PrivlogLayer, Record, Stats, WorkerGuard};
use support::PATIENCE;
use support::socket::{Server, get as http_get, serve};

const QUEUE: usize = 64;
const BATCH: usize = 8;
const SINK_BATCHES: usize = 2;

/// Blocks in `write` until the gate opens; then writes to a memory sink.
#[derive(Clone)]
struct GatedSink {
    gate: Arc<(Mutex<bool>, Condvar)>,
    inner: MemorySink,
}

impl GatedSink {
    fn closed() -> Self {
        GatedSink {
            gate: Arc::new((Mutex::new(false), Condvar::new())),
            inner: MemorySink::new(),
        }
    }

    fn open(&self) {
        let (m, c) = &*self.gate;
        *m.lock().unwrap() = true;
        c.notify_all();
    }
}

impl Sink for GatedSink {
    fn name(&self) -> &str {
        "gated"
    }
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        let (m, c) = &*self.gate;
        let mut open = m.lock().unwrap();
        while !*open {
            open = c.wait(open).unwrap();
        }
        drop(open);
        self.inner.write(batch)
    }
}

/// Takes `per_record` for each record, then writes to a memory sink.
struct SlowSink {
    per_record: Duration,
    inner: MemorySink,
}

impl Sink for SlowSink {
    fn name(&self) -> &str {
        "slow"
    }
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        std::thread::sleep(self.per_record * batch.len() as u32);
        self.inner.write(batch)
    }
}

/// Fails every write, counting the attempts.
struct FailingSink(Arc<AtomicU64>);

impl Sink for FailingSink {
    fn name(&self) -> &str {
        "failing"
    }
    fn write(&mut self, _: &[Record]) -> Result<(), SinkError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Err(SinkError::new("destination unavailable"))
    }
}

fn app(layer: PrivlogLayer) -> Router {
    Router::new().route("/", get(|| async { "ok" })).layer(layer)
}

/// Sends `n` requests from `clients` concurrent clients; returns how many got 200.
async fn traffic(server: &Server, n: usize, clients: usize) -> usize {
    let addr = server.addr;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let share = n / clients + usize::from(c < n % clients);
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..share {
                if http_get(addr, "/", &[]).await.is_some_and(|r| r.status == 200) {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.expect("client task");
    }
    ok
}

/// Waits until the worker has taken every record out of the hand-off queue.
fn settled(guard: &WorkerGuard) -> Stats {
    let until = Instant::now() + PATIENCE;
    loop {
        let s = guard.stats();
        if (s.queued == 0 && s.is_balanced()) || Instant::now() > until {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_complete_while_the_sink_is_blocked_forever() {
    let sink = GatedSink::closed();
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([1; 32]))
        .policy(Policy::new())
        .queue_capacity(QUEUE)
        .batch_size(BATCH)
        .sink_queue_batches(SINK_BATCHES)
        .sink(sink.clone())
        .build()
        .expect("build");
    let server = serve(app(layer)).await;
    let n = 600;
    assert_eq!(
        traffic(&server, n, 4).await,
        n,
        "every request completed while the sink was stuck"
    );

    let s = settled(&guard);
    let sink_stats = &s.sinks[0];
    assert_eq!(s.created, n as u64);
    assert!(s.is_balanced(), "{s:?}");
    // Memory is bounded by the caps: nothing waits in the hand-off queue, and
    // the sink holds at most its queue plus the batch stuck in `write`.
    assert_eq!(s.queued, 0);
    assert!(
        sink_stats.queued <= ((SINK_BATCHES + 1) * BATCH) as u64,
        "sink holds {} records, cap {}",
        sink_stats.queued,
        (SINK_BATCHES + 1) * BATCH
    );
    assert_eq!(sink_stats.delivered, 0);
    // Drops are exact: every record is either held or dropped with a reason.
    assert_eq!(s.created, s.dropped_queue_full + s.dispatched);
    assert_eq!(
        s.dispatched,
        sink_stats.queued + sink_stats.dropped_for(DropReason::SinkQueueFull)
    );
    assert!(sink_stats.dropped_for(DropReason::SinkQueueFull) > 0);

    // Unblock: what was held is delivered, nothing else appears.
    let held = sink_stats.queued;
    sink.open();
    drop(server);
    let report = guard.shutdown_within(PATIENCE);
    assert!(report.complete);
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    assert_eq!(report.stats.sinks[0].delivered, held);
    assert_eq!(sink.inner.len() as u64, held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_a_stuck_sink_returns_at_the_deadline_with_balanced_stats() {
    let sink = GatedSink::closed();
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([2; 32]))
        .policy(Policy::new())
        .queue_capacity(QUEUE)
        .batch_size(BATCH)
        .sink_queue_batches(SINK_BATCHES)
        .sink(sink.clone())
        .build()
        .expect("build");
    let server = serve(app(layer)).await;
    assert_eq!(traffic(&server, 100, 2).await, 100);
    drop(server);
    let report = tokio::task::spawn_blocking(move || guard.shutdown_within(Duration::from_millis(300)))
        .await
        .expect("shutdown returned");
    assert!(!report.complete, "a stuck sink cannot finish");
    assert_eq!(report.stats.created, 100);
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    assert_eq!(report.stats.sinks[0].delivered, 0);
    // Let the stuck thread go.
    sink.open();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_far_slower_than_traffic_drops_exactly_what_it_reports() {
    let mem = MemorySink::new();
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([3; 32]))
        .policy(Policy::new())
        .queue_capacity(256)
        .batch_size(16)
        .sink_queue_batches(4)
        .sink(SlowSink {
            per_record: Duration::from_millis(5),
            inner: mem.clone(),
        })
        .build()
        .expect("build");
    let server = serve(app(layer)).await;
    let n = 2000;
    assert_eq!(traffic(&server, n, 4).await, n);
    let s = settled(&guard);
    assert!(
        s.sinks[0].queued <= 5 * 16,
        "slow sink holds {} records, over its cap",
        s.sinks[0].queued
    );
    drop(server);
    let report = guard.shutdown_within(PATIENCE);
    let s = report.stats;
    let sink = &s.sinks[0];
    assert!(report.complete);
    assert!(s.is_balanced(), "{s:?}");
    assert_eq!(s.created, n as u64);
    assert_eq!(
        sink.delivered,
        mem.len() as u64,
        "delivered counts exactly the records written"
    );
    assert_eq!(
        sink.delivered + sink.dropped_total() + s.dropped_queue_full,
        s.created,
        "every record is delivered or dropped with a reason"
    );
    assert!(
        sink.dropped_total() + s.dropped_queue_full > 0,
        "the slow sink could not keep up"
    );
    let reasons: Vec<&String> = sink.dropped.keys().collect();
    assert!(reasons.iter().all(|r| *r == "sink_queue_full"), "{reasons:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_counts_sink_errors_and_does_not_starve_the_others() {
    let attempts = Arc::new(AtomicU64::new(0));
    let mem = MemorySink::new();
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([4; 32]))
        .policy(Policy::new())
        .sink(FailingSink(attempts.clone()))
        .sink(mem.clone())
        .build()
        .expect("build");
    let server = serve(app(layer)).await;
    let n = 300;
    assert_eq!(traffic(&server, n, 3).await, n);
    drop(server);
    let report = guard.shutdown_within(PATIENCE);
    let s = report.stats;
    assert!(report.complete && s.is_balanced(), "{s:?}");
    let failing = s.sinks.iter().find(|x| x.name == "failing").expect("failing sink");
    let memory = s.sinks.iter().find(|x| x.name == "memory").expect("memory sink");
    assert_eq!(failing.dropped_for(DropReason::SinkError), n as u64);
    assert_eq!(failing.delivered, 0);
    assert!(attempts.load(Ordering::Relaxed) > 0);
    assert_eq!(memory.delivered, n as u64);
    assert_eq!(mem.len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sink_on_a_full_disk_counts_drops_and_requests_are_unaffected() {
    // /dev/full fails every write with ENOSPC, like a full disk.
    let full = FileSink::open("/dev/full").expect("open /dev/full");
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([5; 32]))
        .policy(Policy::new())
        .sink(full)
        .build()
        .expect("build");
    let server = serve(app(layer)).await;
    let n = 200;
    assert_eq!(traffic(&server, n, 2).await, n);
    drop(server);
    let report = guard.shutdown_within(PATIENCE);
    let s = report.stats;
    assert!(s.is_balanced(), "{s:?}");
    assert_eq!(s.sinks[0].dropped_for(DropReason::SinkError), n as u64);
    assert_eq!(s.sinks[0].delivered, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hand_off_queue_drops_the_newest_and_counts_them() {
    // Queue of 1 with a stuck sink: nearly everything is refused at the hand-off
    // or at the sink queue, and each refusal is counted once.
    let sink = GatedSink::closed();
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([6; 32]))
        .policy(Policy::new())
        .queue_capacity(1)
        .batch_size(1)
        .sink_queue_batches(1)
        .max_idle(Duration::from_millis(50))
        .sink(sink.clone())
        .build()
        .expect("build");
    let server = serve(app(layer)).await;
    let n = 400;
    assert_eq!(traffic(&server, n, 8).await, n);
    let s = settled(&guard);
    assert_eq!(s.created, n as u64);
    assert!(s.is_balanced(), "{s:?}");
    assert!(
        s.sinks[0].queued <= 2,
        "held {} records with caps of one",
        s.sinks[0].queued
    );
    assert_eq!(
        s.dropped_queue_full + s.sinks[0].dropped_for(DropReason::SinkQueueFull) + s.sinks[0].queued,
        n as u64
    );
    sink.open();
    drop(server);
    let report = guard.shutdown_within(PATIENCE);
    assert!(report.complete && report.stats.is_balanced());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_writes_the_whole_backlog() {
    // Scenario 11: the sink is held back during the burst, so at shutdown the
    // whole burst is still queued; shutdown writes every record.
    let sink = GatedSink::closed();
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([7; 32]))
        .policy(Policy::new())
        .queue_capacity(10_000)
        .batch_size(64)
        // Under trickling traffic a batch may hold a single record.
        .sink_queue_batches(2048)
        .sink(sink.clone())
        .build()
        .expect("build");
    let server = serve(app(layer)).await;
    let n = 1500;
    assert_eq!(traffic(&server, n, 4).await, n);
    drop(server);
    let backlog = settled(&guard);
    assert_eq!(backlog.sinks[0].delivered, 0);
    assert_eq!(backlog.sinks[0].queued, n as u64, "the whole burst is queued");
    sink.open();
    let report = tokio::task::spawn_blocking(move || guard.shutdown_within(PATIENCE))
        .await
        .expect("shutdown");
    let s = report.stats;
    assert!(report.complete, "shutdown finished within its deadline");
    assert!(s.is_balanced(), "{s:?}");
    assert_eq!(s.created, n as u64);
    assert_eq!(s.sinks[0].delivered, n as u64);
    assert_eq!(
        s.sinks[0].dropped_total() + s.dropped_queue_full + s.dropped_shutdown,
        0
    );
    assert_eq!(sink.inner.len(), n);
}
