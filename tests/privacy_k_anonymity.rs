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

mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderName;
use privlog::usage::{Period, Summaries, Summary, UsageSink};
use privlog::{AccountSource, Policy};
use serde_json::Value;
use support::addon::Server;
use support::app;
use support::client::{empty, get, send};
use support::jwt::{connect_jwt, signed_jwt, signed_jwt_with};
use support::records::parse_file;
use tower::ServiceExt as _;

const SECRET_SIZE: u64 = 123_457;
const CLIENT_KEY: &str = "c8a7d2f1-5b3e-4c9a-8e7d-6f5a4b3c2d1e";

/// A statistics sink at k = 5 per hour that hands its summaries to the test.
fn stats_sink() -> (UsageSink, Arc<Mutex<Vec<Summaries>>>) {
    let out: Arc<Mutex<Vec<Summaries>>> = Arc::default();
    let seen = Arc::clone(&out);
    let sink = UsageSink::to_callback(move |s: &Summaries| {
        seen.lock().unwrap().push(s.clone());
        Ok(())
    })
    .period(Period::Hour)
    .k(5);
    (sink, out)
}

/// `privlog stats ARGS FILE` as a child process: its JSON rows and its footer.
fn privlog_stats(args: &[&str], file: &std::path::Path) -> (Vec<Value>, String) {
    let out = Command::new(support::cli::bin())
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
        support::addon::addon,
    )
    .await;

    // The JWT is the one Atlassian signed for this user: the add-on verifies
    // it and vouches for the account with AccountId.
    let victim = get(server.addr, &format!("/export/secret-report.csv?size={SECRET_SIZE}"))
        .header(
            "authorization",
            format!("JWT {}", signed_jwt("557058:victim", CLIENT_KEY)),
        )
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
    let dir = support::files::TempDir::new("k-anonymity");
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
        // A withheld row counts requests and shows no other figure.
        assert!(row["resp_bytes"].as_u64().unwrap_or(0) < SECRET_SIZE, "{row}");
        if row["withheld"] == true {
            assert!(
                row["resp_bytes"].is_null() && row["distinct_accounts"].is_null(),
                "{row}"
            );
        }
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

