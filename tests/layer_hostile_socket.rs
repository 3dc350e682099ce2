//! Hostile clients over real sockets: an axum app with the privlog layer on
//! 127.0.0.1, driven by raw TCP clients that send what no well-behaved client
//! would. After each attack the service still answers a normal request, and
//! every request that reached the service left exactly one valid record.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use privlog::sink::MemorySink;
use privlog::{MasterKey, Outcome, Policy, Record, TrustedProxies, WorkerGuard};
use support::PATIENCE;
use support::output::{assert_clean_line, max_line_len};
use support::records::wait_records;
use support::socket::{Server, get as http_get, send_raw, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHUNK: &[u8] = &[b'x'; 64 * 1024];

/// Reads the whole request body, counting bytes; a broken upload is a 400.
async fn upload(body: Body) -> Result<String, http::StatusCode> {
    let mut body = body;
    let mut n = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| http::StatusCode::BAD_REQUEST)?;
        if let Some(d) = frame.data_ref() {
            n += d.len();
        }
    }
    Ok(n.to_string())
}

/// A response body that never ends: 64 KiB chunks for as long as the client reads.
struct Endless;

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(CHUNK)))))
    }
}

async fn download() -> Body {
    Body::new(Endless)
}

async fn boom() -> &'static str {
    panic!("handler panicked on purpose")
}

async fn fallback() -> &'static str {
    "fallback"
}

struct App {
    server: Server,
    mem: MemorySink,
    guard: WorkerGuard,
}

async fn start(policy: Policy) -> App {
    let mem = MemorySink::new();
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([7; 32]))
        .policy(policy)
        .sink(mem.clone())
        .build()
        .expect("build");
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/upload", post(upload))
        .route("/download", get(download))
        .route("/boom", get(boom))
        .fallback(fallback)
        .layer(layer);
    App {
        server: serve(app).await,
        mem,
        guard,
    }
}

impl App {
    /// A normal request still succeeds.
    async fn assert_healthy(&self) {
        let r = http_get(self.server.addr, "/health", &[])
            .await
            .expect("health answered");
        assert_eq!(r.status, 200, "service unhealthy after the attack: {}", r.head);
        assert_eq!(r.body, b"ok");
    }

    /// Shuts down and checks every record line and the accounting; returns the records.
    /// `expected`: how many requests reached the service, when the test knows.
    fn finish(self, expected: Option<usize>) -> Vec<Record> {
        if let Some(n) = expected {
            wait_records(&self.mem, n);
        }
        drop(self.server);
        let report = self.guard.shutdown_within(PATIENCE);
        assert!(report.complete, "shutdown did not finish");
        assert!(report.stats.is_balanced(), "{:?}", report.stats);
        let records = self.mem.records();
        assert_eq!(
            records.len() as u64,
            report.stats.created,
            "every request that reached the layer left exactly one record"
        );
        if let Some(n) = expected {
            assert_eq!(records.len(), n, "one record per request that reached the service");
        }
        for r in &records {
            assert_clean_line(&r.to_ndjson(), max_line_len());
        }
        records
    }
}

fn by_route<'a>(records: &'a [Record], route: &str) -> Vec<&'a Record> {
    records.iter().filter(|r| r.route.as_deref() == Some(route)).collect()
}

fn trusted_loopback() -> Policy {
    Policy::new().trusted_proxies(TrustedProxies::parse(["127.0.0.1"]).expect("cidr"))
}

