//! The worker thread: sanitizes raw captures into records and fans batches
//! out to the sinks' queues.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::Handoff;
use super::accounting::{Counters, StatsHandle};
use super::batch::Batches;
use super::runner::{self, Deadline, SendError, SinkQueue, SinkSender};
use super::sampling::{Sampler, Sampling, Verdict};
use super::suppression::SuppressionFile;
use crate::capture::{BoxPool, CaptureBox, PREFILLED_BOXES, RequestClock};
use crate::limits::{DurationLimit, Limit, OutOfRange};
use crate::sanitize::Sanitizer;
use crate::sink::util::RateLimited;
use crate::sink::{DropReason, Ledger, Sink};

/// The hand-off queue's default capacity, in records.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;
/// The default most records per batch handed to the sinks.
pub const DEFAULT_BATCH_SIZE: usize = 512;
/// The default number of batches each sink's queue holds.
pub const DEFAULT_SINK_QUEUE_BATCHES: usize = 64;
/// The default longest sleep of the worker between rounds.
pub const DEFAULT_MAX_IDLE: Duration = Duration::from_millis(10);
/// How long the guard waits for queued records at shutdown by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Tuning of the pipeline; see the builder for the meaning. The defaults
/// are the `DEFAULT_*` constants above.
#[derive(Clone, Debug)]
pub(crate) struct PipelineConfig {
    pub(crate) queue_capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) sink_queue_batches: usize,
    pub(crate) max_idle: Duration,
    /// The suppression file, re-read by the worker when it changes.
    pub(crate) suppression_file: Option<std::path::PathBuf>,
    pub(crate) sampling: Sampling,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            batch_size: DEFAULT_BATCH_SIZE,
            sink_queue_batches: DEFAULT_SINK_QUEUE_BATCHES,
            max_idle: DEFAULT_MAX_IDLE,
            suppression_file: None,
            sampling: Sampling::default(),
        }
    }
}

/// `queue_capacity`: the hand-off queue takes 32 bytes per slot up front,
/// and a full queue holds a capture of about 1.5 KiB in each.
pub(crate) const QUEUE_CAPACITY: Limit = Limit::count("queue_capacity", 1, 262_144);
/// `batch_size`: each batch reserves room for this many records.
pub(crate) const BATCH_SIZE: Limit = Limit::count("batch_size", 1, 16_384);
/// `sink_queue_batches`.
pub(crate) const SINK_QUEUE_BATCHES: Limit = Limit::count("sink_queue_batches", 1, 4096);
/// The most records that may wait for one sink: `batch_size` ×
/// `sink_queue_batches` (a record takes about 300 bytes and its text).
pub(crate) const MAX_WAITING_RECORDS: usize = 1 << 20;
/// `max_idle`.
pub(crate) const MAX_IDLE: DurationLimit = DurationLimit::new("max_idle", Duration::ZERO, Duration::from_secs(1));

impl PipelineConfig {
    /// Checks every size against its range.
    ///
    /// # Errors
    /// The first setting out of range.
    pub(crate) fn validate(&self) -> Result<(), OutOfRange> {
        QUEUE_CAPACITY.check_usize(self.queue_capacity)?;
        let batch = BATCH_SIZE.check_usize(self.batch_size)?;
        SINK_QUEUE_BATCHES
            .at_most((MAX_WAITING_RECORDS / batch) as u64)
            .check_usize(self.sink_queue_batches)
            .map_err(|mut e| {
                if self.sink_queue_batches <= SINK_QUEUE_BATCHES.max as usize {
                    e.note = Some(format!(
                        "with batch_size {batch}, at most {MAX_WAITING_RECORDS} records may wait for one sink"
                    ));
                }
                e
            })?;
        MAX_IDLE.check(self.max_idle)?;
        Ok(())
    }
}

/// Batches the worker keeps for reuse.
const KEPT_BATCHES: usize = 4;

/// The shortest park of an idle worker.
const MIN_IDLE: Duration = Duration::from_millis(1);

