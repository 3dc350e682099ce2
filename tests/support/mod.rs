//! Shared by the hardening tests: a real HTTP server (hyper, with the header
//! read timeout set) around an axum app, and a raw TCP client that can send
//! anything, including bytes no HTTP client library would.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use privlog::Record;
use privlog::sink::MemorySink;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// How long the test server waits for a client to finish sending the request
/// head before it closes the connection (hyper's `header_read_timeout`).
/// Without it a slowloris client could hold a connection open forever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// The upper bound any wait in these tests is allowed, so a broken build fails
/// instead of hanging. Never asserted as a duration.
pub const PATIENCE: Duration = Duration::from_secs(30);

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

/// Waits until `mem` holds at least `n` records; returns them all.
pub fn wait_records(mem: &MemorySink, n: usize) -> Vec<Record> {
    let until = Instant::now() + PATIENCE;
    while mem.len() < n && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    mem.records()
}

/// Asserts that `line` is what a record must look like on the wire: one JSON
/// object, one line, capped, no raw control characters, and no control
/// characters (C0, DEL, C1, U+2028/9, ESC) in any decoded string value.
pub fn assert_clean_line(line: &str, max_len: usize) {
    assert!(line.ends_with('\n'), "record line must end in a newline: {line:?}");
    assert_eq!(line.matches('\n').count(), 1, "one line per record: {line:?}");
    assert!(
        line.len() <= max_len,
        "record line is {} bytes, cap {max_len}",
        line.len()
    );
    assert!(
        line.trim_end_matches('\n').chars().all(|c| !is_unsafe(c)),
        "raw control character in {line:?}"
    );
    let v: serde_json::Value = serde_json::from_str(line).expect("record line is valid JSON");
    let obj = v.as_object().expect("record line is a JSON object");
    for (k, v) in obj {
        if let Some(s) = v.as_str() {
            assert!(
                s.chars().all(|c| !is_unsafe(c)),
                "control character in field {k}: {s:?}"
            );
            assert!(
                s.len() <= privlog::record::MAX_FIELD_LEN + '…'.len_utf8(),
                "field {k} is {} bytes, over the cap",
                s.len()
            );
        }
    }
}

pub fn is_unsafe(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// The longest record line the built-in encoder can produce: every string
/// field capped at `MAX_FIELD_LEN` bytes, escaped (at most 6 output bytes per
/// input byte), plus the fixed keys and numbers.
pub fn max_line_len() -> usize {
    // 8 string fields that carry request-derived text, conservatively.
    8 * (privlog::record::MAX_FIELD_LEN * 6 + 8) + 1024
}