/// The add-on vouches only for an account it verified: forged session
/// headers, tokens not signed with the installation's secret and accounts
/// in the path sign nobody in, so a lone user's download stays withheld.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_headers_tokens_and_paths_vouch_for_nobody() {
    let (sink, summaries) = stats_sink();
    let server = Server::start(
        privlog::builder().policy(Policy::atlassian_connect()).sink(sink),
        support::addon::addon,
    )
    .await;
    let export = format!("/export/secret-report.csv?size={SECRET_SIZE}");
    let victim = format!("JWT {}", signed_jwt("557058:victim", CLIENT_KEY));
    let (res, body) = send(
        server.addr,
        get(server.addr, &export)
            .header("authorization", victim.as_str())
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!((res.status().as_u16(), body.len() as u64), (200, SECRET_SIZE));
    let (res, _) = send(
        server.addr,
        get(server.addr, "/rest/accounts/557058:victim/history")
            .header("authorization", victim.as_str())
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status().as_u16(), 200, "the signed-in user reads their history");

    let mut forged = Vec::new();
    for i in 0..4 {
        let who = format!("557058:forged-{i}");
        // A session header naming any account.
        forged.push(get(server.addr, "/export/secret-report.csv?size=1").header("x-addon-account", who.as_str()));
        // A Connect JWT signed with a guessed secret, in the header and the query.
        let guessed = signed_jwt_with(b"a-guessed-shared-secret-0123456789abcdef", &who, CLIENT_KEY);
        forged.push(
            get(server.addr, "/export/secret-report.csv?size=1").header("authorization", format!("JWT {guessed}")),
        );
        forged.push(get(
            server.addr,
            &format!("/export/secret-report.csv?size=1&jwt={guessed}"),
        ));
        // An unsigned token (`alg` none), and a real one with its claims swapped.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{who}","iss":"{CLIENT_KEY}","exp":4000000000}}"#))
        );
        forged.push(get(
            server.addr,
            &format!("/export/secret-report.csv?size=1&jwt={none}"),
        ));
        let real = signed_jwt("557058:victim", CLIENT_KEY);
        let parts: Vec<&str> = real.split('.').collect();
        let swapped = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{who}","iss":"{CLIENT_KEY}","exp":4000000000}}"#)),
            parts[2]
        );
        forged.push(
            get(server.addr, "/export/secret-report.csv?size=1").header("authorization", format!("JWT {swapped}")),
        );
    }
    for req in forged {
        let (res, _) = send(server.addr, req.body(empty()).unwrap()).await;
        assert_eq!(res.status().as_u16(), 200);
    }
    // Accounts in the path: someone else's history, signed in or not.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let path = format!("/rest/accounts/557058:forged-{i}/history");
        let (res, _) = send(
            server.addr,
            get(server.addr, &path)
                .header("x-addon-account", format!("557058:forged-{i}"))
                .body(empty())
                .unwrap(),
        )
        .await;
        statuses.push(res.status().as_u16());
        let (res, _) = send(
            server.addr,
            get(server.addr, &path)
                .header("authorization", victim.as_str())
                .body(empty())
                .unwrap(),
        )
        .await;
        statuses.push(res.status().as_u16());
    }
    let (report, text) = server.stop().await;
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    let records = parse_file(&text);
    assert_eq!(records.len(), 2 + 20 + 8);
    let dir = support::files::TempDir::new("k-forged");
    let log = dir.path().join("records.ndjson");
    std::fs::write(&log, &text).unwrap();

    for by in ["route", "hour,route"] {
        let (rows, _) = privlog_stats(&["--by", by], &log);
        // Requests without any account identify nobody and are shown; the
        // signed-in user's and the forged accounts' requests never are.
        for route in ["/export/{name}", "/rest/accounts/{account_id}/history"] {
            let anonymous = records
                .iter()
                .filter(|r| r.route.as_deref() == Some(route) && r.account.is_none())
                .count();
            let shown: Vec<_> = rows.iter().filter(|r| r["route"] == route).collect();
            for row in &shown {
                assert_eq!(
                    row["distinct_accounts"], 0,
                    "--by {by}: an account of {route} was shown: {row}"
                );
            }
            let n: u64 = shown.iter().map(|r| r["requests"].as_u64().unwrap()).sum();
            assert_eq!(
                n, anonymous as u64,
                "--by {by}: {route} shows other than its anonymous requests"
            );
        }
        for row in &rows {
            assert!(row["resp_bytes"].as_u64().unwrap_or(0) < SECRET_SIZE, "{row}");
        }
    }
    let (all, _) = privlog_stats(&["--by", "route", "--k", "1"], &log);
    let row = |route: &str| all.iter().find(|r| r["route"] == route).cloned().expect("row at k = 1");
    assert_eq!(
        (
            &row("/export/{name}")["requests"],
            &row("/export/{name}")["vouched_accounts"]
        ),
        (&Value::from(21), &Value::from(1))
    );
    let history = row("/rest/accounts/{account_id}/history");
    assert_eq!(
        (&history["requests"], &history["vouched_accounts"]),
        (&Value::from(9), &Value::from(1))
    );

    let summaries = summaries.lock().unwrap();
    let rows: Vec<&Summary> = summaries.iter().flat_map(|s| &s.rows).collect();
    assert!(rows.iter().all(|r| r.resp_bytes < SECRET_SIZE), "{rows:?}");
    assert!(rows.iter().all(|r| r.distinct_accounts == 0), "{rows:?}");
    // Without a session the history asks for sign-in; signed in, only one's own.
    assert_eq!(statuses, [401, 403].repeat(4));
    let vouched: std::collections::BTreeSet<_> = records
        .iter()
        .filter(|r| r.account_src == Some(AccountSource::App))
        .filter_map(|r| r.account.clone())
        .collect();
    assert_eq!(vouched.len(), 1, "only the signed-in user is vouched for");
}

