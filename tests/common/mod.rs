//! Shared helpers for the end-to-end tests: the connect_addon app served on a
//! real socket, HTTP/1.1 and HTTP/2 clients, Connect JWTs, temp dirs.
#![allow(dead_code, unreachable_pub)]

#[path = "../../examples/connect_addon/app.rs"]
pub mod app;
pub mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use privlog::sink::{FileSink, MemorySink};
use privlog::{Builder, MasterKey, Policy, PrivlogLayer, Pseudonymizer, Purpose, Record, Rotation, ShutdownReport};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The master key every test server uses.
pub const KEY: [u8; 32] = [0x5a; 32];

/// How long a test waits for records that must arrive before failing.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub fn key() -> MasterKey {
    MasterKey::from_bytes(KEY)
}

/// The pseudonym the layer must write for `input` at time `ts` (monthly rotation).
pub fn expected_pseudonym(purpose: Purpose, ts: time::OffsetDateTime, input: &str) -> String {
    let epoch = Rotation::Monthly.epoch_of(ts);
    Pseudonymizer::new(&key())
        .pseudonym(purpose, &epoch, input)
        .into_string()
}

/// The shared secret of the add-on's installation in tests: what Atlassian
/// signs its Connect JWTs with ([`signed_jwt`]). The example process gets it
/// as `CONNECT_SHARED_SECRET`.
pub const CONNECT_SECRET: &str = "test-installation-shared-secret-0123456789abcdef";

/// The add-on's sign-in, verifying tokens signed with [`CONNECT_SECRET`].
pub fn connect_auth() -> app::ConnectAuth {
    app::ConnectAuth::new(CONNECT_SECRET.as_bytes())
}

/// A Connect JWT for `sub` on site `iss`, signed (HS256) with
/// [`CONNECT_SECRET`] as Atlassian signs them: the add-on signs its user in.
pub fn signed_jwt(sub: &str, iss: &str) -> String {
    signed_jwt_with(CONNECT_SECRET.as_bytes(), sub, iss)
}

/// A Connect JWT for `sub` on site `iss`, signed (HS256) with `secret`.
pub fn signed_jwt_with(secret: &[u8], sub: &str, iss: &str) -> String {
    sign_jwt(
        secret,
        &serde_json::json!({
            "sub": sub,
            "iss": iss,
            "qsh": "context-qsh",
            "iat": 1_790_000_000u64,
            "exp": 4_000_000_000u64,
        }),
    )
}

/// A Connect JWT for `sub` signed with [`CONNECT_SECRET`] and without the
/// `iss` claim (so privlog finds no tenant in it).
pub fn signed_jwt_without_iss(sub: &str) -> String {
    sign_jwt(
        CONNECT_SECRET.as_bytes(),
        &serde_json::json!({"sub": sub, "qsh": "context-qsh", "exp": 4_000_000_000u64}),
    )
}

/// `claims` as an HS256 JWT signed with `secret`.
pub fn sign_jwt(secret: &[u8], claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let sig = URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, signed.as_bytes()));
    format!("{signed}.{sig}")
}

/// The connect_addon app behind `layer`, signing in requests whose Connect
/// JWT is signed with [`CONNECT_SECRET`].
pub fn addon(layer: PrivlogLayer) -> Router {
    app::app(layer, connect_auth())
}

