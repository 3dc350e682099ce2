//! Realistic add-on traffic nobody planned for: Confluence and Jira URL
//! shapes with people's names, account IDs, user keys, e-mail addresses,
//! customer sites, cards, IBANs, SSNs, phone numbers and IP addresses
//! planted in paths, query values, headers and bodies
//! ([`support::traffic_gen`]), sent over loopback to an axum app with a few
//! matched routes and a 404 fallback behind the real layer, under the
//! default policies. No planted value reaches any encoding of the records —
//! the record file, NDJSON, every HTTP collector encoding, RFC 5424 syslog
//! datagrams, the tracing sink's JSON events, `Debug` — plain, lower-cased,
//! percent-encoded or in base64; names are looked for as whole words.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod support;

use std::collections::HashSet;
use std::io::Write;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::Full;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use privlog::record::write_ndjson;
use privlog::sink::http::{ClickHouse, Elasticsearch, Encoder, Loki, Ndjson, Otlp};
use privlog::sink::{Ledger, Sink, SyslogSink, TracingSink};
use privlog::{Policy, PrivlogLayer, Record};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::PATIENCE;
use support::addon::Server;
use support::client::send;
use support::traffic_gen::{GenRequest, Match, Planted, Rng, SHAPES, holds, request_of};

/// An add-on's routes: REST APIs, the Connect lifecycle, a macro, a health
/// check; everything else is the 404 fallback, whose paths have no template.
fn router(layer: PrivlogLayer) -> Router {
    Router::new()
        .route("/rest/api/3/user", get(|| async { "{}" }))
        .route("/rest/api/3/user/search", get(|| async { "[]" }))
        .route("/wiki/rest/api/content/{id}", get(|| async { "{}" }))
        .route("/rest/api/2/issue/{key}", get(|| async { "{}" }))
        .route(
            "/installed",
            post(|body: String| async move { format!("{}", body.len()) }),
        )
        .route(
            "/uninstalled",
            post(|body: String| async move { format!("{}", body.len()) }),
        )
        .route("/macro/{name}", get(|| async { "<div></div>" }))
        .route("/health", get(|| async { "ok" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .layer(layer)
}

async fn start(policy: Policy) -> Server {
    Server::start(privlog::builder().policy(policy), router).await
}

async fn send_one(server: &Server, g: &GenRequest) {
    let mut req = hyper::Request::builder()
        .method(g.method)
        .uri(&g.uri)
        .header("host", server.addr.to_string());
    for (k, v) in &g.headers {
        req = req.header(*k, v);
    }
    let req = req
        .body(Full::new(Bytes::from(g.body.clone())))
        .unwrap_or_else(|e| panic!("{}: {} is a valid request: {e}", g.shape, g.uri));
    let (res, _) = send(server.addr, req).await;
    assert!(res.status().as_u16() < 500, "{} {}: {}", g.method, g.uri, res.status());
}

/// Takes the next `n` records from the server's memory sink.
async fn take(server: &Server, n: usize) -> Vec<Record> {
    let deadline = Instant::now() + PATIENCE;
    while server.mem.len() < n {
        assert!(
            Instant::now() < deadline,
            "{n} records expected, {} arrived",
            server.mem.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.mem.take()
}

/// The lines of the record file after the first `from`, once it holds `n`.
async fn file_text(server: &Server, from: usize, n: usize) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(&server.log).unwrap_or_default();
        if text.lines().count() >= n {
            return text.lines().skip(from).map(|l| format!("{l}\n")).collect();
        }
        assert!(Instant::now() < deadline, "{n} record lines expected");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The tracing sink's events for `records`, as tracing-subscriber's JSON
/// formatter writes them (every field of the event).
fn tracing_output(records: &[Record]) -> String {
    let buf = Buffer::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let mut sink = TracingSink::new();
    sink.attach(Ledger::detached("tracing"));
    tracing::subscriber::with_default(subscriber, || sink.write(records)).expect("tracing sink writes");
    let bytes = buf.0.lock().unwrap().clone();
    let text = String::from_utf8(bytes).expect("utf-8");
    assert_eq!(text.lines().count(), records.len(), "one event per record");
    text
}

/// A syslog sink sending RFC 5424 datagrams to a UDP socket on loopback.
struct Syslog {
    sink: SyslogSink,
    server: UdpSocket,
}

impl Syslog {
    fn new() -> Syslog {
        let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
        server.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let mut sink = SyslogSink::udp(server.local_addr().expect("addr").to_string())
            .expect("sink")
            .max_message_len(65_000);
        sink.attach(Ledger::detached("syslog"));
        Syslog { sink, server }
    }

    /// The datagrams the sink sends for `records`, one per record.
    fn output(&mut self, records: &[Record]) -> String {
        let mut out = String::new();
        let mut buf = vec![0u8; 70_000];
        // One record at a time, so the socket's buffer never overflows.
        for r in records {
            self.sink.write(std::slice::from_ref(r)).expect("syslog sink writes");
            let len = self.server.recv(&mut buf).expect("one datagram per record");
            out.push_str(&String::from_utf8_lossy(&buf[..len]));
            out.push('\n');
        }
        out
    }
}

/// Every encoding of `records`, by name.
fn encodings(records: &[Record], file: String, syslog: &mut Syslog) -> Vec<(String, String)> {
    let mut out = vec![("record file".to_owned(), file)];
    let mut ndjson = Vec::new();
    for r in records {
        write_ndjson(r, &mut ndjson);
    }
    out.push(("write_ndjson".to_owned(), String::from_utf8(ndjson).expect("utf-8")));
    let encoders: Vec<Box<dyn Encoder>> = vec![
        Box::new(Ndjson::new()),
        Box::new(Ndjson::json_array()),
        Box::new(ClickHouse::new("privlog_requests").expect("table name")),
        Box::new(Loki::new().route_label(true)),
        Box::new(Elasticsearch::new()),
        Box::new(Otlp::new()),
    ];
    for e in encoders {
        let mut body = Vec::new();
        e.encode(records, &mut body);
        let text = format!(
            "{}\n{}",
            e.url_query().unwrap_or_default(),
            String::from_utf8(body).expect("utf-8")
        );
        out.push((format!("http {}", e.name()), text));
    }
    out.push(("syslog".to_owned(), syslog.output(records)));
    out.push(("tracing".to_owned(), tracing_output(records)));
    out.push(("debug".to_owned(), format!("{records:?}")));
    out.push((
        "serde json".to_owned(),
        serde_json::to_string(records).expect("records serialize"),
    ));
    out
}

fn pct(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The pseudonyms of `records` (22 base64url characters each): keyed hashes
/// that cannot hold a name, though a short name may occur in one by chance.
fn pseudonyms(records: &[Record]) -> Vec<String> {
    let is_pseudonym =
        |s: &&String| s.len() == 22 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    records
        .iter()
        .flat_map(|r| [&r.account, &r.tenant, &r.client])
        .flatten()
        .filter(is_pseudonym)
        .cloned()
        .collect()
}

/// An output prepared for searching: as written, lower-cased, and its
/// words (lower case, pseudonyms left out).
struct Haystack<'a> {
    text: &'a str,
    lower: String,
    words: HashSet<String>,
}

impl<'a> Haystack<'a> {
    fn new(text: &'a str, pseudonyms: &[String]) -> Haystack<'a> {
        let mut stripped = text.to_owned();
        for ps in pseudonyms {
            stripped = stripped.replace(ps.as_str(), " ");
        }
        let words = stripped
            .to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        Haystack {
            text,
            lower: text.to_ascii_lowercase(),
            words,
        }
    }
}

/// The form in which `p` appears in `hay`, if it does.
fn leaked(hay: &Haystack<'_>, p: &Planted) -> Option<String> {
    match p.how {
        Match::Substring => {
            let v = p.value.as_str();
            let lv = v.to_ascii_lowercase();
            for form in [lv.clone(), pct(v).to_ascii_lowercase(), pct(&lv).to_ascii_lowercase()] {
                if hay.lower.contains(&form) {
                    return Some(form);
                }
            }
            for value in [v, lv.as_str()] {
                for form in [
                    STANDARD.encode(value),
                    URL_SAFE.encode(value),
                    URL_SAFE_NO_PAD.encode(value),
                ] {
                    if hay.text.contains(&form) {
                        return Some(format!("{form} (base64)"));
                    }
                }
            }
            None
        }
        Match::Word => {
            if hay.words.contains(&p.value) {
                return Some(p.value.clone());
            }
            // Base64 of fewer than four letters is too short to mean anything.
            if p.value.len() >= 4 {
                for value in [p.value.clone(), capitalize(&p.value), p.value.to_ascii_uppercase()] {
                    let form = STANDARD_NO_PAD.encode(&value);
                    if hay.text.contains(&form) {
                        return Some(format!("{form} (base64 of {value})"));
                    }
                }
            }
            None
        }
    }
}

/// Sends one request of every shape, in an order and with values drawn from
/// `seed`; checks every encoding of the records for every planted value.
async fn one_case(server: &Server, syslog: &mut Syslog, seed: u64, sent: &mut usize) -> Result<(), TestCaseError> {
    let mut rng = Rng::new(seed);
    let mut shapes = SHAPES.to_vec();
    for i in (1..shapes.len()).rev() {
        shapes.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let requests: Vec<GenRequest> = shapes.into_iter().map(|s| request_of(&mut rng, s)).collect();
    for g in &requests {
        send_one(server, g).await;
    }
    let before = *sent;
    *sent += requests.len();
    let records = take(server, requests.len()).await;
    prop_assert_eq!(records.len(), requests.len(), "one record per request");
    let file = file_text(server, before, *sent).await;
    let pseudonyms = pseudonyms(&records);
    let planted: Vec<&Planted> = requests.iter().flat_map(|g| &g.planted).collect();
    for (name, text) in encodings(&records, file, syslog) {
        let hay = Haystack::new(&text, &pseudonyms);
        for p in &planted {
            if let Some(form) = leaked(&hay, p) {
                let lines: Vec<&str> = text
                    .lines()
                    .filter(|l| leaked(&Haystack::new(l, &pseudonyms), p).is_some())
                    .collect();
                let carriers: Vec<String> = requests
                    .iter()
                    .filter(|g| g.planted.contains(p))
                    .map(|g| format!("{} {} ({})", g.method, g.uri, g.shape))
                    .collect();
                return Err(TestCaseError::fail(format!(
                    "the {} {:?} reached the {name} output as {form:?}: {lines:#?}\nsent in {carriers:#?}",
                    p.what, p.value
                )));
            }
        }
    }
    Ok(())
}

fn no_planted_value_leaks_under(policy: Policy) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(start(policy));
    let syslog = std::cell::RefCell::new(Syslog::new());
    let sent = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: 16,
        failure_persistence: None,
        // A seed shrinks to another seed, not to a smaller request.
        max_shrink_iters: 4,
        ..Config::default()
    });
    let result = runner.run(&any::<u64>(), |seed| {
        let mut n = sent.get();
        let r = rt.block_on(one_case(&server, &mut syslog.borrow_mut(), seed, &mut n));
        sent.set(n);
        r
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (report, text) = rt.block_on(server.stop());
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    assert_eq!(report.stats.delivered_everywhere() as usize, sent.get());
    assert_eq!(
        support::records::parse_file(&text).len(),
        sent.get(),
        "every line is a record"
    );
}

#[test]
fn no_planted_value_reaches_any_encoding_under_the_connect_preset() {
    no_planted_value_leaks_under(Policy::atlassian_connect());
}

#[test]
fn no_planted_value_reaches_any_encoding_under_the_default_policy() {
    no_planted_value_leaks_under(Policy::default());
}

#[test]
fn structural_paths_keep_their_text_under_the_default_policies() {
    let paths = [
        "/assets/app.js",
        "/docs/getting-started",
        "/api/v2/settings",
        "/robots.txt",
        "/favicon.ico",
        "/static/css/main.css",
    ];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for policy in [Policy::default(), Policy::atlassian_connect()] {
        rt.block_on(async {
            let server = start(policy).await;
            for path in paths {
                let req = hyper::Request::get(path)
                    .header("host", server.addr.to_string())
                    .body(Full::new(Bytes::new()))
                    .expect("request");
                let (res, _) = send(server.addr, req).await;
                assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path} is the fallback's");
            }
            let records = take(&server, paths.len()).await;
            let got: Vec<&str> = records.iter().map(|r| r.path.as_str()).collect();
            assert_eq!(got, paths, "paths without a template keep their safe words");
            assert!(records.iter().all(|r| r.route.is_none()), "{records:?}");
            let (report, _) = server.stop().await;
            assert!(report.stats.is_balanced(), "{:?}", report.stats);
        });
    }
}

/// The generator itself: every shape makes a valid request that carries
/// personal data in its URL, and what it plants is what privlog's own
/// detectors call personal data (valid Luhn and mod-97 check digits, issuable
/// SSNs …), so a test that finds none of it in the output proves something.
#[test]
fn generated_requests_carry_valid_personal_data_in_their_urls() {
    use privlog::policy::detect::{Kind, detect};
    let mut rng = Rng::new(0x5eed);
    for _ in 0..50 {
        for shape in SHAPES {
            let g = request_of(&mut rng, shape);
            hyper::Request::builder()
                .method(g.method)
                .uri(&g.uri)
                .body(())
                .unwrap_or_else(|e| panic!("{}: {e}", g.uri));
            let url = GenRequest {
                headers: Vec::new(),
                body: String::new(),
                ..g.clone()
            }
            .text();
            assert!(
                g.planted.iter().any(|p| !p.derived && holds(&url, p)),
                "{shape}: nothing planted in the URL {}: {:?}",
                g.uri,
                g.planted
            );
            for p in &g.planted {
                let want = match p.what {
                    "card" | "card digits" => Some(Kind::Card),
                    "iban" | "iban compact" => Some(Kind::Iban),
                    "ssn" => Some(Kind::NationalId),
                    "phone" => Some(Kind::Phone),
                    "ip" | "ip address" => Some(Kind::Ip),
                    "e-mail" => Some(Kind::Email),
                    "account id" => Some(Kind::AccountId),
                    "user key" => Some(Kind::UserKey),
                    "customer host" => Some(Kind::Host),
                    "jwt" => Some(Kind::Jwt),
                    "client key" => Some(Kind::Uuid),
                    "session" | "shared secret" => Some(Kind::Token),
                    _ => None,
                };
                if let Some(kind) = want {
                    assert_eq!(detect(&p.value), Some(kind), "{shape}: {} {:?}", p.what, p.value);
                }
                if p.what.ends_with(" name") && p.what != "user name" && p.what != "site name" {
                    assert!(support::traffic_gen::names().contains(&p.value.as_str()), "{p:?}");
                }
            }
        }
    }
}