/// The add-on's verification of Connect JWTs, case by case.
#[test]
fn the_add_on_signs_in_only_tokens_signed_with_its_secret() {
    let auth = support::jwt::connect_auth();
    let session = |auth: &app::ConnectAuth, uri: &str, authorization: Option<&str>| {
        let mut req = http::Request::get(uri);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        auth.session_of(&req.body(Body::empty()).unwrap()).map(|s| s.account)
    };
    let good = signed_jwt("557058:jane", CLIENT_KEY);
    let jane = Some("557058:jane".to_owned());
    assert_eq!(session(&auth, &format!("/macro?jwt={good}"), None), jane);
    assert_eq!(session(&auth, "/macro", Some(&format!("JWT {good}"))), jane);
    assert_eq!(session(&auth, "/macro", Some(&format!("jwt  {good}"))), jane);
    // With a token in both, the header's is the one used, as privlog reads
    // it: an unsigned header token is not rescued by a signed query token.
    let joe = signed_jwt("557058:joe", CLIENT_KEY);
    assert_eq!(
        session(&auth, &format!("/macro?jwt={joe}"), Some(&format!("JWT {good}"))),
        jane
    );
    let unsigned = connect_jwt("557058:joe", CLIENT_KEY);
    assert_eq!(
        session(&auth, &format!("/macro?jwt={joe}"), Some(&format!("JWT {unsigned}"))),
        None
    );
    let claims = |c: serde_json::Value| support::jwt::sign_jwt(support::jwt::CONNECT_SECRET.as_bytes(), &c);
    let refused = [
        ("no token", None),
        ("a bearer token", Some(format!("Bearer {good}"))),
        (
            "another secret",
            Some(signed_jwt_with(
                b"another-installation-secret-0123456789",
                "557058:jane",
                CLIENT_KEY,
            )),
        ),
        (
            "expired",
            Some(claims(
                serde_json::json!({"sub": "557058:jane", "exp": 1_700_000_000u64}),
            )),
        ),
        ("no expiry", Some(claims(serde_json::json!({"sub": "557058:jane"})))),
        (
            "no subject",
            Some(claims(serde_json::json!({"iss": CLIENT_KEY, "exp": 4_000_000_000u64}))),
        ),
        (
            "an empty subject",
            Some(claims(serde_json::json!({"sub": "", "exp": 4_000_000_000u64}))),
        ),
        ("a truncated signature", Some(good[..good.len() - 2].to_owned())),
        ("a fourth part", Some(format!("{good}.x"))),
        ("garbage", Some("not.a.token".to_owned())),
    ];
    for (what, token) in refused {
        let header = token.map(|t| if t.starts_with("Bearer") { t } else { format!("JWT {t}") });
        assert_eq!(session(&auth, "/macro", header.as_deref()), None, "{what}");
    }
    // Another algorithm, even with a valid HMAC over its own header.
    let other_alg = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(br#"{"sub":"557058:jane","exp":4000000000}"#);
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, support::jwt::CONNECT_SECRET.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, format!("{header}.{body}").as_bytes()));
        format!("{header}.{body}.{sig}")
    };
    assert_eq!(session(&auth, "/macro", Some(&format!("JWT {other_alg}"))), None);
    // Without a shared secret nobody is signed in.
    assert_eq!(
        session(&app::ConnectAuth::nobody(), &format!("/macro?jwt={good}"), None),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_names_where_its_account_came_from() {
    let policy = Policy::atlassian_connect()
        .account_header(HeaderName::from_static("x-account-id"))
        .account_query_param("acct");
    let server = Server::connect_addon(policy).await;
    let jwt = format!("JWT {}", connect_jwt("557058:jwt", CLIENT_KEY));
    let requests = [
        get(
            server.addr,
            &format!("/health?jwt={}", signed_jwt("557058:app", CLIENT_KEY)),
        ),
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
        .key(support::addon::key())
        // The scrub policy keeps each probe path distinct (the allowlist
        // would fold them all into `/wp-content/plugins/{text}.php`), so the
        // scanner fills the cap on unmatched paths.
        .policy(Policy::atlassian_connect().path_policy(privlog::policy::PathPolicy::Scrub))
        .sink(sink.clock(move || at))
        .clock(move || at)
        .queue_capacity(SCANNER + 64)
        // As many queued batches as the limits allow, so the sink never drops.
        .batch_size(256)
        .sink_queue_batches(4096)
        .build()
        .unwrap();
    let app = support::addon::addon(layer);
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
                .header(
                    "authorization",
                    format!("JWT {}", signed_jwt(&format!("557058:user-{user}"), CLIENT_KEY)),
                )
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

/// `privlog stats --by tenant,route` over the records of `text`, k = 5.
fn tenant_route_rows(text: &str, extra: &[&str]) -> (Vec<Value>, String) {
    let dir = support::files::TempDir::new("k-anonymity-tenants");
    let log = dir.path().join("records.ndjson");
    std::fs::write(&log, text).unwrap();
    let mut args = vec!["--by", "tenant,route"];
    args.extend_from_slice(extra);
    privlog_stats(&args, &log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimed_tenants_with_genuine_accounts_do_not_reveal_a_lone_user_s_site() {
    const VICTIM_SITE: &str = "victim-site";
    let server = Server::connect_addon(Policy::atlassian_connect()).await;
    // Alice, the only user of her site, signed in.
    let alice = signed_jwt("557058:alice", VICTIM_SITE);
    for _ in 0..3 {
        let req = get(server.addr, &format!("/export/r.csv?size=777&jwt={alice}"));
        let (res, body) = send(server.addr, req.body(empty()).unwrap()).await;
        assert_eq!((res.status().as_u16(), body.len()), (200, 777));
    }
    // Five attackers with genuine accounts on their own site: each sends
    // its signed token and, beside it, an unsigned one naming Alice's site,
    // once in the header and once in the query.
    for i in 0..5 {
        let own = signed_jwt(&format!("557058:attacker-{i}"), "attacker-site");
        let forged = connect_jwt(&format!("557058:attacker-{i}"), VICTIM_SITE);
        let req = get(server.addr, &format!("/export/r.csv?size=777&jwt={own}"))
            .header("authorization", format!("JWT {forged}"));
        let (res, _) = send(server.addr, req.body(empty()).unwrap()).await;
        assert_eq!(res.status().as_u16(), 200);
        let req = get(server.addr, &format!("/export/r.csv?size=777&jwt={forged}"))
            .header("authorization", format!("JWT {own}"));
        let (res, _) = send(server.addr, req.body(empty()).unwrap()).await;
        assert_eq!(res.status().as_u16(), 200);
    }
    let (report, text) = server.stop().await;
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    let records = parse_file(&text);
    assert_eq!(records.len(), 13);
    let victim_tenant = records[0].tenant.clone().expect("alice's site");
    assert!(
        records[..3]
            .iter()
            .all(|r| r.tenant.as_deref() == Some(&*victim_tenant))
    );
    // Every vouched account's site is the one its verified token names.
    for r in &records[3..] {
        if r.account_src == Some(AccountSource::App) {
            assert_ne!(r.tenant.as_deref(), Some(&*victim_tenant), "{r:?}");
        }
    }

    let (rows, footer) = tenant_route_rows(&text, &[]);
    for row in &rows {
        assert_ne!(row["tenant"], *victim_tenant, "alice's site was shown: {row}");
    }
    assert!(footer.contains("withheld"), "{footer}");
    // Without k the site's row holds Alice's requests alone.
    let (all, _) = tenant_route_rows(&text, &["--k", "1"]);
    let victim = all.iter().find(|r| r["tenant"] == *victim_tenant).expect("alice's row");
    assert_eq!(
        (victim["requests"].as_u64(), victim["vouched_accounts"].as_u64()),
        (Some(3), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_tenants_do_not_push_real_tenants_into_other() {
    const FORGED: usize = 1_200;
    let server = Server::connect_addon(Policy::atlassian_connect()).await;
    // A client sends health checks, each with an unsigned token naming a
    // new site, first.
    for i in 0..FORGED {
        let token = connect_jwt(&format!("557058:bot-{i}"), &format!("made-up-site-{i}"));
        let req = get(server.addr, "/health").header("authorization", format!("JWT {token}"));
        let (res, _) = send(server.addr, req.body(empty()).unwrap()).await;
        assert_eq!(res.status().as_u16(), 200);
    }
    // Then five real sites, six signed-in users each.
    for site in 0..5 {
        for user in 0..6 {
            let token = signed_jwt(&format!("557058:user-{site}-{user}"), &format!("site-{site}"));
            let req = get(server.addr, "/health").header("authorization", format!("JWT {token}"));
            let (res, _) = send(server.addr, req.body(empty()).unwrap()).await;
            assert_eq!(res.status().as_u16(), 200);
        }
    }
    let (report, text) = server.stop().await;
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    let records = parse_file(&text);
    assert_eq!(records.len(), FORGED + 30);
    let sites: std::collections::BTreeSet<_> = records[FORGED..].iter().filter_map(|r| r.tenant.clone()).collect();
    assert_eq!(sites.len(), 5);

    let (rows, footer) = tenant_route_rows(&text, &["--max-groups", "1000", "--max-unmatched-groups", "10"]);
    for site in &sites {
        let row = rows.iter().find(|r| r["tenant"] == **site);
        let row = row.unwrap_or_else(|| panic!("a real site was folded into (other): {rows:?} {footer}"));
        assert_eq!(
            (row["requests"].as_u64(), row["vouched_accounts"].as_u64()),
            (Some(6), Some(6))
        );
    }
    // The made-up sites are counted, under one row that says what they are
    // (withheld under k: its accounts are only claimed).
    let (rows, _) = tenant_route_rows(&text, &["--max-groups", "1000", "--k", "1"]);
    let unverified = rows
        .iter()
        .find(|r| r["tenant"] == privlog::usage::UNVERIFIED)
        .expect("(unverified)");
    assert_eq!(unverified["requests"].as_u64(), Some(FORGED as u64));
}
