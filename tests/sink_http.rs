//! The HTTP sink against a real HTTP server (hyper on 127.0.0.1) that
//! misbehaves on purpose: down, 503 with Retry-After, 429, a poison 400 batch,
//! slow responses, connection resets, and a process killed mid-stream.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use privlog::Record;
use privlog::sink::http::{BatchConfig, HttpSink, RetryPolicy};
use privlog::sink::spool::{Spool, SpoolConfig};
use privlog::sink::{DropReason, Ledger, Sink, SinkStats};
use support::files::TempDir;
use time::OffsetDateTime;

// ---------------------------------------------------------------- collector

/// What the collector does with one request.
#[derive(Clone, Debug)]
enum Action {
    /// Ingest and answer 200.
    Ok,
    /// Answer this status (with `Retry-After` when given) without ingesting.
    Status(u16, Option<&'static str>),
    /// Ingest, then answer 200 after this delay.
    Slow(Duration),
    /// Close the connection without answering, without ingesting.
    Reset,
    /// An Elasticsearch bulk answer for three documents: the first created,
    /// the second refused for overload (429), the third invalid (400). Only
    /// the first is ingested.
    BulkPartial,
}

#[derive(Default)]
struct State {
    script: VecDeque<Action>,
    /// Requests whose body contains this string get a 400.
    poison: Option<&'static str>,
    /// Paths ingested, with how often.
    paths: BTreeMap<String, u64>,
    requests: Vec<(Instant, Action)>,
}

struct Collector {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _rt: tokio::runtime::Runtime,
}

impl Collector {
    fn start() -> Collector {
        Self::start_on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    fn start_on(listener: TcpListener) -> Collector {
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let st = Arc::clone(&state);
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = Arc::clone(&st);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(Arc::clone(&st), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Collector { addr, state, _rt: rt }
    }

    fn url(&self) -> String {
        format!("http://{}/ingest", self.addr)
    }

    fn script(&self, actions: impl IntoIterator<Item = Action>) {
        self.state.lock().unwrap().script.extend(actions);
    }

    fn paths(&self) -> BTreeMap<String, u64> {
        self.state.lock().unwrap().paths.clone()
    }

    fn requests(&self) -> Vec<(Instant, Action)> {
        self.state.lock().unwrap().requests.clone()
    }
}

async fn handle(st: Arc<Mutex<State>>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let gzip = req.headers().get("content-encoding").is_some_and(|v| v == "gzip");
    let raw = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let body = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out)?;
        out
    } else {
        raw.to_vec()
    };
    let action = {
        let mut s = st.lock().unwrap();
        let poisoned = s.poison.is_some_and(|p| String::from_utf8_lossy(&body).contains(p));
        let action = if poisoned {
            Action::Status(400, None)
        } else {
            s.script.pop_front().unwrap_or(Action::Ok)
        };
        s.requests.push((Instant::now(), action.clone()));
        let take = match action {
            Action::Ok | Action::Slow(_) => usize::MAX,
            Action::BulkPartial => 1,
            _ => 0,
        };
        {
            let docs = body
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty() && !l.starts_with(b"{\"create\""));
            for line in docs.take(take) {
                let r = privlog::record::parse_line(line).expect("collector got a valid NDJSON record");
                *s.paths.entry(r.path).or_insert(0) += 1;
            }
        }
        action
    };
    let resp = |status: u16| {
        Response::builder()
            .status(status)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    match action {
        Action::Ok => Ok(resp(200)),
        Action::Slow(d) => {
            tokio::time::sleep(d).await;
            Ok(resp(200))
        }
        Action::Status(code, retry_after) => {
            let mut r = resp(code);
            if let Some(ra) = retry_after {
                r.headers_mut().insert("retry-after", ra.parse().unwrap());
            }
            Ok(r)
        }
        Action::Reset => Err(std::io::Error::other("reset on purpose")),
        Action::BulkPartial => Ok(Response::new(Full::new(Bytes::from_static(
            br#"{"took":1,"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429}},{"create":{"status":400,"error":{"type":"mapper_parsing_exception"}}}]}"#,
        )))),
    }
}

// ---------------------------------------------------------------- helpers

fn records(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            // Millisecond precision, like the records the layer makes.
            let ts = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap() + Duration::from_millis(i as u64);
            let mut r = Record::new(ts, "GET", format!("/{prefix}/{i}"));
            r.status = Some(200);
            r.resp_bytes = i as u64;
            r
        })
        .collect()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial(Duration::from_millis(20))
        .max(Duration::from_millis(100))
}

