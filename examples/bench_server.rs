//! A hello-world hyper server for load tests, in one of three modes:
//!
//! - `bare`: the service alone;
//! - `privlog`: behind privlog (Atlassian Connect policy) writing NDJSON to a file;
//! - `tracelayer`: behind tower-http's `TraceLayer`, tracing-subscriber's JSON
//!   formatter writing the same fields (method, path, status, latency,
//!   response size) to a file.
//!
//! ```sh
//! cargo run --release --example bench_server -- --mode privlog --addr 127.0.0.1:8080 --log /tmp/requests.ndjson
//! wrk -t1 -c64 -d10s http://127.0.0.1:8080/rest/api/3/issue/PROJ-123/comment?lic=active
//! ```
//!
//! `scripts/loadtest.sh` runs the three modes in alternation and prints the
//! ratios. Stop the server with Ctrl-C (SIGINT); privlog's mode then flushes
//! its records and prints its accounting to stderr.

// A command-line program: it reports on stderr.
#![allow(clippy::print_stderr)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use privlog::sink::FileSink;
use privlog::{MasterKey, Policy};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};
use tower_http::trace::TraceLayer;
use tracing::Span;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Bare,
    Privlog,
    TraceLayer,
}

struct Args {
    mode: Mode,
    addr: SocketAddr,
    log: PathBuf,
    threads: usize,
}

const USAGE: &str =
    "usage: bench_server --mode bare|privlog|tracelayer [--addr 127.0.0.1:8080] [--log FILE] [--threads N]";

fn args() -> Result<Args, String> {
    let mut mode = None;
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut log = std::env::temp_dir().join("privlog-bench-server.log");
    let mut threads = 1;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--mode" => {
                mode = Some(match value()?.as_str() {
                    "bare" => Mode::Bare,
                    "privlog" => Mode::Privlog,
                    "tracelayer" => Mode::TraceLayer,
                    other => return Err(format!("unknown mode {other:?}\n{USAGE}")),
                })
            }
            "--addr" => addr = value()?.parse().map_err(|e| format!("bad --addr: {e}\n{USAGE}"))?,
            "--log" => log = value()?.into(),
            "--threads" => threads = value()?.parse().map_err(|e| format!("bad --threads: {e}\n{USAGE}"))?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let mode = mode.ok_or_else(|| format!("--mode is required\n{USAGE}"))?;
    Ok(Args {
        mode,
        addr,
        log,
        threads,
    })
}

async fn hello<B>(_req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
}

/// Accepts connections until Ctrl-C, serving each with `make(peer)`.
async fn serve<S, B>(listener: TcpListener, make: impl Fn(SocketAddr) -> S)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(make(peer));
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn main() {
    let args = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = match TcpListener::bind(args.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {}: {e}", args.addr);
                std::process::exit(1);
            }
        };
        eprintln!("bench_server: {:?} on http://{}", args.mode, args.addr);
        match args.mode {
            Mode::Bare => serve(listener, |_| tower::service_fn(hello::<Incoming>)).await,
            Mode::Privlog => {
                let sink = match FileSink::open(&args.log) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("{e}");
                        std::process::exit(1);
                    }
                };
                let (layer, guard) = privlog::builder()
                    .key(MasterKey::from_bytes([7; 32]))
                    .policy(Policy::atlassian_connect())
                    .sink(sink)
                    .build()
                    .expect("privlog builds");
                serve(listener, |peer| layer.layer_with_peer(tower::service_fn(hello), peer)).await;
                let report = guard.shutdown_async_within(Duration::from_secs(10)).await;
                let s = report.stats;
                eprintln!(
                    "privlog: created {} dispatched {} dropped_queue_full {} delivered {} balanced {}",
                    s.created,
                    s.dispatched,
                    s.dropped_queue_full,
                    s.delivered_everywhere(),
                    s.is_balanced()
                );
            }
            Mode::TraceLayer => {
                let file = match std::fs::OpenOptions::new().create(true).append(true).open(&args.log) {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("cannot open {}: {e}", args.log.display());
                        std::process::exit(1);
                    }
                };
                tracing_subscriber::fmt()
                    .json()
                    .with_max_level(tracing::Level::INFO)
                    .with_writer(Arc::new(file))
                    .init();
                let trace = TraceLayer::new_for_http()
                    .make_span_with(|req: &Request<Incoming>| {
                        tracing::info_span!("request", method = %req.method(), path = req.uri().path())
                    })
                    .on_request(())
                    .on_response(|res: &Response<Full<Bytes>>, latency: Duration, _span: &Span| {
                        tracing::info!(
                            status = res.status().as_u16(),
                            latency_us = latency.as_micros() as u64,
                            resp_bytes = res.body().size_hint().exact(),
                            "response"
                        );
                    })
                    .on_body_chunk(())
                    .on_eos(())
                    .on_failure(());
                serve(listener, |_| {
                    ServiceBuilder::new().layer(trace.clone()).service_fn(hello)
                })
                .await
            }
        }
    });
}
