//! Shared by the analyst tests: real traffic through the real layer into a
//! record file, and a check that the peers are installed.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::routing::{get, post};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use privlog::sink::FileSink;
use privlog::{MasterKey, Policy, Record};

/// 2026-11-20T00:00:00Z.
pub(crate) const START: u64 = 1_795_132_800;
/// Simulated time between two requests: 600 requests span about three days.
pub(crate) const STEP_SECS: u64 = 431;

/// The application's own sign-in: a request with a session it recognises
/// (`x-session: valid`) has its account vouched for with `AccountId`; the
/// `x-account-id` header alone is only what the client claims.
async fn vouch(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let signed_in = req.headers().get("x-session").is_some_and(|v| v == "valid");
    let account = req
        .headers()
        .get("x-account-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut res = next.run(req).await;
    if let (true, Some(a)) = (signed_in, account) {
        res.extensions_mut().insert(privlog::AccountId::new(a));
    }
    res
}

fn app(layer: privlog::PrivlogLayer) -> Router {
    Router::new()
        .route("/rest/issues/{id}", get(|| async { "issue" }))
        .route(
            "/rest/search",
            post(|body: String| async move { format!("found {}", body.len()) }),
        )
        .route(
            "/rest/reports/{id}",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn(vouch))
        .layer(layer)
}

/// Sends `n` requests through an axum app wrapped in the privlog layer, over
/// a real socket on 127.0.0.1, with a simulated clock that advances
/// [`STEP_SECS`] per request; returns the record file written by a
/// `FileSink` in `dir`.
pub(crate) fn traffic(dir: &Path, n: usize) -> PathBuf {
    traffic_with(dir, n, Arc::new(AtomicU64::new(0)), None).0
}

/// The simulated wall clock: [`START`] plus [`STEP_SECS`] per request sent.
pub(crate) fn sim_clock(tick: &Arc<AtomicU64>) -> impl Fn() -> SystemTime + Send + Sync + 'static {
    let tick = Arc::clone(tick);
    move || UNIX_EPOCH + Duration::from_secs(START + tick.load(Ordering::SeqCst) * STEP_SECS)
}

/// [`traffic`] with the request counter behind the clock given, and one
/// more sink next to the file; returns the file and the shutdown report.
pub(crate) fn traffic_with(
    dir: &Path,
    n: usize,
    tick: Arc<AtomicU64>,
    extra: Option<Box<dyn privlog::sink::Sink>>,
) -> (PathBuf, privlog::ShutdownReport) {
    let file = dir.join("records.ndjson");
    let policy = Policy::new()
        .account_header(HeaderName::from_static("x-account-id"))
        .tenant_header(HeaderName::from_static("x-tenant-id"));
    let mut builder = privlog::builder()
        .key(MasterKey::from_bytes([7u8; 32]))
        .policy(policy)
        .sink(FileSink::open(&file).expect("open record file"))
        // These tests compare every record, so no sink may shed load even on
        // a busy machine: room for every request in each sink's queue.
        .sink_queue_batches(n + 16)
        .shutdown_timeout(Duration::from_secs(60))
        .clock(sim_clock(&tick));
    if let Some(sink) = extra {
        builder = builder.boxed_sink(sink);
    }
    let (layer, guard) = builder.build().expect("build layer");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            axum::serve(listener, app(layer).into_make_service_with_connect_info::<SocketAddr>())
                .await
                .expect("serve");
        });
        let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        for i in 0..n {
            tick.store(i as u64, Ordering::SeqCst);
            // Accounts 0..29 are busy; 30..39 appear once each, on rare
            // routes. The app signs in (vouches for) all but 22..29, which
            // only claim an account in a header: /rest/search then has six
            // accounts, four of them vouched for.
            let account = if i % 20 == 19 { 30 + (i / 20) % 10 } else { (i * 7) % 30 };
            let tenant = account % 4;
            let (method, path, body) = match i % 10 {
                0..=4 => ("GET", format!("/rest/issues/{}", 1000 + i), ""),
                5 | 6 => ("POST", "/rest/search".to_owned(), "query=status%3Dopen"),
                7 => ("GET", "/health".to_owned(), ""),
                8 => ("GET", format!("/rest/reports/{i}"), ""),
                _ => ("GET", format!("/nowhere/{}", ["a", "b", "c"][i % 3]), ""),
            };
            let mut req = http::Request::builder()
                .method(method)
                .uri(format!("http://{addr}{path}"));
            if path != "/health" {
                req = req
                    .header("x-account-id", format!("557058:account-{account}"))
                    .header("x-tenant-id", format!("tenant-{tenant}.atlassian.net"));
                if !(22..30).contains(&account) {
                    req = req.header("x-session", "valid");
                }
            }
            let res = client
                .request(req.body(Full::new(bytes::Bytes::from(body))).expect("request"))
                .await
                .expect("response");
            let _ = res.into_body().collect().await.expect("body");
        }
        server.abort();
    });
    let report = guard.shutdown();
    assert!(report.complete, "every record written before the test reads them");
    (file, report)
}

/// The days of [`k_attack_records`] a query may show: the only day with
/// five vouched accounts in one key period, and the day without accounts.
pub(crate) const K_SHOWN_DAYS: [&str; 2] = ["2026-11-20", "2026-11-23"];
/// The routes of [`k_attack_records`] a query may show.
pub(crate) const K_SHOWN_ROUTES: [&str; 2] = ["/rest/issues/{id}", "/health"];