/// Ticks the sink until `done` holds; fails the test after a generous limit
/// (a safety net against hangs, not a speed requirement).
fn drive(sink: &mut HttpSink, ledger: &Ledger, what: &str, done: impl Fn(&SinkStats) -> bool) {
    let limit = Instant::now() + Duration::from_secs(60);
    loop {
        sink.tick().unwrap();
        let s = ledger.stats();
        if done(&s) {
            return;
        }
        assert!(Instant::now() < limit, "gave up waiting for {what}: {s:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The identity for a sink driven without the pipeline (which counts `received`).
fn assert_balanced(s: &SinkStats, written: u64) {
    assert_eq!(
        written + s.recovered,
        s.delivered + s.buffered + s.spooled + s.dropped_total(),
        "accounting identity broken: {s:?}"
    );
}

fn attach(sink: &mut HttpSink) -> Ledger {
    let ledger = Ledger::detached("test");
    sink.attach(ledger.clone());
    ledger
}

fn assert_each_once(paths: &BTreeMap<String, u64>, prefix: &str, n: usize) {
    for i in 0..n {
        assert_eq!(
            paths.get(&format!("/{prefix}/{i}")),
            Some(&1),
            "/{prefix}/{i} not delivered exactly once"
        );
    }
    assert_eq!(paths.len(), n, "unexpected paths at the collector");
}

fn segment_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "spool"))
        .count()
}

// ---------------------------------------------------------------- tests

#[test]
fn batches_by_count_and_delivers_every_record_exactly_once() {
    let c = Collector::start();
    let mut sink = HttpSink::builder(c.url())
        .batch(BatchConfig::new().max_records(100).linger(Duration::from_secs(3600)))
        .gzip(true)
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    for chunk in records("a", 1000).chunks(37) {
        sink.write(chunk).unwrap();
    }
    drive(&mut sink, &ledger, "1000 delivered", |s| s.delivered == 1000);
    assert_each_once(&c.paths(), "a", 1000);
    assert_eq!(c.requests().len(), 10, "1000 records in batches of 100");
    assert_balanced(&ledger.stats(), 1000);
}

#[test]
fn a_partial_batch_is_sent_after_its_linger_time() {
    let c = Collector::start();
    let mut sink = HttpSink::builder(c.url())
        .batch(BatchConfig::new().max_records(1000).linger(Duration::from_millis(50)))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    sink.write(&records("l", 3)).unwrap();
    assert_eq!(ledger.stats().buffered, 3);
    drive(&mut sink, &ledger, "3 delivered", |s| s.delivered == 3);
    assert_each_once(&c.paths(), "l", 3);
}

#[test]
fn collector_down_then_back_delivers_everything_from_the_spool_once() {
    let tmp = TempDir::new("down");
    // Reserve a port, then close it: connections are refused until the collector starts.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut sink = HttpSink::builder(format!("http://127.0.0.1:{port}/ingest"))
        .batch(BatchConfig::new().max_records(50).linger(Duration::from_millis(10)))
        .retry(fast_retry())
        .spool(SpoolConfig::new(&tmp.0))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    for chunk in records("d", 300).chunks(50) {
        sink.write(chunk).unwrap();
    }
    drive(&mut sink, &ledger, "300 spooled", |s| s.spooled == 300);
    assert_eq!(ledger.stats().delivered, 0);
    assert_balanced(&ledger.stats(), 300);

    let c = Collector::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap());
    drive(&mut sink, &ledger, "300 delivered", |s| s.delivered == 300);
    let s = ledger.stats();
    assert_eq!((s.spooled, s.buffered, s.dropped_total()), (0, 0, 0), "{s:?}");
    assert_each_once(&c.paths(), "d", 300);
    assert_eq!(segment_files(&tmp), 0, "delivered segments are deleted");
}

