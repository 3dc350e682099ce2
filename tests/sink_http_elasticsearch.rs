//! The Elasticsearch `_bulk` encoder against a loopback server that behaves
//! like Elasticsearch's `create` action: it indexes a document under the
//! `_id` the action names (or a fresh one when it names none) and answers a
//! per-item `409` for an id it already holds. A batch sent again after a lost
//! answer, or replayed from the spool by the next process, must not be indexed
//! twice, and its 409s count as delivered.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use privlog::Record;
use privlog::sink::http::{BatchConfig, Elasticsearch, HttpSink, RetryPolicy};
use privlog::sink::spool::SpoolConfig;
use privlog::sink::{Ledger, Sink, SinkStats};
use support::files::TempDir;
use time::OffsetDateTime;

#[derive(Default)]
struct Index {
    /// Documents by `_id`: the record's path.
    docs: BTreeMap<String, String>,
    /// Ids generated for actions that named none.
    generated: u64,
    /// Per-item statuses answered, over all requests.
    created: u64,
    conflicts: u64,
    /// Requests still to be answered only after this delay (indexed first).
    stall: Vec<Duration>,
}

struct FakeEs {
    addr: SocketAddr,
    index: Arc<Mutex<Index>>,
    _rt: tokio::runtime::Runtime,
}

impl FakeEs {
    fn start() -> FakeEs {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let index = Arc::new(Mutex::new(Index::default()));
        let ix = Arc::clone(&index);
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let ix = Arc::clone(&ix);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| bulk(Arc::clone(&ix), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeEs { addr, index, _rt: rt }
    }

    fn url(&self) -> String {
        format!("http://{}/privlog/_bulk", self.addr)
    }

    fn stall_next(&self, d: Duration) {
        self.index.lock().unwrap().stall.push(d);
    }

    /// How many documents hold each path.
    fn paths(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for p in self.index.lock().unwrap().docs.values() {
            *out.entry(p.clone()).or_insert(0) += 1;
        }
        out
    }
}

async fn bulk(ix: Arc<Mutex<Index>>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let (answer, stall) = {
        let mut ix = ix.lock().unwrap();
        let lines: Vec<&[u8]> = body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
        let mut items = Vec::new();
        let mut errors = false;
        for pair in lines.chunks(2) {
            let action: serde_json::Value = serde_json::from_slice(pair[0]).expect("action line is JSON");
            let create = action.get("create").expect("a create action");
            let doc: serde_json::Value = serde_json::from_slice(pair[1]).expect("document is JSON");
            let path = doc["path"].as_str().expect("a path").to_owned();
            let id = match create.get("_id").and_then(|v| v.as_str()) {
                Some(id) => id.to_owned(),
                None => {
                    ix.generated += 1;
                    format!("generated-{}", ix.generated)
                }
            };
            if ix.docs.contains_key(&id) {
                ix.conflicts += 1;
                errors = true;
                items.push(serde_json::json!({"create": {"_id": id, "status": 409,
                    "error": {"type": "version_conflict_engine_exception"}}}));
            } else {
                ix.created += 1;
                ix.docs.insert(id.clone(), path);
                items.push(serde_json::json!({"create": {"_id": id, "status": 201}}));
            }
        }
        let stall = if ix.stall.is_empty() {
            None
        } else {
            Some(ix.stall.remove(0))
        };
        (serde_json::json!({"took": 1, "errors": errors, "items": items}), stall)
    };
    if let Some(d) = stall {
        tokio::time::sleep(d).await;
    }
    Ok(Response::new(Full::new(Bytes::from(answer.to_string()))))
}

fn records(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let ts = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap() + Duration::from_millis(i as u64 / 4);
            let mut r = Record::new(ts, "GET", format!("/{prefix}/{i}"));
            r.status = Some(200);
            r.resp_bytes = 17;
            r
        })
        .collect()
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial(Duration::from_millis(20))
        .max(Duration::from_millis(100))
}

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

fn attach(sink: &mut HttpSink) -> Ledger {
    let ledger = Ledger::detached("test");
    sink.attach(ledger.clone());
    ledger
}

fn assert_indexed_once(es: &FakeEs, prefix: &str, n: usize) {
    let paths = es.paths();
    for i in 0..n {
        assert_eq!(
            paths.get(&format!("/{prefix}/{i}")),
            Some(&1),
            "/{prefix}/{i} not indexed exactly once"
        );
    }
    assert_eq!(paths.len(), n, "unexpected documents in the index");
}

#[test]
fn a_batch_sent_again_after_a_lost_answer_is_indexed_once_and_its_409s_count_as_delivered() {
    let es = FakeEs::start();
    // The first request is indexed, but its answer comes after the sink gave up.
    es.stall_next(Duration::from_secs(3));
    let mut sink = HttpSink::builder(es.url())
        .encoder(Elasticsearch::new())
        .batch(BatchConfig::new().max_records(40))
        .retry(fast_retry())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    // Four records per millisecond: ids must differ within one millisecond.
    sink.write(&records("r", 40)).unwrap();
    drive(&mut sink, &ledger, "40 delivered", |s| s.delivered == 40);
    let s = ledger.stats();
    assert_eq!(
        (s.delivered, s.dropped_total(), s.buffered, s.spooled),
        (40, 0, 0, 0),
        "{s:?}"
    );
    assert_indexed_once(&es, "r", 40);
    let ix = es.index.lock().unwrap();
    assert_eq!(ix.generated, 0, "every action names its _id");
    assert_eq!(ix.created, 40);
    assert!(ix.conflicts >= 40, "the batch sent again was answered 409 per item");
}

#[test]
fn a_batch_replayed_from_the_spool_by_the_next_process_is_not_indexed_twice() {
    let tmp = TempDir::new("es-replay");
    let es = FakeEs::start();
    // Every attempt before shutdown is indexed, but its answer is lost.
    for _ in 0..8 {
        es.stall_next(Duration::from_secs(5));
    }
    let mut sink = HttpSink::builder(es.url())
        .encoder(Elasticsearch::new())
        .batch(BatchConfig::new().max_records(30))
        .retry(fast_retry())
        .timeout(Duration::from_millis(200))
        .spool(SpoolConfig::new(&tmp.0))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    sink.write(&records("p", 30)).unwrap();
    drive(&mut sink, &ledger, "the batch indexed", |_| {
        es.index.lock().unwrap().created == 30
    });
    sink.close(Instant::now() + Duration::from_millis(300)).unwrap();
    let s = ledger.stats();
    assert_eq!(
        (s.delivered, s.spooled),
        (0, 30),
        "unanswered records stay spooled: {s:?}"
    );
    drop(sink);
    es.index.lock().unwrap().stall.clear();

    // The next process replays the spool; the index already holds every record.
    let mut sink = HttpSink::builder(es.url())
        .encoder(Elasticsearch::new())
        .retry(fast_retry())
        .spool(SpoolConfig::new(&tmp.0))
        .build()
        .unwrap();
    let ledger = attach(&mut sink);
    assert_eq!(ledger.stats().recovered, 30);
    drive(&mut sink, &ledger, "spool drained", |s| s.spooled == 0);
    let s = ledger.stats();
    assert_eq!(
        (s.delivered, s.dropped_total()),
        (30, 0),
        "409s count as delivered: {s:?}"
    );
    assert_indexed_once(&es, "p", 30);
    assert_eq!(es.index.lock().unwrap().created, 30, "nothing was indexed twice");
}