// ---------------------------------------------------------------- spoofing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let app = start(Policy::new()).await;
    let spoofs = [
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-For", "203.0.113.9, 198.51.100.7"),
        ("Forwarded", "for=203.0.113.9"),
        ("Forwarded", "for=\"[2001:db8::1]:4711\""),
        ("X-Real-IP", "203.0.113.9"),
    ];
    for (h, v) in spoofs {
        let r = http_get(app.server.addr, "/health", &[(h, v)]).await.expect("answered");
        assert_eq!(r.status, 200);
    }
    let records = app.finish(Some(spoofs.len()));
    for r in records {
        assert_eq!(r.client.as_deref(), Some("127.0.0.0/24"), "spoofed header was believed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_chain_yields_the_rightmost_untrusted_hop() {
    let app = start(trusted_loopback()).await;
    // (header, value, expected client)
    let cases: [(&str, &str, Option<&str>); 9] = [
        ("X-Forwarded-For", "203.0.113.9", Some("203.0.113.0/24")),
        // A client can prepend anything; the proxy appends what it saw.
        ("X-Forwarded-For", "10.9.9.9, 198.51.100.7", Some("198.51.100.0/24")),
        ("X-Forwarded-For", "198.51.100.7, 127.0.0.1", Some("198.51.100.0/24")),
        (
            "Forwarded",
            "for=\"[2001:db8:aa:bb::1]:4711\"",
            Some("2001:db8:aa::/48"),
        ),
        (
            "Forwarded",
            "for=198.51.100.7;proto=https, for=127.0.0.1",
            Some("198.51.100.0/24"),
        ),
        ("Forwarded", "for=unknown", None),
        ("Forwarded", "for=_hidden", None),
        ("X-Forwarded-For", "not-an-ip", None),
        // IPv4-mapped IPv6 is treated as IPv4.
        ("X-Forwarded-For", "::ffff:203.0.113.77", Some("203.0.113.0/24")),
    ];
    for (i, (h, v, _)) in cases.iter().enumerate() {
        let r = http_get(app.server.addr, "/health", &[(h, v)]).await.expect("answered");
        assert_eq!(r.status, 200);
        // Sequential requests: the i-th record belongs to the i-th case.
        wait_records(&app.mem, i + 1);
    }
    let records = app.finish(Some(cases.len()));
    for ((h, v, want), r) in cases.iter().zip(&records) {
        assert_eq!(r.client.as_deref(), *want, "{h}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_forwarded_hops_are_bounded_and_harmless() {
    let app = start(trusted_loopback()).await;
    let xff = (0..10_000)
        .map(|i| format!("10.{}.{}.{}", i % 200, (i / 200) % 200, i % 250))
        .collect::<Vec<_>>()
        .join(", ");
    let fwd = (0..10_000).map(|_| "for=unknown").collect::<Vec<_>>().join(",");
    let garbage = "\u{7f},,,;;;===\"\"\"[[[]]]".repeat(2_000);
    let r1 = http_get(app.server.addr, "/health", &[("X-Forwarded-For", &xff)]).await;
    let r2 = http_get(app.server.addr, "/health", &[("Forwarded", &fwd)]).await;
    let r3 = http_get(app.server.addr, "/health", &[("Forwarded", &garbage)]).await;
    let answered = [r1, r2, r3].iter().flatten().filter(|r| r.status == 200).count();
    app.assert_healthy().await;
    let records = app.finish(Some(answered + 1));
    for r in &records {
        if let Some(c) = &r.client {
            assert!(c.ends_with("/24") || c.ends_with("/48"), "client not truncated: {c}");
        }
    }
}

// ------------------------------------------------------ oversize and bytes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uris_and_headers_over_64_kib_leave_capped_records() {
    let app = start(Policy::new()).await;
    let long_path = format!("/{}", "a".repeat(70 * 1024));
    let many_segments = "/seg".repeat(20_000);
    let long_header = "v".repeat(70 * 1024);
    let mut reached = 0;
    for (path, headers) in [
        (long_path.as_str(), vec![]),
        (many_segments.as_str(), vec![]),
        ("/health", vec![("X-Big", long_header.as_str())]),
        (
            "/health",
            vec![
                ("Cookie", long_header.as_str()),
                ("Authorization", long_header.as_str()),
            ],
        ),
    ] {
        // hyper may refuse an oversized head (431/414) before the service runs;
        // either way the connection is answered, not hung.
        let r = http_get(app.server.addr, path, &headers).await;
        if let Some(r) = r
            && r.status == 200
        {
            reached += 1;
        }
    }
    app.assert_healthy().await;
    let records = app.finish(Some(reached + 1));
    assert!(reached >= 2, "the 70 KiB requests should reach the service");
    for r in &records {
        assert!(!r.path.contains("aaaaaaaaaaaaaaaa"), "long segment kept verbatim");
        assert!(r.path.matches('/').count() <= privlog::policy::MAX_SEGMENTS + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_and_line_breaking_bytes_in_paths_never_reach_the_output() {
    let app = start(Policy::new()).await;
    let paths = [
        "/a%00b",
        "/a%0d%0aX-Injected:%20yes",
        "/a%0aHTTP/1.1%20200",
        "/nel%c2%85here",
        "/ls%e2%80%a8ps%e2%80%a9",
        "/ansi%1b%5b31mred%1b%5b0m",
        "/quote%22%7d%2c%22status%22%3a200",
        "/back%5c%5cslash",
        "/bad-utf8%ff%fe%c0%af",
        "/del%7f",
        "/json\"break",
        "/brace}{",
    ];
    let mut reached = 0;
    for p in paths {
        if let Some(r) = http_get(app.server.addr, p, &[]).await
            && r.status == 200
        {
            reached += 1;
        }
    }
    // Raw bytes no URI may contain: hyper rejects them before the service runs.
    let raw_requests: [&[u8]; 4] = [
        b"GET /raw\x1b[31m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /raw\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /raw\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /raw\xc2\x85 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ];
    for raw in raw_requests {
        if let Some(r) = send_raw(app.server.addr, raw).await
            && r.status == 200
        {
            reached += 1;
        }
    }
    app.assert_healthy().await;
    let records = app.finish(Some(reached + 1));
    assert!(reached >= paths.len(), "every percent-encoded path reaches the service");
    for r in &records {
        let line = r.to_ndjson();
        for needle in ["Injected", "HTTP/1.1 200", "\"status\":200,\"status\"", "red"] {
            assert!(!r.path.contains(needle), "{needle:?} leaked into path {:?}", r.path);
        }
        assert!(!line.contains("\\u0000") && !line.contains("\\u001b") && !line.contains("\\u2028"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_in_header_values_and_methods_stays_out_of_the_output() {
    let app = start(Policy::atlassian_connect()).await;
    let evil_jwt = "eyJhbGciOiJIUzI1NiJ9.\u{7f}\".c2ln";
    let reqs: [&[u8]; 4] = [
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Evil: a\xc2\x85b\xe2\x80\xa8c\x1b[2J\r\n\r\n",
        b"FOO\"BAR /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"PROPFIND /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /health?jwt=%22%7D%0A HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: JWT a.b\"\\\r\n\r\n",
    ];
    let mut reached = 0;
    for raw in reqs {
        if let Some(r) = send_raw(app.server.addr, raw).await
            && (r.status == 200 || r.status == 405)
        {
            reached += 1;
        }
    }
    let r = http_get(
        app.server.addr,
        "/health",
        &[("Authorization", &format!("JWT {evil_jwt}"))],
    )
    .await;
    if r.is_some_and(|r| r.status == 200) {
        reached += 1;
    }
    app.assert_healthy().await;
    let records = app.finish(Some(reached + 1));
    for r in &records {
        assert!(
            ["GET", "_OTHER"].contains(&r.method.as_str()),
            "method {:?} should be GET or _OTHER",
            r.method
        );
        assert!(r.account.is_none() || r.account.as_deref().is_some_and(|a| !a.contains('"')));
    }
}

// ------------------------------------------------------- slow and aborted

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_and_leave_no_record() {
    let app = start(Policy::new()).await;
    let mut conns = Vec::new();
    for _ in 0..32 {
        let mut s = TcpStream::connect(app.server.addr).await.expect("connect");
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("write");
        conns.push(s);
    }
    // While they hang, normal clients are served.
    app.assert_healthy().await;
    // Keep trickling a byte now and then; the header read timeout still fires.
    let mut closed = 0;
    for mut s in conns {
        let mut buf = [0u8; 1024];
        let outcome = tokio::time::timeout(PATIENCE, async {
            loop {
                if s.write_all(b"a").await.is_err() {
                    return true;
                }
                tokio::select! {
                    r = s.read(&mut buf) => match r {
                        // Closed by the server: what the timeout is for.
                        Ok(0) | Err(_) => return true,
                        // A 408 answer before the close; keep reading.
                        Ok(_) => {}
                    },
                    _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
                }
            }
        })
        .await;
        if outcome == Ok(true) {
            closed += 1;
        }
    }
    assert_eq!(closed, 32, "every slowloris connection was closed by the server");
    app.assert_healthy().await;
    let records = app.finish(Some(2));
    assert!(records.iter().all(|r| r.status == Some(200)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_aborting_mid_upload_leaves_one_record_with_partial_bytes() {
    let app = start(Policy::new()).await;
    let declared = 10 * 1024 * 1024;
    let sent = 256 * 1024;
    {
        let mut s = TcpStream::connect(app.server.addr).await.expect("connect");
        let head = format!("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n");
        s.write_all(head.as_bytes()).await.expect("head");
        for _ in 0..sent / CHUNK.len() {
            s.write_all(CHUNK).await.expect("body chunk");
        }
        s.flush().await.expect("flush");
        // Give the handler a chance to read what was sent, then vanish.
        let mut probe = [0u8; 1];
        let _ = tokio::time::timeout(std::time::Duration::from_millis(200), s.read(&mut probe)).await;
    }
    app.assert_healthy().await;
    let records = app.finish(Some(2));
    let up = by_route(&records, "/upload");
    assert_eq!(up.len(), 1, "one record for the aborted upload");
    let r = up[0];
    assert!(
        r.outcome != Outcome::Completed || r.status.is_some_and(|s| s >= 400),
        "an aborted upload is not a success: {r:?}"
    );
    assert!(
        r.req_bytes <= declared as u64,
        "req_bytes {} over the declared length",
        r.req_bytes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_aborting_mid_download_leaves_one_aborted_record_with_partial_bytes() {
    let app = start(Policy::new()).await;
    let mut got = 0usize;
    {
        let mut s = TcpStream::connect(app.server.addr).await.expect("connect");
        s.write_all(b"GET /download HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("request");
        let mut buf = vec![0u8; 64 * 1024];
        while got < 1024 * 1024 {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "server closed a never-ending download");
            got += n;
        }
        // Drop the socket mid-body.
    }
    app.assert_healthy().await;
    let records = app.finish(Some(2));
    let down = by_route(&records, "/download");
    assert_eq!(down.len(), 1, "one record for the aborted download");
    let r = down[0];
    assert_eq!(r.outcome, Outcome::Aborted);
    assert_eq!(r.status, Some(200));
    assert!(r.resp_bytes > 0, "bytes sent before the abort are counted");
    assert!(r.resp_bytes < (CHUNK.len() * 4096) as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_leaves_one_error_record_and_the_service_survives() {
    let app = start(Policy::new()).await;
    for _ in 0..3 {
        // Without a catch-panic layer hyper drops the connection: no response.
        let r = http_get(app.server.addr, "/boom", &[]).await;
        assert!(r.is_none_or(|r| r.status >= 500));
    }
    app.assert_healthy().await;
    let records = app.finish(Some(4));
    let boom = by_route(&records, "/boom");
    assert_eq!(boom.len(), 3, "one record per panicked request");
    for r in boom {
        assert_ne!(r.outcome, Outcome::Completed, "{r:?}");
        assert_eq!(r.status, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_hostile_connections_leaves_the_service_healthy() {
    let app = start(Policy::new()).await;
    let addr = app.server.addr;
    let junk: [&[u8]; 6] = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS ClientHello on the plain port
        b"GET\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\r\n\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ];
    let mut tasks = Vec::new();
    for _ in 0..8 {
        for raw in junk {
            tasks.push(tokio::spawn(async move { send_raw(addr, raw).await.map(|r| r.status) }));
        }
    }
    for t in tasks {
        let status = t.await.expect("client task");
        assert!(status.is_none_or(|s| s >= 400), "junk was answered with {status:?}");
    }
    app.assert_healthy().await;
    let records = app.finish(None);
    assert!(records.iter().any(|r| r.route.as_deref() == Some("/health")));
    assert!(
        records
            .iter()
            .all(|r| r.route.as_deref() == Some("/health") || r.status.is_none_or(|s| s >= 400)),
        "only the health check succeeded"
    );
}