#[test]
fn retry_after_of_a_503_is_waited_for_then_the_batch_is_delivered() {
    let c = Collector::start();
    c.script([Action::Status(503, Some("1"))]);
    let mut sink = HttpSink::builder(c.url())
        .batch(BatchConfig::new().max_records(10))
        .retry(fast_retry())
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    sink.write(&records("r", 10)).unwrap();
    drive(&mut sink, &ledger, "10 delivered", |s| s.delivered == 10);
    let reqs = c.requests();
    assert_eq!(reqs.len(), 2);
    let waited = reqs[1].0.duration_since(reqs[0].0);
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}, before the 1 s Retry-After (own backoff is ≤ 100 ms)"
    );
    assert_each_once(&c.paths(), "r", 10);
    assert_balanced(&ledger.stats(), 10);
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let c = Collector::start();
    let at = httpdate_in(2);
    c.script([Action::Status(503, Some(at))]);
    let mut sink = HttpSink::builder(c.url())
        .batch(BatchConfig::new().max_records(5))
        .retry(fast_retry())
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    sink.write(&records("h", 5)).unwrap();
    drive(&mut sink, &ledger, "5 delivered", |s| s.delivered == 5);
    let reqs = c.requests();
    assert_eq!(reqs.len(), 2);
    // The date has whole-second precision: at least one full second remains.
    assert!(reqs[1].0.duration_since(reqs[0].0) >= Duration::from_millis(900));
}

fn httpdate_in(secs: u64) -> &'static str {
    let t = std::time::SystemTime::now() + Duration::from_secs(secs);
    Box::leak(httpdate::fmt_http_date(t).into_boxed_str())
}

#[test]
fn status_429_is_retried_until_accepted() {
    let c = Collector::start();
    c.script([Action::Status(429, None), Action::Status(429, None)]);
    let mut sink = HttpSink::builder(c.url())
        .batch(BatchConfig::new().max_records(20))
        .retry(fast_retry())
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    sink.write(&records("t", 20)).unwrap();
    drive(&mut sink, &ledger, "20 delivered", |s| s.delivered == 20);
    assert_eq!(c.requests().len(), 3);
    assert_each_once(&c.paths(), "t", 20);
    assert_balanced(&ledger.stats(), 20);
}

#[test]
fn a_poison_400_batch_goes_to_the_dead_letter_file_once_and_the_rest_is_delivered() {
    let tmp = TempDir::new("poison");
    let dead = tmp.join("dead.ndjson");
    let c = Collector::start();
    c.state.lock().unwrap().poison = Some("/poison/");
    let mut sink = HttpSink::builder(c.url())
        .batch(BatchConfig::new().max_records(10).linger(Duration::from_secs(3600)))
        .retry(fast_retry())
        .max_in_flight(1)
        .dead_letter(&dead)
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    let poison = records("poison", 10);
    sink.write(&records("good", 10)).unwrap();
    sink.write(&poison).unwrap();
    sink.write(&records("fine", 10)).unwrap();
    drive(&mut sink, &ledger, "all settled", |s| {
        s.delivered + s.dropped_total() == 30
    });
    let s = ledger.stats();
    assert_eq!(s.delivered, 20);
    assert_eq!(s.dropped_for(DropReason::Rejected), 10);
    assert_balanced(&s, 30);
    let dead_records: Vec<Record> = std::fs::read(&dead)
        .unwrap()
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| privlog::record::parse_line(l).unwrap())
        .collect();
    assert_eq!(
        dead_records, poison,
        "the dead-letter file holds exactly the poison batch"
    );
    let bad_requests = c
        .requests()
        .iter()
        .filter(|(_, a)| matches!(a, Action::Status(400, _)))
        .count();
    assert_eq!(bad_requests, 1, "a 400 batch is never retried");
    let paths = c.paths();
    assert!(paths.keys().all(|p| !p.starts_with("/poison/")));
    assert_eq!(paths.len(), 20);
}

#[test]
fn a_collector_refusing_everything_fills_the_dead_letter_file_only_up_to_its_cap() {
    let tmp = TempDir::new("dead-letter-cap");
    let dead = tmp.join("dead.ndjson");
    let c = Collector::start();
    // Every batch is refused, as with wrong credentials.
    c.state.lock().unwrap().poison = Some("/r/");
    let mut sink = HttpSink::builder(c.url())
        .batch(BatchConfig::new().max_records(10).linger(Duration::from_secs(3600)))
        .retry(fast_retry())
        .max_in_flight(1)
        .dead_letter(&dead)
        .dead_letter_max_bytes(2048)
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    let all = records("r", 100);
    for chunk in all.chunks(10) {
        sink.write(chunk).unwrap();
    }
    drive(&mut sink, &ledger, "all settled", |s| s.dropped_total() == 100);
    let s = ledger.stats();
    let bytes = std::fs::metadata(&dead).unwrap().len();
    assert!(
        bytes <= 2048,
        "the dead-letter file stays within its cap: {bytes} bytes"
    );
    let kept: Vec<Record> = std::fs::read(&dead)
        .unwrap()
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| privlog::record::parse_line(l).unwrap())
        .collect();
    let full = s.dropped_for(DropReason::Other("dead_letter_full"));
    assert!(full > 0 && !kept.is_empty(), "{s:?}");
    assert_eq!(
        s.dropped_for(DropReason::Rejected),
        kept.len() as u64,
        "refused and kept"
    );
    assert_eq!(kept.len() as u64 + full, 100, "every refused record counted once");
    assert_eq!(kept, all[..kept.len()], "whole records, the first ones refused");
    assert_balanced(&s, 100);
}

