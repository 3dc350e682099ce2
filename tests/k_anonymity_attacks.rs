//! Usage statistics under attack, end to end: the connect_addon example
//! behind the real layer, its records read back by the `privlog stats`
//! binary and summarised live by the statistics sink.
//!
//! - Identities a request only claims (a Connect JWT nobody verified, a
//!   header, a query parameter, a path) never lift a group over k: a lone
//!   user's download stays withheld however many forged JWTs join it.
//! - Every record names where its account came from.
//! - A scanner's thousands of unmatched paths never push known routes into
//!   `(other)`.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use common::{Server, app, connect_jwt, empty, get, parse_file, send};
use http::HeaderName;
use privlog::stats::{Period, StatsSink, Summaries, Summary};
use privlog::{AccountSource, Policy};
use serde_json::Value;
use tower::ServiceExt as _;

const SECRET_SIZE: u64 = 123_457;
const CLIENT_KEY: &str = "c8a7d2f1-5b3e-4c9a-8e7d-6f5a4b3c2d1e";

/// A statistics sink at k = 5 per hour that hands its summaries to the test.
fn stats_sink() -> (StatsSink, Arc<Mutex<Vec<Summaries>>>) {
    let out: Arc<Mutex<Vec<Summaries>>> = Arc::default();
    let seen = Arc::clone(&out);
    let sink = StatsSink::to_callback(move |s: &Summaries| {
        seen.lock().unwrap().push(s.clone());
        Ok(())
    })
    .period(Period::Hour)
    .k(5);
    (sink, out)
}