/// An Atlassian Connect JWT with `sub` and `iss`, shaped like a real one
/// but not signed by Atlassian: what anyone can make. privlog reads its
/// claims (`account_src` `jwt`); the add-on signs nobody in with it.
pub fn connect_jwt(sub: &str, iss: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "sub": sub,
        "iss": iss,
        "qsh": "8063ff4ca1e41df7bc90c8ab6d0f6207d491cf6dad7c66ea797b4614b71922e9",
        "iat": 1_790_000_000u64,
        "exp": 1_790_000_180u64,
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let sig = URL_SAFE_NO_PAD.encode([0x42u8; 32]);
    format!("{header}.{payload}.{sig}")
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "privlog-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A privlog-wrapped app on 127.0.0.1 with a memory sink and a file sink.
pub struct Server {
    pub addr: SocketAddr,
    pub mem: MemorySink,
    pub log: PathBuf,
    pub layer: PrivlogLayer,
    guard: Option<privlog::WorkerGuard>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: TempDir,
}

impl Server {
    /// The connect_addon app under `policy`.
    pub async fn connect_addon(policy: Policy) -> Server {
        Server::start(privlog::builder().policy(policy), addon).await
    }

    /// `make` turns the layer into the router to serve; `builder` has no
    /// key and no sinks yet.
    pub async fn start(builder: Builder, make: impl FnOnce(PrivlogLayer) -> Router) -> Server {
        let dir = TempDir::new("server");
        let log = dir.path().join("records.ndjson");
        let mem = MemorySink::new();
        let (layer, guard) = builder
            .key(key())
            .sink(mem.clone())
            .sink(FileSink::open(&log).expect("open log file"))
            .build()
            .expect("build privlog");
        Server::serve(make(layer.clone()), layer, guard, mem, log, dir).await
    }

    pub async fn serve(
        router: Router,
        layer: PrivlogLayer,
        guard: privlog::WorkerGuard,
        mem: MemorySink,
        log: PathBuf,
        dir: TempDir,
    ) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app::serve(listener, router, async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            mem,
            log,
            layer,
            guard: Some(guard),
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// Waits until the memory sink holds at least `n` records and returns them all.
    pub async fn records(&self, n: usize) -> Vec<Record> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.mem.records();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} records, got {} after {PATIENCE:?}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits for exactly one new record beyond the `before` already seen.
    pub async fn one_record_after(&self, before: usize) -> Record {
        let all = self.records(before + 1).await;
        // Give a duplicate a chance to show up before asserting there is none.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let all_now = self.mem.records();
        assert_eq!(all_now.len(), before + 1, "exactly one record per request: {all:#?}");
        all_now[before].clone()
    }

    /// Stops the server (graceful), shuts the pipeline down and returns the
    /// report and the log file's text.
    pub async fn stop(mut self) -> (ShutdownReport, String) {
        self.stop_serving().await;
        let report = self.shutdown_pipeline().await;
        let text = std::fs::read_to_string(&self.log).expect("read log file");
        (report, text)
    }

    /// Stops accepting and waits for open connections to finish.
    pub async fn stop_serving(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }

    /// Shuts the pipeline down (the server may keep serving).
    pub async fn shutdown_pipeline(&mut self) -> ShutdownReport {
        let guard = self.guard.take().expect("the pipeline is shut down once");
        tokio::task::spawn_blocking(move || guard.shutdown())
            .await
            .expect("shutdown")
    }
}

/// Sends one request on a fresh HTTP/1.1 connection and reads the whole response.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> (Response<()>, Bytes) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("http1 handshake");
    tokio::spawn(conn);
    let res = sender.send_request(req).await.expect("response");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    (Response::from_parts(parts, ()), body)
}

/// Sends one request over HTTP/2 (prior knowledge) and reads the whole response.
pub async fn send_h2(addr: SocketAddr, req: Request<Full<Bytes>>) -> (Response<()>, Bytes) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .expect("http2 handshake");
    tokio::spawn(conn);
    let res = sender.send_request(req).await.expect("response");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("response body").to_bytes();
    (Response::from_parts(parts, ()), body)
}

/// A GET request for `path_and_query` with `Host` set.
pub fn get(addr: SocketAddr, path_and_query: &str) -> hyper::http::request::Builder {
    Request::get(path_and_query).header("host", addr.to_string())
}

/// A POST request for `path_and_query` with `Host` set.
pub fn post(addr: SocketAddr, path_and_query: &str) -> hyper::http::request::Builder {
    Request::post(path_and_query).header("host", addr.to_string())
}

pub fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// Parses every line of an NDJSON record file, failing on any damaged line.
pub fn parse_file(text: &str) -> Vec<Record> {
    text.lines()
        .map(|l| privlog::record::parse_line(l.as_bytes()).unwrap_or_else(|e| panic!("bad record line {l:?}: {e}")))
        .collect()
}