#[test]
fn elasticsearch_bulk_item_failures_are_retried_or_dead_lettered_one_by_one() {
    use privlog::sink::http::Elasticsearch;
    let tmp = TempDir::new("bulk");
    let dead = tmp.join("dead.ndjson");
    let c = Collector::start();
    c.script([Action::BulkPartial]);
    let mut sink = HttpSink::builder(format!("http://{}/privlog/_bulk", c.addr))
        .encoder(Elasticsearch::new())
        .batch(BatchConfig::new().max_records(3))
        .retry(fast_retry())
        .dead_letter(&dead)
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    let rs = records("es", 3);
    sink.write(&rs).unwrap();
    drive(&mut sink, &ledger, "all settled", |s| {
        s.delivered + s.dropped_total() == 3
    });
    let s = ledger.stats();
    assert_eq!((s.delivered, s.dropped_for(DropReason::Rejected)), (2, 1), "{s:?}");
    assert_balanced(&s, 3);
    let paths = c.paths();
    assert_eq!(paths.get("/es/0"), Some(&1));
    assert_eq!(paths.get("/es/1"), Some(&1), "the 429 document was sent again");
    assert_eq!(paths.get("/es/2"), None);
    let dead_lines = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(
        dead_lines,
        rs[2].to_ndjson(),
        "only the invalid document is dead-lettered"
    );
}

#[test]
fn slow_responses_time_out_and_are_retried_delivering_at_least_once() {
    let c = Collector::start();
    c.script([Action::Slow(Duration::from_secs(3))]);
    let mut sink = HttpSink::builder(c.url())
        .batch(BatchConfig::new().max_records(25))
        .retry(fast_retry())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    sink.write(&records("s", 25)).unwrap();
    drive(&mut sink, &ledger, "25 delivered", |s| s.delivered == 25);
    let requests = c.requests().len() as u64;
    assert!(requests >= 2, "the timed-out request was retried");
    let paths = c.paths();
    // The slow request was ingested before it timed out: every record arrives,
    // once per attempt (counted here, never lost). Each attempt after the
    // first followed a timeout.
    assert_eq!(paths.len(), 25);
    assert!(paths.values().all(|n| *n == requests), "{paths:?}");
    assert_balanced(&ledger.stats(), 25);
}

#[test]
fn connection_resets_are_retried_and_nothing_is_lost_or_duplicated() {
    let c = Collector::start();
    c.script([Action::Reset, Action::Reset]);
    let mut sink = HttpSink::builder(c.url())
        .batch(BatchConfig::new().max_records(40))
        .retry(fast_retry())
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    sink.write(&records("x", 40)).unwrap();
    drive(&mut sink, &ledger, "40 delivered", |s| s.delivered == 40);
    assert_eq!(c.requests().len(), 3);
    assert_each_once(&c.paths(), "x", 40);
    assert_balanced(&ledger.stats(), 40);
}

#[test]
fn close_delivers_what_is_buffered_before_the_deadline() {
    let c = Collector::start();
    let mut sink = HttpSink::builder(c.url())
        .batch(BatchConfig::new().linger(Duration::from_secs(3600)))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    sink.write(&records("c", 50)).unwrap();
    sink.close(Instant::now() + Duration::from_secs(30)).unwrap();
    let s = ledger.stats();
    assert_eq!(s.delivered, 50, "{s:?}");
    assert_each_once(&c.paths(), "c", 50);
}

#[test]
fn close_with_the_collector_down_keeps_every_record_spooled_for_the_next_start() {
    let tmp = TempDir::new("close");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut sink = HttpSink::builder(format!("http://127.0.0.1:{port}/"))
        .batch(BatchConfig::new().max_records(30).linger(Duration::from_secs(3600)))
        .retry(fast_retry())
        .spool(SpoolConfig::new(&tmp.0))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    sink.write(&records("k", 75)).unwrap();
    sink.close(Instant::now() + Duration::from_millis(500)).unwrap();
    let s = ledger.stats();
    assert_eq!((s.spooled, s.delivered, s.dropped_total()), (75, 0, 0), "{s:?}");
    drop(sink);
    let (spool, recovery) = Spool::open(SpoolConfig::new(&tmp.0)).unwrap();
    assert_eq!((recovery.records, recovery.torn, spool.pending()), (75, 0, 75));
}