/// How many captures a busy worker lets wait before it wakes: it parks for
/// as long as the recent request rate takes to queue about this many. Each
/// wake costs two thread switches and a wake-up of every sink thread (a few
/// microseconds each), so fewer, fuller wakes cost less per record; this
/// stays below the boxes made up front, so waiting captures need no new ones.
const WAKE_RECORDS: u32 = (PREFILLED_BOXES / 2) as u32;

struct SinkSlot {
    tx: SinkSender,
    ledger: Ledger,
}

/// A running pipeline: the hand-off for the request path, the stats, and the
/// threads to stop.
pub(crate) struct Pipeline {
    pub(crate) handoff: Arc<Handoff>,
    pub(crate) stats: StatsHandle,
    closing: Arc<AtomicBool>,
    deadline: Deadline,
    worker: Option<JoinHandle<()>>,
    sinks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("stats", &self.stats.stats())
            .finish_non_exhaustive()
    }
}

pub(crate) fn spawn(
    config: PipelineConfig,
    mut sanitizer: Sanitizer,
    sinks: Vec<Box<dyn Sink>>,
) -> io::Result<Pipeline> {
    // The suppression list is read before the first request.
    let mut suppression = match (&config.suppression_file, sanitizer.suppression_key()) {
        (Some(path), Some(key)) => Some(SuppressionFile::new(path.clone(), key.kid())),
        _ => None,
    };
    if let Some(marks) = suppression.as_mut().and_then(SuppressionFile::read) {
        sanitizer.set_suppressed(marks);
    }
    let counters = Arc::new(Counters::default());
    let deadline: Deadline = Arc::new(Mutex::new(None));
    let mut slots = Vec::with_capacity(sinks.len());
    let mut ledgers = Vec::with_capacity(sinks.len());
    let mut sink_threads = Vec::with_capacity(sinks.len());
    let mut every = Vec::with_capacity(sinks.len());
    for sink in sinks {
        let ledger = Ledger::new(sink.name());
        let sees_all = sink.sees_sampled_out();
        every.push(sees_all);
        let queue = Arc::new(SinkQueue::new(config.sink_queue_batches, sees_all));
        let q = queue.clone();
        let l = ledger.clone();
        let d = deadline.clone();
        let name = format!("privlog-sink-{}", sink.name());
        let handle = thread::Builder::new()
            .name(name)
            .spawn(move || runner::run(sink, q, l, d))?;
        let tx = SinkSender::new(queue, handle.thread().clone());
        sink_threads.push(handle);
        ledgers.push(ledger.clone());
        slots.push(SinkSlot { tx, ledger });
    }
    let (tx, rx) = mpsc::sync_channel(config.queue_capacity.max(1));
    let closing = Arc::new(AtomicBool::new(false));
    // Sampled-out records are made only when some sink wants them.
    let keep_sampled_out = every.iter().any(|&e| e);
    let sampler = (!config.sampling.keeps_everything()).then(|| Sampler::new(config.sampling.clone()));
    let clock = Arc::new(RequestClock::new());
    let pool = Arc::new(BoxPool::new(config.queue_capacity));
    let worker = {
        let wall_clock = clock.clone();
        let pool = pool.clone();
        let counters = counters.clone();
        let closing = closing.clone();
        let deadline = deadline.clone();
        thread::Builder::new()
            .name("privlog-worker".to_owned())
            .spawn(move || {
                Worker {
                    rx,
                    pool,
                    read: Vec::with_capacity(config.batch_size),
                    sanitizer,
                    suppression,
                    slots,
                    counters,
                    closing,
                    deadline,
                    config,
                    clock: wall_clock,
                    failures: RateLimited::default(),
                    sampler,
                    keep_sampled_out,
                }
                .run()
            })?
    };
    let handoff = Arc::new(Handoff::new(tx, pool, counters.clone(), worker.thread().clone(), clock));
    Ok(Pipeline {
        handoff,
        stats: StatsHandle {
            counters,
            sinks: Arc::new(ledgers),
            every: Arc::new(every),
        },
        closing,
        deadline,
        worker: Some(worker),
        sinks: sink_threads,
    })
}

