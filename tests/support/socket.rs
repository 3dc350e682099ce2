//! A real HTTP server (hyper, with the header read timeout set) around an
//! axum app, and a raw TCP client that can send anything, including bytes no
//! HTTP client library would.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use super::PATIENCE;

/// How long the test server waits for a client to finish sending the request
/// head before it closes the connection (hyper's `header_read_timeout`).
/// Without it a slowloris client could hold a connection open forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// A running test server.
pub struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on 127.0.0.1 with a free port. Each connection gets the
/// socket peer as `ConnectInfo`, the way `axum::serve` does.
pub async fn serve(app: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let app = app.clone();
            tokio::spawn(async move {
                let svc = app.map_request(move |mut req: http::Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT);
                let _ = builder
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                    .await;
            });
        }
    });
    Server { addr, task }
}

/// A parsed HTTP/1.1 response (head only, plus how many body bytes arrived).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// Sends `raw` bytes on a new connection and reads until the server closes it.
/// `None` when the server closed without answering.
pub async fn send_raw(addr: SocketAddr, raw: &[u8]) -> Option<Response> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (e.g. 431) and close before reading everything.
    let _ = s.write_all(raw).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, s.read_to_end(&mut buf)).await;
    parse_response(&buf)
}

/// `GET path` with `Connection: close` and extra header lines.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Option<Response> {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    send_raw(addr, req.as_bytes()).await
}

pub fn parse_response(buf: &[u8]) -> Option<Response> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Response {
        status,
        head,
        body: buf[end + 4..].to_vec(),
    })
}