#[test]
fn without_a_spool_close_counts_what_it_could_not_deliver_as_shutdown() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut sink = HttpSink::builder(format!("http://127.0.0.1:{port}/"))
        .retry(fast_retry())
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    sink.write(&records("n", 12)).unwrap();
    sink.close(Instant::now() + Duration::from_millis(300)).unwrap();
    let s = ledger.stats();
    assert_eq!(s.dropped_for(DropReason::Shutdown), 12, "{s:?}");
    assert_balanced(&s, 12);
}

const CHILD_ENV: &str = "PRIVLOG_TEST_SPOOL_CHILD";

/// Re-invoked as a child process (see below): spools records to a collector
/// that is down, reporting progress on stdout, until it is killed.
fn spool_child(spool_dir: &str, url: &str) {
    let mut sink = HttpSink::builder(url)
        .batch(BatchConfig::new().max_records(20).linger(Duration::from_millis(5)))
        .retry(fast_retry())
        .spool(SpoolConfig::new(spool_dir))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    let mut written = 0usize;
    // Bounded, in case the parent is gone.
    while written < 20_000 {
        let batch: Vec<Record> = records("k", written + 20).split_off(written);
        sink.write(&batch).unwrap();
        written += 20;
        drive(&mut sink, &ledger, "spooled", |s| s.spooled as usize == written);
        println!("spooled {written}");
    }
}

#[test]
fn sigkill_mid_stream_then_restart_delivers_every_spooled_record_once() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/ingest");
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        spool_child(&dir, &url_from_env().unwrap_or(url));
        return;
    }
    let tmp = TempDir::new("sigkill");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_mid_stream_then_restart_delivers_every_spooled_record_once",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &tmp.0)
        .env("PRIVLOG_TEST_SPOOL_URL", &url)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut spooled = 0usize;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while spooled < 600 {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(n) = line.strip_prefix("spooled ") {
            spooled = n.parse().unwrap();
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Progress lines may lag the spool: the child may have spooled more.
    let c = Collector::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let mut sink = HttpSink::builder(c.url())
        .retry(fast_retry())
        .spool(SpoolConfig::new(&tmp.0))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    let recovered = ledger.stats().recovered;
    assert!(
        recovered >= spooled as u64,
        "recovered {recovered} < reported {spooled}"
    );
    drive(&mut sink, &ledger, "spool drained", |s| s.spooled == 0);
    let s = ledger.stats();
    assert_balanced(&s, 0);
    let paths = c.paths();
    for i in 0..spooled {
        assert_eq!(
            paths.get(&format!("/k/{i}")),
            Some(&1),
            "/k/{i} spooled before the kill, not delivered once"
        );
    }
    assert!(paths.values().all(|n| *n == 1), "a record was delivered twice");
    assert_eq!(s.delivered + s.dropped_for(DropReason::Corrupt), recovered);
}

fn url_from_env() -> Option<String> {
    std::env::var("PRIVLOG_TEST_SPOOL_URL").ok()
}

// ---------------------------------------------------------------- full disk

const TMPFS_ENV: &str = "PRIVLOG_TEST_SPOOL_TMPFS";

/// Runs the test `name` again as a child process whose spool directory, in
/// `PRIVLOG_TEST_SPOOL_TMPFS`, is a tmpfs of 3 MiB mounted in a private mount
/// namespace (it disappears with the process). As root (as in CI) the mount
/// namespace is enough; otherwise a user namespace maps the user to root.
fn in_small_tmpfs(name: &str) {
    let tmp = TempDir::new("tmpfs");
    let mnt = tmp.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let mut cmd = Command::new("unshare");
    if !root {
        cmd.args(["--user", "--map-root-user"]);
    }
    let out = cmd
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            r#"mount -t tmpfs -o size=3m privlog-test "$1" && exec "$2" --exact "$3" --nocapture --test-threads=1"#,
            "sh",
        ])
        .arg(&mnt)
        .arg(std::env::current_exe().unwrap())
        .arg(name)
        .env(TMPFS_ENV, &mnt)
        .output()
        .unwrap_or_else(|e| panic!("cannot run unshare ({e}): install util-linux (scripts/install-peers.sh)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the test on a 3 MiB tmpfs failed (it needs root, or user namespaces, to mount one):\n{text}"
    );
    assert!(text.contains("1 passed"), "the test did not run on the tmpfs:\n{text}");
}

