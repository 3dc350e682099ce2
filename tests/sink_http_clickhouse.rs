//! End to end into a real ClickHouse server (Debian's `clickhouse-server`,
//! started on loopback by `scripts/peers/clickhouse.sh`): requests through the
//! layer, records through the pipeline and the HTTP sink's ClickHouse
//! encoder, read back with SQL.
#![cfg(all(feature = "http", feature = "axum"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use privlog::sink::http::{BatchConfig, ClickHouse, HttpSink};
use privlog::{MasterKey, Policy};
use tower::ServiceExt;

/// A private ClickHouse server, stopped when dropped.
struct ClickHouseServer {
    dir: PathBuf,
    http_port: u16,
}

impl ClickHouseServer {
    fn start(name: &str) -> ClickHouseServer {
        let dir = std::env::temp_dir().join(format!("privlog-clickhouse-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peers/clickhouse.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "could not start ClickHouse ({}); install it with scripts/install-peers.sh \
             (Debian package clickhouse-server)",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let http_port = stdout
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("http_port="))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("clickhouse.sh printed no http_port: {stdout}"));
        ClickHouseServer { dir, http_port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.http_port)
    }

    /// Runs one SQL statement over the HTTP interface and returns the body.
    fn sql(&self, q: &str) -> String {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut resp = agent.post(&self.url()).send(q).unwrap();
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap();
        assert_eq!(status, 200, "{q}: {body}");
        body
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peers/clickhouse.sh");
        let _ = Command::new("bash").arg(script).arg("stop").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const DDL: &str = "CREATE TABLE privlog_requests (
    v UInt8, ts DateTime, client Nullable(String), method String, route Nullable(String),
    path String, query Nullable(String), status Nullable(UInt16), req_bytes UInt64,
    resp_bytes UInt64, ttfb_us Nullable(UInt64), duration_us UInt64, outcome String,
    proto String, account Nullable(String), tenant Nullable(String), epoch String, kid String
) ENGINE = MergeTree ORDER BY ts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_from_requests_arrive_in_clickhouse_with_their_fields() {
    let ch = ClickHouseServer::start("e2e");
    ch.sql(DDL);
    let sink = HttpSink::builder(ch.url())
        .encoder(ClickHouse::new("privlog_requests").unwrap())
        .batch(BatchConfig::new().max_records(100).linger(Duration::from_millis(100)))
        .gzip(true)
        .build()
        .unwrap();
    let (layer, guard) = privlog::builder()
        .key(MasterKey::generate().unwrap())
        .policy(Policy::default())
        .sink(sink)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/items/{id}", get(|| async { "twelve bytes" }))
        .layer(layer);
    for i in 0..250 {
        let req = http::Request::get(format!("/items/{i}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let _ = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
    }
    let report = tokio::task::spawn_blocking(move || guard.shutdown_within(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(report.complete, "{:?}", report.stats);
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    let sink = &report.stats.sinks[0];
    assert_eq!((sink.delivered, sink.dropped_total()), (250, 0), "{sink:?}");

    assert_eq!(ch.sql("SELECT count() FROM privlog_requests").trim(), "250");
    let row = ch.sql(
        "SELECT method, route, status, sum(resp_bytes), countIf(account IS NULL), uniqExact(kid), min(ts) > '2020-01-01 00:00:00' \
         FROM privlog_requests GROUP BY method, route, status FORMAT TSV",
    );
    assert_eq!(row.trim(), "GET\t/items/{id}\t200\t3000\t250\t1\t1");
}

#[test]
fn a_batch_clickhouse_cannot_parse_is_dead_lettered_not_retried() {
    use privlog::Record;
    use privlog::sink::{DropReason, Ledger, Sink};
    let ch = ClickHouseServer::start("strict");
    // `path` is a number here, so the records cannot be parsed.
    ch.sql("CREATE TABLE strict (path UInt32) ENGINE = Memory");
    let dead = std::env::temp_dir().join(format!("privlog-ch-dead-{}.ndjson", std::process::id()));
    let _ = std::fs::remove_file(&dead);
    let mut sink = HttpSink::builder(ch.url())
        .encoder(ClickHouse::new("strict").unwrap())
        .batch(BatchConfig::new().max_records(5))
        .retry(privlog::sink::http::RetryPolicy::new().initial(Duration::from_millis(10)))
        .dead_letter(&dead)
        .build()
        .unwrap();
    let ledger = Ledger::detached("clickhouse");
    sink.attach(ledger.clone());
    let ts = time::OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
    let bad: Vec<Record> = (0..5).map(|i| Record::new(ts, "GET", format!("/bad/{i}"))).collect();
    sink.write(&bad).unwrap();
    let limit = std::time::Instant::now() + Duration::from_secs(60);
    while ledger.stats().dropped_total() < 5 {
        assert!(std::time::Instant::now() < limit, "{:?}", ledger.stats());
        sink.tick().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(ledger.stats().dropped_for(DropReason::Rejected), 5);
    let lines = std::fs::read_to_string(&dead).unwrap();
    assert_eq!(lines.lines().count(), 5);
    assert!(lines.contains("/bad/4"));
    assert_eq!(ch.sql("SELECT count() FROM strict").trim(), "0");
    let _ = std::fs::remove_file(&dead);
}
