//! privlog around a plain hyper 1 service (no axum), served with hyper-util.
//!
//! ```sh
//! cargo run --example hyper_server -- --addr 127.0.0.1:3000
//! curl -s http://127.0.0.1:3000/items/42
//! curl -s --data-binary @Cargo.toml http://127.0.0.1:3000/upload
//! ```
//!
//! Records go to stdout, one NDJSON line per request; messages go to stderr.
//! Without axum there is no `ConnectInfo` and no `MatchedPath`, so the client
//! address is given per connection with [`PrivlogLayer::layer_with_peer`] and
//! the service names its route templates with [`RouteTemplate`]. Set
//! `PRIVLOG_KEY` (64 hex characters) for stable pseudonyms. Stop with Ctrl-C
//! or SIGTERM: every record is written before the process exits.
#![allow(clippy::print_stderr)] // an example's messages go to the terminal

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use privlog::layer::RequestBody;
use privlog::sink::WriterSink;
use privlog::{MasterKey, Policy, RouteTemplate};

/// The application: a plain tower service over hyper's request body, as
/// wrapped (and counted) by privlog.
async fn handle(req: Request<RequestBody<Incoming>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let res = match (req.method(), segments.as_slice()) {
        (&Method::GET, [""]) => text(StatusCode::OK, "hello from hyper\n".to_owned()),
        (&Method::GET, ["items", id]) => {
            let mut res = text(StatusCode::OK, format!("item {} of {}\n", id.len(), 100));
            // Name the route so the record says `/items/{id}`, not a scrubbed path.
            res.extensions_mut().insert(RouteTemplate::new("/items/{id}"));
            res
        }
        (&Method::POST, ["upload"]) => match req.into_body().collect().await {
            Ok(body) => {
                let mut res = text(StatusCode::OK, format!("{} bytes\n", body.to_bytes().len()));
                res.extensions_mut().insert(RouteTemplate::new("/upload"));
                res
            }
            Err(_) => text(StatusCode::BAD_REQUEST, "upload interrupted\n".to_owned()),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n".to_owned()),
    };
    Ok(res)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    res
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let addr: SocketAddr = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => "127.0.0.1:3000".parse()?,
        [flag, addr] if flag == "--addr" => addr
            .parse()
            .map_err(|_| format!("--addr {addr:?} is not HOST:PORT (e.g. 127.0.0.1:3000)"))?,
        _ => return Err("usage: hyper_server [--addr HOST:PORT]".into()),
    };
    let mut builder = privlog::builder().policy(Policy::new()).sink(WriterSink::stdout());
    if let Ok(hex) = std::env::var("PRIVLOG_KEY") {
        builder = builder.key(MasterKey::from_hex(hex.trim()).map_err(|e| format!("PRIVLOG_KEY: {e}"))?);
    }
    let (layer, guard) = builder.build()?;

    let listener = tokio::net::TcpListener::bind(addr).await?;
    let shutdown = shutdown_signal();
    eprintln!("hyper_server: listening on http://{}", listener.local_addr()?);
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("hyper_server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // One privlog service per connection, knowing its peer.
        let service = layer.layer_with_peer(tower::service_fn(handle), peer);
        let conn = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(15), graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("hyper_server: requests still running after 15s; stopping anyway");
    }
    drop(layer);
    let report = guard.shutdown_async().await;
    eprintln!(
        "hyper_server: {} records created, {} written",
        report.stats.created,
        report.stats.delivered_everywhere()
    );
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C; the handlers are installed before this returns.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