/// Resizes the tmpfs mounted at `dir` (inside the child's mount namespace).
fn resize_tmpfs(dir: &Path, size: &str) {
    let status = Command::new("mount")
        .args(["-o", &format!("remount,size={size}")])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "cannot resize the tmpfs at {}", dir.display());
}

/// A sink spooling to `dir` for a collector on `port`. Segments of 1 KiB: a
/// batch of 100 records spans dozens, so the disk fills up in the middle of
/// a batch.
fn spooling_sink(dir: &Path, port: u16) -> (HttpSink, Ledger) {
    let mut sink = HttpSink::builder(format!("http://127.0.0.1:{port}/ingest"))
        .batch(BatchConfig::new().max_records(100).linger(Duration::from_millis(10)))
        .retry(fast_retry())
        .spool(
            SpoolConfig::new(dir.join("spool"))
                .segment_bytes(1024)
                .fsync(privlog::sink::spool::SpoolFsync::Never),
        )
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    (sink, ledger)
}

/// Writes `records` while the collector is down, until none is left in memory.
fn spill_all(sink: &mut HttpSink, ledger: &Ledger, records: &[Record]) {
    for chunk in records.chunks(100) {
        sink.write(chunk).unwrap();
    }
    drive(sink, ledger, "every record spooled or dropped", |s| s.buffered == 0);
}

/// The ledger's spooled count is what the spool holds, and the identity holds.
fn assert_spool_matches(sink: &HttpSink, ledger: &Ledger, written: u64) {
    let s = ledger.stats();
    assert_eq!(
        s.spooled,
        sink.spooled(),
        "the ledger's spooled count is the spool's: {s:?}"
    );
    assert_balanced(&s, written);
}

/// A spooling sink whose collector is down, after `filled` of `total` new
/// records were spilled into a spool on a small file system, which they
/// filled.
#[cfg(target_os = "linux")]
struct Filled {
    sink: HttpSink,
    ledger: Ledger,
    all: Vec<Record>,
    full: SinkStats,
    port: u16,
}

#[cfg(target_os = "linux")]
fn fill_spool(dir: &Path, prefix: &str, total: usize, filled: usize) -> Filled {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (mut sink, ledger) = spooling_sink(dir, port);
    let all = records(prefix, total);
    spill_all(&mut sink, &ledger, &all[..filled]);
    let full = ledger.stats();
    assert!(
        full.dropped_for(DropReason::SpoolFull) > 0,
        "the disk filled up: {full:?}"
    );
    assert_spool_matches(&sink, &ledger, filled as u64);
    Filled {
        sink,
        ledger,
        all,
        full,
        port,
    }
}

#[cfg(target_os = "linux")] // tmpfs in a mount namespace
#[test]
fn a_spool_that_fills_its_file_system_counts_exactly_and_takes_records_again_once_it_grows() {
    const NAME: &str = "a_spool_that_fills_its_file_system_counts_exactly_and_takes_records_again_once_it_grows";
    let Ok(dir) = std::env::var(TMPFS_ENV) else {
        return in_small_tmpfs(NAME);
    };
    let dir = Path::new(&dir);
    // Collector down: 30 000 records, about 9 MB of spool on 3 MiB.
    let Filled {
        mut sink,
        ledger,
        all,
        full,
        port,
    } = fill_spool(dir, "f", 35_000, 30_000);
    assert!(full.spooled > 0, "{full:?}");

    // More room: the spool takes records again.
    resize_tmpfs(dir, "64m");
    spill_all(&mut sink, &ledger, &all[30_000..]);
    let grown = ledger.stats();
    assert_eq!(
        grown.dropped_total(),
        full.dropped_total(),
        "nothing dropped with room: {grown:?}"
    );
    assert_eq!(grown.spooled, full.spooled + 5_000);
    assert_spool_matches(&sink, &ledger, 35_000);

    // Collector back: everything spooled is delivered, once.
    let c = Collector::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap());
    drive(&mut sink, &ledger, "the spool drained", |s| {
        s.spooled == 0 && s.buffered == 0
    });
    let s = ledger.stats();
    assert_balanced(&s, 35_000);
    assert_eq!(s.delivered, grown.spooled, "{s:?}");
    assert_eq!(s.dropped_total(), full.dropped_total());
    let paths = c.paths();
    assert_eq!(
        paths.len() as u64,
        s.delivered,
        "the collector got what was counted delivered"
    );
    assert!(paths.values().all(|n| *n == 1), "a record was delivered twice");
    for r in &all[30_000..] {
        assert_eq!(
            paths.get(&r.path),
            Some(&1),
            "{} spooled with room, not delivered",
            r.path
        );
    }
}