impl Pipeline {
    /// Stops taking records, drains what is queued through the sinks and waits
    /// until `timeout` for them to finish. Returns whether everything finished.
    pub(crate) fn shutdown(&mut self, timeout: Duration) -> bool {
        let deadline = deadline_after(timeout);
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner) = Some(deadline);
        self.closing.store(true, Release);
        let mut finished = true;
        if let Some(w) = self.worker.take() {
            w.thread().unpark();
            finished &= join_until(w, deadline);
        }
        for s in self.sinks.drain(..) {
            finished &= join_until(s, deadline);
        }
        finished
    }
}

/// Joins `handle` if it finishes before `deadline`; otherwise leaves it running.
fn join_until(handle: JoinHandle<()>, deadline: Instant) -> bool {
    let mut wait = Duration::from_micros(200);
    while !handle.is_finished() {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        thread::sleep(wait.min(deadline - now));
        wait = (wait * 2).min(Duration::from_millis(20));
    }
    handle.join().is_ok()
}

struct Worker {
    rx: Receiver<CaptureBox>,
    pool: Arc<BoxPool>,
    /// Boxes read this round, given back to the pool together.
    read: Vec<CaptureBox>,
    sanitizer: Sanitizer,
    suppression: Option<SuppressionFile>,
    slots: Vec<SinkSlot>,
    counters: Arc<Counters>,
    closing: Arc<AtomicBool>,
    deadline: Deadline,
    config: PipelineConfig,
    clock: Arc<RequestClock>,
    /// Reports records the worker could not make, at most once per WARN_EVERY.
    failures: RateLimited,
    /// Skip and sampling rules, when there are any.
    sampler: Option<Sampler>,
    /// Whether a sink gets the sampled-out records.
    keep_sampled_out: bool,
}

impl Worker {
    fn run(mut self) {
        // Batches come back from the sinks for reuse. Healthy sinks hold one
        // or two at a time; batches a backed-up sink holds beyond these are
        // its to free, so a slow sink does not make the worker keep memory.
        let mut batch = Batches::new(self.config.batch_size, KEPT_BATCHES);
        // A configured longest park below the usual shortest one wins.
        let min_idle = MIN_IDLE.min(self.config.max_idle);
        let mut idle = min_idle;
        // Records taken since the worker last went to sleep, and when that was.
        let mut taken: u32 = 0;
        // A small hand-off queue must not fill up while the worker sleeps.
        let wake_records = WAKE_RECORDS
            .min(u32::try_from(self.config.queue_capacity / 2).unwrap_or(u32::MAX))
            .max(1);
        let mut slept_at = Instant::now();
        // Drops reported so far; at most one warning per WARN_EVERY,
        // carrying every drop since the previous one.
        let mut reported_full = 0;
        let mut full_warning = RateLimited::default();
        loop {
            self.clock.resync();
            if let Some(marks) = self.suppression.as_mut().and_then(|f| f.poll(Instant::now())) {
                self.sanitizer.set_suppressed(marks);
            }
            let drained = self.drain(&mut batch);
            if batch.filled() > 0 {
                taken = taken.saturating_add(batch.filled() as u32);
                self.dispatch(&mut batch, false);
            }
            let full = self.counters.dropped_queue_full.load(Relaxed);
            if full > reported_full && full_warning.check().is_some() {
                tracing::warn!(
                    target: "privlog",
                    records_dropped = full - reported_full,
                    records_dropped_total = full,
                    "privlog hand-off queue full: records dropped (raise the queue capacity or speed up the sinks)"
                );
                reported_full = full;
            }
            if drained {
                continue;
            }
            if self.closing.load(Acquire) {
                break;
            }
            // Park instead of blocking on the channel: a blocked receiver would
            // make every `try_send` on the request path pay for a wake-up.
            idle = if taken == 0 {
                (idle * 2).min(self.config.max_idle)
            } else {
                busy_park(taken, wake_records, slept_at.elapsed(), min_idle, self.config.max_idle)
            };
            taken = 0;
            slept_at = Instant::now();
            thread::park_timeout(idle);
        }
        // Closing: refuse new records, then take what is already queued.
        self.counters.closed.store(true, Release);
        for _ in 0..2 {
            while self.drain(&mut batch) {
                self.dispatch(&mut batch, true);
            }
            self.dispatch(&mut batch, true);
            // A request that checked `closed` just before it was set may still
            // be sending; give it a moment to land.
            thread::sleep(Duration::from_millis(5));
        }
        // Dropping the senders lets every sink thread finish and close.
    }

