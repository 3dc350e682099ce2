//! Skip and sampling rules over real sockets: 1000 requests at keep 0.1 give
//! every error, slow and aborted request's record plus exactly one in ten of
//! the successful ones (a counter, so the count is exact), each with its
//! `sample_rate`; skipped requests leave no record; the pipeline's accounting
//! and the usage statistics still count every request exactly.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use privlog::usage::{Summaries, UsageSink};
use privlog::{Outcome, Policy, SampleRate, Sampling, Skip};
use support::addon::Server;
use support::client::{empty, get as req, send};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const OK: usize = 900;
const FAIL: usize = 50;
const MISSING: usize = 20;
const SLOW: usize = 10;
const ABORTED: usize = 20;
const HEALTH: usize = 30;
const PREFLIGHT: usize = 20;

fn app(layer: privlog::PrivlogLayer) -> Router {
    Router::new()
        .route(
            "/ok",
            get(|| async { "ok" }).options(|| async { StatusCode::NO_CONTENT }),
        )
        .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow"
            }),
        )
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(600)).await;
                "too late"
            }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(layer)
}

async fn status_of(server: &Server, method: &str, path: &str) -> u16 {
    let b = req(server.addr, path).method(method);
    send(server.addr, b.body(empty()).unwrap()).await.0.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_keep_a_tenth_every_error_slow_and_aborted_record_is_kept_plus_a_tenth_of_successes() {
    let rate = SampleRate::new(0.1).unwrap();
    let sampling = Sampling::new()
        .keep(rate)
        .slow(Duration::from_millis(250))
        .skip(Skip::route("/health"))
        .skip(Skip::method(axum::http::Method::OPTIONS));
    let summaries: Arc<Mutex<Vec<Summaries>>> = Arc::default();
    let out = summaries.clone();
    let usage = UsageSink::to_callback(move |s: &Summaries| {
        out.lock().unwrap().push(s.clone());
        Ok(())
    })
    .k(1);
    let builder = privlog::builder()
        .policy(Policy::atlassian_connect())
        .sampling(sampling)
        .sink(usage);
    let server = Server::start(builder, app).await;

    // The slow requests run meanwhile.
    let slow: Vec<_> = (0..SLOW)
        .map(|_| {
            let addr = server.addr;
            tokio::spawn(async move { send(addr, req(addr, "/slow").body(empty()).unwrap()).await.0.status() })
        })
        .collect();
    for i in 0..OK {
        assert_eq!(status_of(&server, "GET", "/ok").await, 200);
        if i < FAIL {
            assert_eq!(status_of(&server, "GET", "/fail").await, 500);
        }
        if i < MISSING {
            assert_eq!(status_of(&server, "GET", "/missing").await, 404);
        }
        if i < HEALTH {
            assert_eq!(status_of(&server, "GET", "/health").await, 200);
        }
        if i < PREFLIGHT {
            assert_eq!(status_of(&server, "OPTIONS", "/ok").await, 204);
        }
    }
    for s in slow {
        assert_eq!(s.await.unwrap(), 200);
    }
    for _ in 0..ABORTED {
        let mut conn = TcpStream::connect(server.addr).await.unwrap();
        conn.write_all(format!("GET /hang HTTP/1.1\r\nhost: {}\r\n\r\n", server.addr).as_bytes())
            .await
            .unwrap();
        conn.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(conn);
    }
    let kept = OK / 10 + FAIL + MISSING + SLOW + ABORTED;
    let records = server.records(kept).await;
    let (report, text) = server.stop().await;
    let records_now = support::records::parse_file(&text);
    assert_eq!(records_now.len(), kept, "exactly the kept records: {records:#?}");

    let ok: Vec<_> = records_now
        .iter()
        .filter(|r| r.route.as_deref() == Some("/ok"))
        .collect();
    assert_eq!(ok.len(), OK / 10);
    assert!(ok.iter().all(|r| r.sample_rate == Some(rate) && r.status == Some(200)));
    assert_eq!(text.matches("\"sample_rate\":0.1}").count(), OK / 10, "written as 0.1");
    let by = |route: Option<&'static str>| records_now.iter().filter(move |r| r.route.as_deref() == route);
    assert_eq!(by(Some("/fail")).count(), FAIL);
    assert_eq!(by(None).filter(|r| r.status == Some(404)).count(), MISSING);
    assert_eq!(by(Some("/slow")).count(), SLOW);
    assert_eq!(
        by(Some("/hang")).filter(|r| r.outcome == Outcome::Aborted).count(),
        ABORTED
    );
    assert_eq!(by(Some("/health")).count(), 0, "skipped");
    assert!(
        records_now
            .iter()
            .filter(|r| r.route.as_deref() != Some("/ok"))
            .all(|r| r.sample_rate.is_none()),
        "records every one of which is kept carry no rate"
    );

    let s = &report.stats;
    let made = OK + FAIL + MISSING + SLOW + ABORTED;
    assert_eq!(s.created as usize, made + HEALTH + PREFLIGHT);
    assert_eq!(s.skipped as usize, HEALTH + PREFLIGHT);
    assert_eq!(s.sampled_out as usize, OK - OK / 10);
    assert_eq!(s.dispatched as usize, kept);
    assert!(s.is_balanced(), "{s:?}");
    // The usage sink saw every request that was not skipped; the others
    // only the kept ones.
    assert_eq!(s.sinks[0].received as usize, made);
    assert_eq!(s.sinks[1].received as usize, kept);
    let summaries = summaries.lock().unwrap();
    let counted: u64 = summaries
        .iter()
        .map(|x| x.rows.iter().map(|r| r.requests).sum::<u64>() + x.suppressed_requests)
        .sum();
    assert_eq!(
        counted as usize, made,
        "usage statistics count every request: {summaries:#?}"
    );
}
