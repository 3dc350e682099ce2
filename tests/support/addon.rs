//! The connect_addon example's app served on a real socket behind the
//! privlog layer, with a memory sink and a file sink, and the key it uses.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use privlog::sink::{FileSink, MemorySink};
use privlog::{Builder, MasterKey, Policy, PrivlogLayer, Pseudonymizer, Purpose, Record, Rotation, ShutdownReport};
use tokio::sync::oneshot;

use super::PATIENCE;
use super::app;
use super::files::TempDir;
use super::jwt::connect_auth;

/// The master key every test server uses.
pub const KEY: [u8; 32] = [0x5a; 32];

/// The master key every test server uses, as a [`MasterKey`].
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

/// The connect_addon app behind `layer`, signing in requests whose Connect
/// JWT is signed with [`super::jwt::CONNECT_SECRET`].
pub fn addon(layer: PrivlogLayer) -> Router {
    app::app(layer, connect_auth())
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