    /// Takes up to one batch from the hand-off; returns whether the batch filled up.
    fn drain(&mut self, batches: &mut Batches) -> bool {
        let batch = batches.filling();
        let mut full = true;
        while batch.len() < self.config.batch_size {
            match self.rx.try_recv() {
                Ok(mut boxed) => {
                    // No capture may end logging: one the worker fails on
                    // (a fault in privlog) is dropped and counted, and the
                    // worker goes on with the next.
                    let filled = batch.len();
                    let made = panic::catch_unwind(AssertUnwindSafe(|| {
                        boxed.resolve_times(&self.clock);
                        self.sanitizer.sanitize_into(&mut boxed, batch.next_slot());
                    }));
                    if made.is_err() {
                        if batch.len() > filled {
                            batch.unfill_last();
                        }
                        self.sanitizer.forget();
                        self.count_failure();
                    } else if let Some(sampler) = self.sampler.as_mut() {
                        let slot = batch.last_mut();
                        match slot.map(|r| sampler.decide(r)) {
                            Some(Verdict::Keep(rate)) => {
                                if let Some(r) = batch.last_mut() {
                                    r.sample_rate = rate;
                                }
                                if self.sanitizer.last_suppressed {
                                    self.counters.suppressed.fetch_add(1, Relaxed);
                                }
                            }
                            Some(Verdict::SampledOut) => {
                                self.counters.sampled_out.fetch_add(1, Relaxed);
                                if let Some(r) = batch.last_mut() {
                                    r.sample_rate = None;
                                }
                                if self.keep_sampled_out {
                                    batch.sample_out_last();
                                } else {
                                    batch.unfill_last();
                                }
                            }
                            Some(Verdict::Skip) => {
                                self.counters.skipped.fetch_add(1, Relaxed);
                                batch.unfill_last();
                            }
                            None => {}
                        }
                    } else if self.sanitizer.last_suppressed {
                        // Suppressed records are a part of the dispatched ones.
                        self.counters.suppressed.fetch_add(1, Relaxed);
                    }
                    boxed.release();
                    self.read.push(boxed);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                    full = false;
                    break;
                }
            }
        }
        // Back to the request path, which overwrites them, the last one read first.
        self.pool.give_back(&mut self.read);
        full
    }

    fn count_failure(&mut self) {
        let total = self.counters.dropped_sanitize_error.fetch_add(1, Relaxed) + 1;
        if let Some(suppressed) = self.failures.check() {
            tracing::error!(
                target: "privlog",
                records_dropped_total = total,
                errors_suppressed = suppressed,
                "privlog worker failed on a request's capture (a fault in privlog, please report it): \
                 its record is dropped and counted as dropped_sanitize_error; logging goes on"
            );
        }
    }

    fn dispatch(&mut self, batches: &mut Batches, closing: bool) {
        if batches.filled() == 0 {
            return;
        }
        let records = batches.take();
        let n = records.records().len() as u64;
        for slot in &self.slots {
            let n = slot.tx.records_of(&records).len() as u64;
            if n == 0 {
                continue;
            }
            slot.ledger.enqueued(n);
            let mut item = records.clone();
            loop {
                match slot.tx.try_send(item, &slot.ledger) {
                    Ok(()) => break,
                    Err(SendError::Full(back)) if closing && !self.past_deadline() => {
                        // At shutdown a slow sink is waited for, up to the deadline.
                        item = back;
                        thread::sleep(Duration::from_millis(1));
                    }
                    Err(SendError::Full(_)) => {
                        slot.ledger.dequeued(n);
                        slot.ledger.dropped(
                            if closing {
                                DropReason::Shutdown
                            } else {
                                DropReason::SinkQueueFull
                            },
                            n,
                        );
                        break;
                    }
                    Err(SendError::Gone) => {
                        slot.ledger.dequeued(n);
                        slot.ledger.dropped(DropReason::SinkError, n);
                        break;
                    }
                }
            }
        }
        self.counters.dispatched.0.fetch_add(n, Relaxed);
    }