/// `privlog stats ARGS FILE` as a child process: its JSON rows and its footer.
fn privlog_stats(args: &[&str], file: &std::path::Path) -> (Vec<Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_privlog"))
        .arg("stats")
        .args(args)
        .args(["--format", "json"])
        .arg(file)
        .output()
        .expect("run privlog stats");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json rows");
    (rows, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_jwts_do_not_reveal_a_lone_user_s_download() {
    let (sink, summaries) = stats_sink();
    let server = Server::start(
        privlog::builder().policy(Policy::atlassian_connect()).sink(sink),
        app::app,
    )
    .await;

    // The add-on's session knows this user (it vouches with AccountId); the
    // JWT is the one Atlassian signed for them.
    let victim = get(server.addr, &format!("/export/secret-report.csv?size={SECRET_SIZE}"))
        .header(
            "authorization",
            format!("JWT {}", connect_jwt("557058:victim", CLIENT_KEY)),
        )
        .header(app::SESSION_ACCOUNT_HEADER, "557058:victim")
        .body(empty())
        .unwrap();
    let (res, body) = send(server.addr, victim).await;
    assert_eq!((res.status().as_u16(), body.len() as u64), (200, SECRET_SIZE));

    // Four forged tokens with made-up `sub` claims, in the header and in
    // `?jwt=`, for the same report.
    for i in 0..4 {
        let token = connect_jwt(&format!("557058:forged-{i}"), CLIENT_KEY);
        let req = if i % 2 == 0 {
            get(server.addr, "/export/secret-report.csv?size=1").header("authorization", format!("JWT {token}"))
        } else {
            get(server.addr, &format!("/export/secret-report.csv?size=1&jwt={token}"))
        };
        let (res, _) = send(server.addr, req.body(empty()).unwrap()).await;
        assert_eq!(res.status().as_u16(), 200);
    }
    let (report, text) = server.stop().await;
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    let dir = common::TempDir::new("k-anonymity");
    let log = dir.path().join("records.ndjson");
    std::fs::write(&log, &text).unwrap();

    let records = parse_file(&text);
    assert_eq!(records.len(), 5);
    let sources: Vec<_> = records.iter().map(|r| r.account_src).collect();
    assert_eq!(sources[0], Some(AccountSource::App));
    assert!(
        sources[1..].iter().all(|s| *s == Some(AccountSource::Jwt)),
        "{sources:?}"
    );
    let accounts: std::collections::BTreeSet<_> = records.iter().filter_map(|r| r.account.clone()).collect();
    assert_eq!(accounts.len(), 5, "five distinct account pseudonyms, one vouched for");

    // From the record file, by the command-line tool.
    let (rows, footer) = privlog_stats(&["--by", "hour,route"], &log);
    for row in &rows {
        assert_ne!(row["route"], "/export/{name}", "the lone download was shown: {row}");
        assert!(row["resp_bytes"].as_u64().unwrap() < SECRET_SIZE, "{row}");
    }
    assert!(footer.contains("withheld (5 requests)"), "{footer}");
    // The requests are there: without k-anonymity the row shows.
    let (all, _) = privlog_stats(&["--by", "route", "--k", "1"], &log);
    let export = all
        .iter()
        .find(|r| r["route"] == "/export/{name}")
        .expect("export row at k = 1");
    assert_eq!(export["requests"], 5);
    assert_eq!(export["resp_bytes"], SECRET_SIZE + 4);
    assert_eq!(
        (&export["distinct_accounts"], &export["vouched_accounts"]),
        (&Value::from(5), &Value::from(1))
    );

    // Live, by the statistics sink.
    let summaries = summaries.lock().unwrap();
    let rows: Vec<&Summary> = summaries.iter().flat_map(|s| &s.rows).collect();
    assert!(rows.iter().all(|r| r.resp_bytes < SECRET_SIZE), "{rows:?}");
    assert_eq!(summaries.iter().map(|s| s.suppressed_requests).sum::<u64>(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_names_where_its_account_came_from() {
    let policy = Policy::atlassian_connect()
        .account_header(HeaderName::from_static("x-account-id"))
        .account_query_param("acct");
    let server = Server::connect_addon(policy).await;
    let jwt = format!("JWT {}", connect_jwt("557058:jwt", CLIENT_KEY));
    let requests = [
        get(server.addr, "/health").header(app::SESSION_ACCOUNT_HEADER, "557058:app"),
        get(server.addr, "/health").header("authorization", jwt.as_str()),
        get(server.addr, "/health").header("x-account-id", "557058:header"),
        get(server.addr, "/health?acct=557058:query"),
        get(server.addr, "/people/557058:0c7b7d4e-6a4b-4c6b-9b7e-1f2e3d4c5b6a"),
        get(server.addr, "/health"),
    ];
    for req in requests {
        send(server.addr, req.body(empty()).unwrap()).await;
    }
    let records = server.records(6).await;
    let sources: Vec<_> = records.iter().map(|r| r.account_src).collect();
    assert_eq!(
        sources,
        [
            Some(AccountSource::App),
            Some(AccountSource::Jwt),
            Some(AccountSource::Header),
            Some(AccountSource::Query),
            Some(AccountSource::Path),
            None,
        ]
    );
    assert!(records[..5].iter().all(|r| r.account.is_some()) && records[5].account.is_none());
    let (_, text) = server.stop().await;
    assert!(text.contains(r#""account_src":"app","#) && text.contains(r#""account_src":null,"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_s_paths_do_not_push_known_routes_into_other() {
    const SCANNER: usize = 20_001;
    const KNOWN: [&str; 3] = ["/health", "/search", "/macro"];
    // One fixed instant: every request falls into the same hour.
    let at = UNIX_EPOCH + Duration::from_secs(1_795_132_800 + 600);
    let (sink, summaries) = stats_sink();
    let (layer, guard) = privlog::builder()
        .key(common::key())
        .policy(Policy::atlassian_connect())
        .sink(sink.clock(move || at))
        .clock(move || at)
        .queue_capacity(SCANNER + 64)
        // As many queued batches as the limits allow, so the sink never drops.
        .batch_size(256)
        .sink_queue_batches(4096)
        .build()
        .unwrap();
    let app = app::app(layer);
    // A scanner probes 20 001 paths no route matches, first.
    for i in 0..SCANNER {
        let req = http::Request::get(format!("/wp-content/plugins/probe{i}.php"))
            .body(Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status().as_u16(), 404);
    }
    // Then five signed-in users use each known route.
    for route in KNOWN {
        for user in 0..5 {
            let req = http::Request::get(route)
                .header(app::SESSION_ACCOUNT_HEADER, format!("557058:user-{user}"))
                .body(Body::empty())
                .unwrap();
            let res = app.clone().oneshot(req).await.unwrap();
            assert_eq!(res.status().as_u16(), 200, "{route}");
        }
    }
    drop(app);
    let report = tokio::task::spawn_blocking(move || guard.shutdown()).await.unwrap();
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    let stats = report
        .stats
        .sinks
        .iter()
        .find(|s| s.name == "stats")
        .expect("stats sink");
    assert_eq!(stats.delivered, (SCANNER + 5 * KNOWN.len()) as u64);

    let summaries = summaries.lock().unwrap();
    let rows: Vec<&Summary> = summaries.iter().flat_map(|s| &s.rows).collect();
    for route in KNOWN {
        let row = rows.iter().find(|r| r.route.as_deref() == Some(route));
        let row = row.unwrap_or_else(|| panic!("{route} was folded into (other)"));
        assert_eq!((row.requests, row.vouched_accounts), (5, 5), "{route}");
    }
    // The scanner filled its own cap; what it sent beyond went to (other).
    let other: Vec<_> = rows.iter().filter(|r| r.is_other()).collect();
    assert_eq!(other.len(), 1, "one (other) row");
    assert_eq!(other[0].requests, 1);
    assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), stats.delivered);
}