#[cfg(target_os = "linux")] // tmpfs in a mount namespace
#[test]
fn a_spool_that_filled_its_file_system_frees_it_by_delivering() {
    const NAME: &str = "a_spool_that_filled_its_file_system_frees_it_by_delivering";
    let Ok(dir) = std::env::var(TMPFS_ENV) else {
        return in_small_tmpfs(NAME);
    };
    let dir = Path::new(&dir);
    let Filled {
        mut sink,
        ledger,
        all,
        full,
        port,
    } = fill_spool(dir, "g", 22_000, 20_000);

    // The collector comes back while the disk is still full, not one byte
    // left for the acknowledgement file: delivering must free the space.
    let c = Collector::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap());
    drive(&mut sink, &ledger, "the spool drained", |s| {
        s.spooled == 0 && s.buffered == 0
    });
    assert_eq!(segment_files(&dir.join("spool")), 0, "delivered segments are deleted");
    let s = ledger.stats();
    assert_eq!(s.delivered, full.spooled);
    assert_eq!(c.paths().len() as u64, s.delivered);
    drop(c);

    // Down again: the freed space takes the next records (fewer than filled it).
    assert!(full.spooled > 2_000, "{full:?}");
    spill_all(&mut sink, &ledger, &all[20_000..]);
    let s = ledger.stats();
    assert_eq!(
        s.dropped_total(),
        full.dropped_total(),
        "nothing dropped with room again: {s:?}"
    );
    assert_eq!(s.spooled, 2_000);
    assert_spool_matches(&sink, &ledger, 22_000);
}

// ---------------------------------------------------------------- file-size limit

/// Set for a child process that runs one test under a file-size limit: the
/// directory it writes to.
const FSIZE_ENV: &str = "PRIVLOG_TEST_FSIZE_DIR";