    fn past_deadline(&self) -> bool {
        self.deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|d| Instant::now() >= d)
    }
}

/// How long to park after `taken` records arrived in `elapsed`: about the
/// time the same rate takes to queue `target` records, within `min..=max`.
fn busy_park(taken: u32, target: u32, elapsed: Duration, min: Duration, max: Duration) -> Duration {
    let per_wake = elapsed.saturating_mul(target) / taken.max(1);
    per_wake.clamp(min, max.max(min))
}

/// The instant `timeout` from now; for a timeout too long for the clock
/// (`Duration::MAX`: wait as long as it takes), the furthest instant it can
/// hold instead of a panic.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    let mut wait = timeout;
    loop {
        if let Some(at) = now.checked_add(wait) {
            return at;
        }
        wait /= 2;
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::sink::MemorySink;
    use crate::{MasterKey, Policy};

    /// Hands a capture of `GET path` to the pipeline, as the request path does.
    fn request(pipeline: &Pipeline, path: &str) {
        let mut raw = pipeline.handoff.take_box();
        raw.begin(SystemTime::now(), http::Method::GET, http::Version::HTTP_11, None);
        raw.set_path_query(path, None);
        raw.status = Some(200);
        pipeline.handoff.submit(raw);
    }

    #[test]
    fn a_capture_the_worker_fails_on_is_counted_dropped_and_logging_goes_on() {
        let mut sanitizer = Sanitizer::new(Policy::new().compile().expect("valid"), &MasterKey::from_bytes([7; 32]));
        sanitizer.panic_on_path = Some("/fails");
        let memory = MemorySink::new();
        let mut pipeline = match spawn(PipelineConfig::default(), sanitizer, vec![Box::new(memory.clone())]) {
            Ok(p) => p,
            Err(e) => panic!("spawn: {e}"),
        };
        // In one batch: the records around the failing one are kept.
        for path in ["/a", "/fails", "/b"] {
            request(&pipeline, path);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while memory.records().len() < 2 {
            assert!(
                Instant::now() < deadline,
                "the worker stopped: {:?}",
                pipeline.stats.stats()
            );
            thread::sleep(Duration::from_millis(5));
        }
        // And in later batches: the worker is still running.
        for path in ["/fails", "/c"] {
            request(&pipeline, path);
        }
        assert!(pipeline.shutdown(Duration::from_secs(30)), "the pipeline finished");
        let paths: Vec<String> = memory.records().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/a", "/b", "/c"]);
        let s = pipeline.stats.stats();
        assert_eq!((s.created, s.dispatched, s.dropped_sanitize_error), (5, 3, 2), "{s:?}");
        assert!(s.is_balanced(), "{s:?}");
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_busy_worker_sleeps_until_about_the_target_is_queued() {
        // 100 records in 1 ms: 128 take 1.28 ms.
        assert_eq!(busy_park(100, 128, MS, MS, 10 * MS), Duration::from_micros(1280));
        // Twice the rate, half the sleep (never below the shortest park).
        assert_eq!(
            busy_park(200, 128, 2 * MS, MS / 2, 10 * MS),
            Duration::from_micros(1280)
        );
        assert_eq!(busy_park(400, 128, MS, MS, 10 * MS), MS);
        // A trickle sleeps the longest park.
        assert_eq!(busy_park(1, 128, 10 * MS, MS, 10 * MS), 10 * MS);
        // A configured longest park bounds the sleep.
        assert_eq!(busy_park(1, 128, 10 * MS, MS / 4, MS / 4), MS / 4);
    }
}
