//! Simulated days of real traffic: an axum app behind the real layer on a
//! real socket, its clock advancing per request, into a record file.

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
use privlog::{MasterKey, Policy};

/// 2026-11-20T00:00:00Z.
pub const START: u64 = 1_795_132_800;
/// Simulated time between two requests: 600 requests span about three days.
pub const STEP_SECS: u64 = 431;

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
pub fn traffic(dir: &Path, n: usize) -> PathBuf {
    traffic_with(dir, n, Arc::new(AtomicU64::new(0)), None).0
}

/// The simulated wall clock: [`START`] plus [`STEP_SECS`] per request sent.
pub fn sim_clock(tick: &Arc<AtomicU64>) -> impl Fn() -> SystemTime + Send + Sync + 'static {
    let tick = Arc::clone(tick);
    move || UNIX_EPOCH + Duration::from_secs(START + tick.load(Ordering::SeqCst) * STEP_SECS)
}

/// [`traffic`] with the request counter behind the clock given, and one
/// more sink next to the file; returns the file and the shutdown report.
pub fn traffic_with(
    dir: &Path,
    n: usize,
    tick: Arc<AtomicU64>,
    extra: Option<Box<dyn privlog::sink::Sink>>,
) -> (PathBuf, privlog::ShutdownReport) {
    let file = dir.join("records.ndjson");
    // The tools read unmatched paths as the scrub policy writes them
    // (`/nowhere/a`); the allowlist would make them `/{text}/a`.
    let policy = Policy::new()
        .path_policy(privlog::policy::PathPolicy::Scrub)
        .account_header(HeaderName::from_static("x-account-id"))
        .tenant_header(HeaderName::from_static("x-tenant-id"));
    let mut builder = privlog::builder()
        .key(MasterKey::from_bytes([7u8; 32]))
        .policy(policy)
        .sink(FileSink::open(&file).expect("open record file"))
        // These tests compare every record, so no sink may shed load even on
        // a busy machine: room for every request in each sink's queue (up
        // to the most a queue takes; the client sends one request at a time).
        .sink_queue_batches((n + 16).min(2048))
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