/// Runs the test `name` again as a child process under a file-size limit
/// (`ulimit -f`) of `blocks` KiB, set by `bash` before it execs the test
/// binary, with `dir` in `PRIVLOG_TEST_FSIZE_DIR` and `url` in
/// `PRIVLOG_TEST_SPOOL_URL`; returns what the child printed after `STATS `.
fn run_under_file_size_limit(name: &str, blocks: u64, dir: &Path, url: &str) -> Vec<u64> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -f {blocks} && exec \"$0\" \"$@\""))
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(FSIZE_ENV, dir)
        .env("PRIVLOG_TEST_SPOOL_URL", url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the child survives the limit (not killed by SIGXFSZ): {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .split("STATS ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("the child's counts: {stdout}"))
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect()
}

const FILE_SIZE_LIMIT: DropReason = DropReason::Other("file_size_limit");

/// 300 records, the one at 120 longer (12 000 bytes as JSON) than any file
/// may be under `ulimit -f 8` (8 192 bytes).
fn records_with_one_too_long(prefix: &str) -> Vec<Record> {
    let mut all = records(prefix, 300);
    all[120].path = format!("/{prefix}/{}", "\u{1}".repeat(2000));
    all
}

#[test]
fn under_a_file_size_limit_the_spool_starts_new_segments_and_drops_only_a_record_too_long_for_any() {
    const NAME: &str = "under_a_file_size_limit_the_spool_starts_new_segments_and_drops_only_a_record_too_long_for_any";
    let all = records_with_one_too_long("z");
    if let Some(dir) = std::env::var_os(FSIZE_ENV) {
        // The child, under `ulimit -f 8`, with the collector down: segments
        // of 1 MiB would pass the limit 128 times over.
        let mut sink = HttpSink::builder(url_from_env().unwrap())
            .batch(BatchConfig::new().max_records(50).linger(Duration::from_secs(3600)))
            .retry(fast_retry())
            .spool(SpoolConfig::new(dir).segment_bytes(1 << 20))
            .build()
            .unwrap();
        let ledger = attach(&mut sink);
        sink.write(&all).unwrap();
        sink.close(Instant::now() + Duration::from_millis(300)).unwrap();
        let s = ledger.stats();
        assert_balanced(&s, 300);
        println!(
            "STATS {} {} {} {} {}",
            s.spooled,
            s.delivered,
            s.buffered,
            s.dropped_for(FILE_SIZE_LIMIT),
            s.dropped_total()
        );
        return;
    }
    let tmp = TempDir::new("fsize-spool");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/ingest");
    let stats = run_under_file_size_limit(NAME, 8, &tmp.0, &url);
    assert_eq!(
        stats,
        [299, 0, 0, 1, 1],
        "spooled, delivered, buffered, file_size_limit, all dropped: only the over-long record is dropped"
    );
    let mut segments = 0;
    for e in std::fs::read_dir(&tmp.0).unwrap() {
        let e = e.unwrap();
        let len = e.metadata().unwrap().len();
        assert!(len <= 8192, "{} holds {len} bytes", e.path().display());
        segments += usize::from(e.path().extension().is_some_and(|x| x == "spool"));
    }
    assert!(segments > 1, "the limit started new segments: {segments}");

    // Restarted without the limit, the collector up: the spool opens clean
    // and delivers everything it kept, once.
    let c = Collector::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let mut sink = HttpSink::builder(c.url())
        .retry(fast_retry())
        .spool(SpoolConfig::new(&tmp.0))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    assert_eq!(ledger.stats().recovered, 299);
    drive(&mut sink, &ledger, "the spool drained", |s| s.spooled == 0);
    let s = ledger.stats();
    assert_eq!((s.delivered, s.dropped_total()), (299, 0), "nothing damaged: {s:?}");
    assert_balanced(&s, 0);
    let paths = c.paths();
    for (i, r) in all.iter().enumerate() {
        let expected = if i == 120 { None } else { Some(&1) };
        assert_eq!(paths.get(&r.path), expected, "record {i}");
    }
    assert_eq!(paths.len(), 299);
}

#[test]
fn under_a_file_size_limit_the_dead_letter_file_keeps_whole_lines_up_to_it_and_counts_the_rest() {
    const NAME: &str = "under_a_file_size_limit_the_dead_letter_file_keeps_whole_lines_up_to_it_and_counts_the_rest";
    let all = records("dl", 200);
    if let Some(dir) = std::env::var_os(FSIZE_ENV) {
        // The child, under `ulimit -f 8`: every batch is refused as invalid.
        let mut sink = HttpSink::builder(url_from_env().unwrap())
            .batch(BatchConfig::new().max_records(20).linger(Duration::from_secs(3600)))
            .retry(fast_retry())
            .max_in_flight(1)
            .dead_letter(Path::new(&dir).join("dead.ndjson"))
            .build()
            .unwrap();
        let ledger = attach(&mut sink);
        sink.write(&all).unwrap();
        drive(&mut sink, &ledger, "all settled", |s| {
            s.delivered + s.dropped_total() == 200
        });
        sink.close(Instant::now() + Duration::from_millis(300)).unwrap();
        let s = ledger.stats();
        assert_balanced(&s, 200);
        println!(
            "STATS {} {} {} {}",
            s.delivered,
            s.dropped_for(DropReason::Rejected),
            s.dropped_for(FILE_SIZE_LIMIT),
            s.dropped_total()
        );
        return;
    }
    let tmp = TempDir::new("fsize-dead");
    let c = Collector::start();
    c.state.lock().unwrap().poison = Some("/dl/");
    let stats = run_under_file_size_limit(NAME, 8, &tmp.0, &c.url());
    let (delivered, rejected, too_big, dropped) = (stats[0], stats[1], stats[2], stats[3]);
    assert_eq!((delivered, dropped), (0, 200), "every record refused and counted");
    assert!(
        too_big > 0,
        "200 lines of about 150 bytes do not fit in 8 KiB: {stats:?}"
    );
    let dead = tmp.join("dead.ndjson");
    let bytes = std::fs::read(&dead).unwrap();
    let longest = all.iter().map(|r| r.to_ndjson().len()).max().unwrap();
    assert!(
        bytes.len() <= 8192 && bytes.len() + longest > 8192,
        "the file stops short of the limit, and only just: {} bytes",
        bytes.len()
    );
    assert!(bytes.ends_with(b"\n"), "the last line is whole");
    let kept: Vec<Record> = bytes
        .split_inclusive(|b| *b == b'\n')
        .map(|l| privlog::record::parse_line(&l[..l.len() - 1]).unwrap())
        .collect();
    assert_eq!(kept.len() as u64, rejected, "counted rejected: the records in the file");
    // In the order they were refused, each once.
    let mut at = all.iter();
    for r in &kept {
        assert!(at.any(|a| a == r), "{} out of order or not written", r.path);
    }
}