/// Records made as the layer makes them (pseudonyms from real keys, per
/// epoch) of traffic that k-anonymity must withhold, next to traffic it
/// must show:
///
/// - 2026-11-20: five signed-in people read issues — shown;
/// - 2026-11-21: one person gets a server error on `/rest/secret`;
/// - 2026-11-22: one person on `/macro` across five restarts without a key
///   (a random key each, so five pseudonyms);
/// - one person downloading `/export/{name}` in five monthly epochs
///   (July to November, five pseudonyms);
/// - 2026-11-23: anonymous health checks only — shown;
/// - 2026-11-24: one signed-in person and 300 forged `?jwt=` identities on
///   `/rest/search`.
pub(crate) fn k_attack_records(dir: &Path) -> PathBuf {
    use privlog::{AccountSource, Pseudonymizer, Purpose, Rotation};
    let key = MasterKey::from_bytes([7u8; 32]);
    let at = |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("time");
    let record = |ts: &str, route: &str, status: u16, who: Option<(&MasterKey, &str, AccountSource)>| {
        let ts = at(ts);
        let mut r = Record::new(ts, "GET", route);
        r.route = Some(route.to_owned());
        r.status = Some(status);
        r.duration_us = 1_000 + u64::from(status);
        r.resp_bytes = 100;
        let epoch = Rotation::Monthly.epoch_of(ts);
        r.epoch = epoch.as_str().to_owned();
        r.kid = key.id().as_str().to_owned();
        if let Some((k, id, src)) = who {
            r.kid = k.id().as_str().to_owned();
            r.account = Some(
                Pseudonymizer::new(k)
                    .pseudonym(Purpose::Account, &epoch, id)
                    .into_string(),
            );
            r.account_src = Some(src);
        }
        r
    };
    let app = AccountSource::App;
    let mut out = Vec::new();
    for i in 0..5 {
        let id = format!("557058:reader-{i}");
        out.push(record(
            "2026-11-20T09:00:00Z",
            "/rest/issues/{id}",
            200,
            Some((&key, &id, app)),
        ));
    }
    out.push(record(
        "2026-11-21T09:00:00Z",
        "/rest/secret",
        500,
        Some((&key, "557058:lone", app)),
    ));
    for restart in 0..5u8 {
        let random = MasterKey::from_bytes([100 + restart; 32]);
        out.push(record(
            "2026-11-22T09:00:00Z",
            "/macro",
            200,
            Some((&random, "557058:lone", app)),
        ));
    }
    for month in 7..=11 {
        let ts = format!("2026-{month:02}-15T09:00:00Z");
        out.push(record(&ts, "/export/{name}", 200, Some((&key, "557058:lone", app))));
    }
    for _ in 0..3 {
        out.push(record("2026-11-23T09:00:00Z", "/health", 200, None));
    }
    out.push(record(
        "2026-11-24T09:00:00Z",
        "/rest/search",
        200,
        Some((&key, "557058:lone", app)),
    ));
    for i in 0..300 {
        let id = format!("557058:forged-{i}");
        out.push(record(
            "2026-11-24T09:00:00Z",
            "/rest/search",
            200,
            Some((&key, &id, AccountSource::Jwt)),
        ));
    }
    let file = dir.join("k-attacks.ndjson");
    let text: String = out.iter().map(Record::to_ndjson).collect();
    std::fs::write(&file, text).expect("write records");
    file
}

/// Reads back every record of `file`.
pub(crate) fn read_records(file: &Path) -> Vec<Record> {
    privlog::read::RecordReader::new(vec![file.to_path_buf()])
        .map(|r| r.expect("readable"))
        .collect()
}

/// A fresh directory under the system temp dir, removed when dropped.
pub(crate) struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh directory under the system temp dir, removed when dropped.
pub(crate) fn temp_dir(name: &str) -> TempDir {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("privlog-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

/// Python with DuckDB, or a failure that says how to install it.
pub(crate) fn require_duckdb() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "DuckDB for Python is missing: run scripts/install-peers.sh (or python3 -m pip install duckdb)"
    );
}

/// Runs `sql` (statements separated by `;`) in DuckDB and returns each
/// statement's rows as JSON arrays.
pub(crate) fn duckdb(sql: &str) -> Vec<Vec<Vec<serde_json::Value>>> {
    const SCRIPT: &str = r#"
import sys, json, duckdb
con = duckdb.connect()
out = []
for stmt in json.load(sys.stdin):
    rows = con.execute(stmt).fetchall()
    out.append([[v if v is None or isinstance(v, (int, float, str)) else str(v) for v in r] for r in rows])
json.dump(out, sys.stdout)
"#;
    let statements: Vec<&str> = sql
        .split(';')
        .filter(|s| {
            s.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
        })
        .collect();
    let mut child = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start python3");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(serde_json::to_string(&statements).expect("json").as_bytes())
            .expect("write sql");
    }
    let out = child.wait_with_output().expect("python3 runs");
    assert!(
        out.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Vec<Vec<serde_json::Value>>> = serde_json::from_slice(&out.stdout).expect("json result");
    results
}

/// Runs the `privlog` binary with `args`; returns stdout, stderr.
pub(crate) fn privlog(args: &[&str]) -> (String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_privlog"))
        .args(args)
        .output()
        .expect("run privlog");
    assert!(
        out.status.success(),
        "privlog {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}
