//! Property tests of privlog's privacy and output invariants, end to end
//! through the layer and the pipeline:
//!
//! - no secret placed anywhere in a request reaches the output of any sink
//!   (NDJSON, the HTTP collector bodies, RFC 5424 syslog), in any encoding;
//! - every output is valid (one capped JSON line per record, JSON bodies,
//!   syslog messages) and free of control characters;
//! - pseudonyms are stable within an epoch and purpose, unlinkable across, keyed;
//! - client addresses are truncated, pseudonymized or dropped as configured, and
//!   forwarding headers never override an untrusted peer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderName, Request};
use http_body_util::BodyExt;
use ipnet::IpNet;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use privlog::policy::{Hop, resolve_client};
use privlog::record::write_ndjson;
use privlog::sink::MemorySink;
use privlog::{
    AccountId, ClientAddr, IpPolicy, MasterKey, Outcome, Policy, Pseudonymizer, Purpose, Record, Rotation,
    RouteTemplate, TenantId, TrustedProxies,
};
use proptest::prelude::*;
use support::addon::KEY;
use support::output::{assert_clean_line, is_unsafe, max_line_len};
use time::OffsetDateTime;
use tower::ServiceExt;

/// The app under test. Handlers read the whole body (so bodies pass through
/// the layer) and may report an account, tenant or route the way an
/// application would, taken from `x-test-*` request headers.
fn app(layer: privlog::PrivlogLayer) -> Router {
    Router::new().fallback(handler).layer(layer)
}

async fn handler(req: Request<Body>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let _ = body.collect().await;
    let h = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut res = "ok".into_response();
    if let Some(a) = h("x-test-app-account") {
        res.extensions_mut().insert(AccountId::new(a));
    }
    if let Some(t) = h("x-test-app-tenant") {
        res.extensions_mut().insert(TenantId::new(t));
    }
    if let Some(r) = parts.headers.get("x-test-route") {
        res.extensions_mut()
            .insert(RouteTemplate::new(String::from_utf8_lossy(r.as_bytes()).into_owned()));
    }
    res
}

/// Runs `requests` through a fresh layer + pipeline and returns the records
/// and their NDJSON lines.
fn run(policy: Policy, clock: Option<SystemTime>, requests: Vec<Request<Body>>) -> (Vec<Record>, Vec<String>) {
    let mem = MemorySink::new();
    let mut b = privlog::builder()
        .key(MasterKey::from_bytes(KEY))
        .policy(policy)
        .sink(mem.clone());
    if let Some(t) = clock {
        b = b.clock(move || t);
    }
    let (layer, guard) = b.build().expect("build");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let router = app(layer);
    let n = requests.len();
    rt.block_on(async {
        for req in requests {
            let res = router.clone().oneshot(req).await.expect("infallible");
            let _ = res.into_body().collect().await;
        }
    });
    drop(router);
    let report = guard.shutdown_within(Duration::from_secs(30));
    assert!(report.complete && report.stats.is_balanced(), "{:?}", report.stats);
    let records = mem.take();
    assert_eq!(records.len(), n, "one record per request");
    let lines = records
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            write_ndjson(r, &mut out);
            String::from_utf8(out).expect("utf-8 output")
        })
        .collect();
    (records, lines)
}

fn jwt(sub: &str, iss: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({ "sub": sub, "iss": iss, "qsh": "x", "exp": 1_900_000_000 });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk")
}

/// Each record of `records` as every built-in sink writes it, one entry per
/// record: `(encoding, output)`. NDJSON (files, stdout), each HTTP collector
/// body, and the RFC 5424 syslog message received on a real Unix datagram
/// socket (`None` when the syslog sink dropped it as too long, which it counts).
fn sink_outputs(records: &[Record]) -> Vec<Vec<(&'static str, String)>> {
    use privlog::sink::{Ledger, Sink, SyslogSink};
    use std::os::unix::net::UnixDatagram;

    let dir = std::env::temp_dir().join(format!(
        "privlog-prop-syslog-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sock_path = dir.join("syslog.sock");
    let server = UnixDatagram::bind(&sock_path).expect("bind syslog socket");
    server.set_nonblocking(true).expect("nonblocking");
    let mut syslog = SyslogSink::unix_datagram(&sock_path).hostname("host").procid("1");
    let _ = syslog.attach(Ledger::detached("syslog"));

    let mut all = Vec::new();
    for r in records {
        let one = std::slice::from_ref(r);
        let mut outs = Vec::new();
        let mut line = Vec::new();
        write_ndjson(r, &mut line);
        outs.push(("ndjson", String::from_utf8(line).expect("utf-8")));
        #[cfg(feature = "http")]
        {
            use privlog::sink::http::{ClickHouse, Elasticsearch, Encoder, Loki, Ndjson, Otlp};
            let encoders: Vec<(&'static str, Box<dyn Encoder>)> = vec![
                ("http-ndjson", Box::new(Ndjson::new())),
                ("http-json-array", Box::new(Ndjson::json_array())),
                ("clickhouse", Box::new(ClickHouse::new("requests").expect("table"))),
                ("loki", Box::new(Loki::new())),
                ("elasticsearch", Box::new(Elasticsearch::new())),
                ("otlp", Box::new(Otlp::new())),
            ];
            for (label, e) in encoders {
                let mut body = Vec::new();
                e.encode(one, &mut body);
                outs.push((label, String::from_utf8(body).expect("http body is utf-8")));
            }
        }
        syslog.write(one).expect("syslog write");
        let mut buf = vec![0u8; 65536];
        if let Ok(n) = server.recv(&mut buf) {
            outs.push((
                "syslog",
                String::from_utf8(buf[..n].to_vec()).expect("syslog message is utf-8"),
            ));
        }
        all.push(outs);
    }
    let _ = std::fs::remove_dir_all(&dir);
    all
}

/// Checks one sink output: JSON bodies parse (whole or per line) with clean
/// strings; syslog messages are one line of printable text whose MSG is the
/// record's JSON.
fn assert_clean_output(encoding: &str, out: &str) {
    if encoding == "ndjson" {
        return assert_clean_line(out, max_line_len());
    }
    if encoding == "syslog" {
        let body = out.replace('\u{feff}', "");
        assert!(
            body.chars().all(|c| !is_unsafe(c)),
            "control character in syslog message {out:?}"
        );
        assert!(out.len() <= 8192, "syslog message over the cap");
        let msg = &body[body.find("{\"v\":").expect("MSG holds the record")..];
        assert_clean_line(&format!("{msg}\n"), max_line_len());
        return;
    }
    fn walk(v: &serde_json::Value, encoding: &str) {
        match v {
            serde_json::Value::String(s) => {
                assert!(
                    s.chars().all(|c| !is_unsafe(c)),
                    "{encoding}: control character in {s:?}"
                )
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, encoding)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, encoding)),
            _ => {}
        }
    }
    assert!(
        out.chars().all(|c| c == '\n' || !is_unsafe(c)),
        "{encoding}: raw control character in body {out:?}"
    );
    match serde_json::from_str::<serde_json::Value>(out) {
        Ok(v) => walk(&v, encoding),
        Err(_) => {
            for line in out.lines().filter(|l| !l.is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{encoding}: invalid JSON line {line:?}: {e}"));
                walk(&v, encoding);
            }
        }
    }
}

/// Checks that one sink output is well-formed whatever the record held: no
/// raw control character (newlines only as separators), JSON that parses
/// (the whole body, each line, or a syslog message's MSG). Decoded strings
/// may hold escaped control characters: a hand-built record can contain them.
fn assert_well_formed(encoding: &str, out: &str) {
    let body = out.replace('\u{feff}', "");
    assert!(
        body.chars().all(|c| c == '\n' || !is_unsafe(c)),
        "{encoding}: raw control character in {out:?}"
    );
    if encoding == "syslog" {
        assert!(!body.contains('\n'), "syslog message spans lines: {out:?}");
        let msg = &body[body.find("{\"v\":").expect("MSG holds the record")..];
        serde_json::from_str::<serde_json::Value>(msg).expect("syslog MSG is the record's JSON");
        return;
    }
    if encoding == "ndjson" {
        assert!(
            out.ends_with('\n') && out.matches('\n').count() == 1,
            "one line: {out:?}"
        );
    }
    if serde_json::from_str::<serde_json::Value>(out).is_err() {
        for line in out.lines().filter(|l| !l.is_empty()) {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{encoding}: invalid JSON line {line:?}: {e}"));
        }
    }
}

/// Every form a secret could take in the output.
fn encodings(secret: &str) -> Vec<String> {
    let mut v = vec![
        secret.to_owned(),
        utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        secret.to_ascii_lowercase(),
        serde_json::to_string(secret)
            .expect("json")
            .trim_matches('"')
            .to_owned(),
    ];
    // The distinctive middle of the secret (a prefix or suffix could be kept
    // by a truncation).
    if secret.len() >= 24 {
        v.push(secret[secret.len() / 2 - 6..secret.len() / 2 + 6].to_owned());
    }
    v
}

fn assert_no_leak(lines: &[String], secret: &str, position: &str) {
    for enc in encodings(secret) {
        for line in lines {
            assert!(
                !line.contains(&enc),
                "secret from {position} leaked as {enc:?} into {line}"
            );
        }
    }
}

/// Secrets of the kinds a request carries: e-mails, Atlassian account IDs,
/// UUIDs, API tokens, hex session IDs.
fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{4,10}\\.[a-z]{4,10}@[a-z]{5,10}\\.(com|org|io)",
        "557058:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        "(sk|pk|ghp)_[A-Z]{2}[0-9]{2}[A-Za-z0-9]{20,30}",
        "[0-9]{3}[a-f]{3}[0-9a-f]{26}",
    ]
}

fn connect_policy() -> Policy {
    Policy::atlassian_connect()
        .account_header(HeaderName::from_static("x-account-id"))
        .tenant_header(HeaderName::from_static("x-tenant-id"))
}

fn get(uri: &str) -> http::request::Builder {
    Request::builder().method("GET").uri(uri)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Scenario 1: a secret in any request position — path (plain and
    /// percent-encoded), query (off the allowlist, denied, allowlisted),
    /// headers, cookies, bodies, userinfo, JWT in `Authorization` and `?jwt=`,
    /// application-provided IDs — never appears in the output in any encoding.
    #[test]
    fn no_secret_reaches_the_output_from_any_request_position(
        s in secret(),
        tenant in "[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}",
        octets in any::<[u8; 3]>(),
        last in 1u8..=255,
    ) {
        let enc = utf8_percent_encode(&s, NON_ALPHANUMERIC).to_string();
        let token = jwt(&s, &tenant);
        let ip = Ipv4Addr::new(octets[0], octets[1], octets[2], last);
        let peer = SocketAddr::new(IpAddr::V4(ip), 40_000);
        let positions: Vec<(&str, Request<Body>)> = vec![
            ("path", get(&format!("/users/{s}/history")).body(Body::empty()).unwrap()),
            ("encoded path", get(&format!("/users/{enc}")).body(Body::empty()).unwrap()),
            ("query off the allowlist", get(&format!("/a?q={enc}&page=1")).body(Body::empty()).unwrap()),
            ("allowlisted query", get(&format!("/a?lic={enc}&cv={enc}")).body(Body::empty()).unwrap()),
            ("denied query", get(&format!("/a?user_id={enc}&xdm_e={enc}")).body(Body::empty()).unwrap()),
            ("query jwt", get(&format!("/a?jwt={token}")).body(Body::empty()).unwrap()),
            ("authorization jwt", get("/a").header("authorization", format!("JWT {token}")).body(Body::empty()).unwrap()),
            ("authorization bearer", get("/a").header("authorization", format!("Bearer {s}")).body(Body::empty()).unwrap()),
            ("cookie", get("/a").header("cookie", format!("session={s}; theme=dark")).body(Body::empty()).unwrap()),
            ("custom header", get("/a").header("x-api-key", s.clone()).body(Body::empty()).unwrap()),
            ("account header", get("/a").header("x-account-id", s.clone()).body(Body::empty()).unwrap()),
            ("tenant header", get("/a").header("x-tenant-id", s.clone()).body(Body::empty()).unwrap()),
            ("app-provided ids", get("/a").header("x-test-app-account", s.clone()).header("x-test-app-tenant", s.clone()).body(Body::empty()).unwrap()),
            ("body", Request::builder().method("POST").uri("/a").body(Body::from(format!("{{\"email\":\"{s}\",\"b64\":\"{}\"}}", STANDARD.encode(&s)))).unwrap()),
            ("userinfo", get(&format!("http://user:{enc}@example.com/a")).body(Body::empty()).unwrap()),
        ];
        let names: Vec<&str> = positions.iter().map(|p| p.0).collect();
        let requests = positions
            .into_iter()
            .map(|(_, mut r)| {
                r.extensions_mut().insert(ClientAddr(peer));
                r
            })
            .collect();
        let (records, _) = run(connect_policy(), None, requests);
        let outputs = sink_outputs(&records);
        for (i, name) in names.iter().enumerate() {
            for (encoding, out) in &outputs[i] {
                let out = std::slice::from_ref(out);
                let at = format!("{name}, {encoding} output");
                assert_no_leak(out, &s, &at);
                assert_no_leak(out, &token, &at);
                assert_no_leak(out, &tenant, &at);
                assert_no_leak(out, &ip.to_string(), &at);
            }
        }
        // The account did reach the records — as a pseudonym.
        let with_account = records.iter().filter(|r| r.account.is_some()).count();
        prop_assert!(with_account >= 4, "account sources were read: {with_account}");
    }

    /// Scenario 5: hostile bytes anywhere — path (any bytes, percent-encoded),
    /// query, methods, header values with obs-text, app-provided routes with
    /// control characters, forwarding chains — give one valid JSON line per
    /// request, capped, with no control character (C0, C1, DEL, U+2028/9,
    /// ANSI escapes) raw or decoded.
    #[test]
    fn every_output_line_is_valid_capped_and_clean(
        segs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..40),
        query in proptest::collection::vec(any::<u8>(), 0..600),
        method in prop_oneof![Just("GET".to_owned()), Just("PROPFIND".to_owned()), "[A-Z!#$%&'*+.^_`|~-]{1,20}"],
        header in proptest::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 0..300),
        route in "[\\PC\u{0}-\u{1f}\u{7f}-\u{9f}\u{2028}\u{2029}\u{1b}]{0,3000}",
        xff in "[0-9a-f.:, \\[\\]\"=;]{0,400}",
    ) {
        let path: String = segs
            .iter()
            .map(|s| format!("/{}", percent_encoding::percent_encode(s, NON_ALPHANUMERIC)))
            .collect();
        let path = if path.is_empty() { "/".to_owned() } else { path };
        let q = percent_encoding::percent_encode(&query, NON_ALPHANUMERIC).to_string();
        let hv = http::HeaderValue::from_bytes(&header).expect("obs-text header");
        let route_hv = http::HeaderValue::from_bytes(
            &route.bytes().filter(|b| *b >= 0x20 && *b != 0x7f).collect::<Vec<u8>>(),
        ).expect("route header");
        let peer = SocketAddr::from(([127, 0, 0, 1], 9));
        let mk = |uri: String, with_route: bool| {
            let mut r = Request::builder()
                .method(method.as_str())
                .uri(uri)
                .header("authorization", hv.clone())
                .header("x-account-id", hv.clone())
                .header("x-test-app-account", hv.clone())
                .header("x-forwarded-for", xff.as_str())
                .header("forwarded", hv.clone());
            if with_route {
                r = r.header("x-test-route", route_hv.clone());
            }
            let mut r = r.body(Body::empty()).expect("request");
            r.extensions_mut().insert(ClientAddr(peer));
            r
        };
        let policy = connect_policy()
            .trusted_proxies(TrustedProxies::parse(["127.0.0.0/8"]).expect("cidr"))
            .query(privlog::QueryPolicy::drop_all().allow(["lic", "cv", "page"]).allow(
                [String::from_utf8_lossy(&query).into_owned()],
            ));
        let requests = vec![
            mk(format!("{path}?{q}"), false),
            mk(format!("{path}?page={q}&lic={q}"), true),
        ];
        let (records, _) = run(policy, None, requests);
        for outs in sink_outputs(&records) {
            for (encoding, out) in outs {
                assert_clean_output(encoding, &out);
            }
        }
        // Without an app-provided route the path is the scrubbed request path.
        prop_assert!(records[0].path.starts_with('/'));
        for r in &records {
            prop_assert!(r.query.as_ref().is_none_or(|q| q.len() <= privlog::policy::MAX_QUERY_LEN));
        }
    }

    /// A record built by hand with any strings still encodes as one valid JSON
    /// line without raw control characters, and reads back to the same record
    /// (strings under the field cap); every other sink encoding of it (HTTP
    /// collector bodies, syslog messages) is well-formed too.
    #[test]
    fn hand_built_records_encode_to_one_valid_line(
        path in "\\PC{0,100}|[\u{0}-\u{ff}\u{2028}\u{2029}]{0,100}",
        method in "[\u{0}-\u{ff}\u{2028}\u{2029}\"\\\\]{0,20}",
        client in proptest::option::of("[\u{0}-\u{ff}\u{2028}\u{2029}\"\\\\]{0,64}"),
        query in proptest::option::of("[\u{0}-\u{ff}\u{2028}\u{2029}\"\\\\]{0,64}"),
        long in 0usize..5000,
        status in proptest::option::of(any::<u16>()),
        bytes in any::<(u64, u64, u64)>(),
    ) {
        let mut r = Record::new(OffsetDateTime::UNIX_EPOCH, method, path);
        r.client = client;
        r.query = query;
        r.status = status;
        r.req_bytes = bytes.0;
        r.resp_bytes = bytes.1;
        r.duration_us = bytes.2;
        r.outcome = Outcome::Error;
        r.route = Some("é".repeat(long));
        let line = r.to_ndjson();
        prop_assert!(line.ends_with('\n'));
        prop_assert_eq!(line.matches('\n').count(), 1);
        let raw = line.trim_end_matches('\n');
        prop_assert!(raw.chars().all(|c| !is_unsafe(c)), "raw control character in {:?}", line);
        let back: Record = serde_json::from_str(&line).expect("valid json");
        prop_assert_eq!(&back.path, &r.path);
        prop_assert_eq!(&back.method, &r.method);
        prop_assert_eq!(&back.client, &r.client);
        prop_assert_eq!(&back.query, &r.query);
        prop_assert_eq!(back.status, r.status);
        prop_assert_eq!((back.req_bytes, back.resp_bytes, back.duration_us), bytes);
        let route = back.route.expect("route");
        prop_assert!(route.len() <= privlog::record::MAX_FIELD_LEN + '…'.len_utf8());
        // Every other sink encoding is well-formed for the same record.
        for (encoding, out) in sink_outputs(std::slice::from_ref(&r)).remove(0) {
            assert_well_formed(encoding, &out);
        }
    }

    /// Scenario 12 end to end: the same account within one epoch gets one
    /// pseudonym, in another epoch an unrelated one, and as a tenant a third;
    /// a dictionary built with any other key matches nothing.
    #[test]
    fn pseudonyms_are_stable_within_an_epoch_and_unlinkable_across(
        id in secret(),
        day in 0i64..3650,
        secs in (0i64..86_000, 0i64..86_000),
        other_key in any::<[u8; 32]>().prop_filter("another key", |k| *k != KEY),
    ) {
        let base = 1_700_000_000i64 - 1_700_000_000i64.rem_euclid(86_400) + day * 86_400;
        let at = |t: i64| SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap());
        let req = || {
            get("/a")
                .header("x-account-id", id.clone())
                .header("x-tenant-id", id.clone())
                .body(Body::empty())
                .unwrap()
        };
        let policy = || connect_policy().rotation(Rotation::Daily);
        let (a, _) = run(policy(), Some(at(base + secs.0)), vec![req()]);
        let (b, _) = run(policy(), Some(at(base + secs.1)), vec![req()]);
        let (c, lines_c) = run(policy(), Some(at(base + 86_400 + secs.0)), vec![req()]);
        let (a, b, c) = (&a[0], &b[0], &c[0]);
        prop_assert!(a.account.is_some());
        prop_assert_eq!(&a.account, &b.account, "same day, same pseudonym");
        prop_assert_eq!(&a.epoch, &b.epoch);
        prop_assert_ne!(&a.account, &c.account, "next day, unlinkable");
        prop_assert_ne!(&a.epoch, &c.epoch);
        prop_assert_ne!(&a.account, &a.tenant, "account and tenant purposes are unlinkable");
        // The attacker's dictionary: the same input under any other key.
        let epoch = Rotation::Daily.epoch_of(OffsetDateTime::from(at(base + secs.0)));
        let guess = Pseudonymizer::new(&MasterKey::from_bytes(other_key)).pseudonym(Purpose::Account, &epoch, &id);
        prop_assert_ne!(a.account.as_deref(), Some(guess.as_str()));
        // And with the right key the value is reproducible (what `privlog pseudonym` relies on).
        let ours = Pseudonymizer::new(&MasterKey::from_bytes(KEY)).pseudonym(Purpose::Account, &epoch, &id);
        prop_assert_eq!(a.account.as_deref(), Some(ours.as_str()));
        // The key never appears in the output.
        let hex = MasterKey::from_bytes(KEY).to_hex();
        prop_assert!(!lines_c[0].contains(hex.as_str()));
        prop_assert!(!lines_c[0].contains(&hex[..16]));
    }

    /// Truncation keeps exactly the network: the result contains the address,
    /// has the requested prefix, no host bits, and IPv4-mapped IPv6 is IPv4.
    #[test]
    fn truncated_client_is_the_network_of_the_address(v4 in any::<u32>(), v6 in any::<u128>(), p4 in 0u8..=40, p6 in 0u8..=140) {
        let keys = Pseudonymizer::new(&MasterKey::from_bytes(KEY)).epoch_keys(&Rotation::None.epoch_of(OffsetDateTime::UNIX_EPOCH));
        let policy = IpPolicy::Truncate { v4_prefix: p4, v6_prefix: p6 };
        for ip in [IpAddr::V4(Ipv4Addr::from(v4)), IpAddr::V6(Ipv6Addr::from(v6))] {
            let out = policy.apply(ip, &keys).expect("truncate keeps a network");
            let net: IpNet = out.parse().expect("a network");
            prop_assert!(net.contains(&privlog::policy::normalize_ip(ip)));
            prop_assert_eq!(net.network(), net.addr(), "host bits cleared in {}", out);
            let want = if ip.is_ipv4() { p4.min(32) } else { p6.min(128) };
            prop_assert_eq!(net.prefix_len(), want);
        }
        let mapped = IpAddr::V6(Ipv4Addr::from(v4).to_ipv6_mapped());
        prop_assert_eq!(policy.apply(mapped, &keys), policy.apply(IpAddr::V4(Ipv4Addr::from(v4)), &keys));
    }

    /// Pseudonymized and dropped addresses never show the address; pseudonyms
    /// of addresses change with the epoch.
    #[test]
    fn pseudonymized_client_never_shows_the_address(v4 in any::<u32>()) {
        let p = Pseudonymizer::new(&MasterKey::from_bytes(KEY));
        let e1 = Rotation::Daily.epoch_of(OffsetDateTime::UNIX_EPOCH);
        let e2 = Rotation::Daily.epoch_of(OffsetDateTime::UNIX_EPOCH + time::Duration::days(1));
        let ip = IpAddr::V4(Ipv4Addr::from(v4));
        let a = IpPolicy::Pseudonymize.apply(ip, &p.epoch_keys(&e1)).expect("pseudonym");
        let b = IpPolicy::Pseudonymize.apply(ip, &p.epoch_keys(&e2)).expect("pseudonym");
        prop_assert!(!a.contains(&ip.to_string()));
        prop_assert!(!a.contains('.'));
        prop_assert_ne!(a, b);
        prop_assert_eq!(IpPolicy::Drop.apply(ip, &p.epoch_keys(&e1)), None);
    }

    /// Scenario 4: whatever the forwarding headers say, an untrusted peer is
    /// the client; behind a trusted proxy the client is the peer, an address
    /// from the headers, or unknown — never anything else.
    #[test]
    fn forwarding_headers_cannot_invent_a_client(
        peer in any::<u32>(),
        hops in proptest::collection::vec(prop_oneof![any::<u32>().prop_map(|v| Hop::Addr(IpAddr::V4(Ipv4Addr::from(v)))), Just(Hop::Opaque)], 0..100),
    ) {
        let trusted = TrustedProxies::parse(["10.0.0.0/8"]).expect("cidr");
        let untrusted_peer = IpAddr::V4(Ipv4Addr::from(peer & 0x00ff_ffff | 0xcb00_0000)); // 203.x.x.x
        prop_assert_eq!(resolve_client(Some(untrusted_peer), &trusted, hops.iter().copied()), Some(untrusted_peer));
        let trusted_peer = IpAddr::V4(Ipv4Addr::from(peer & 0x00ff_ffff | 0x0a00_0000)); // 10.x.x.x
        if let Some(ip) = resolve_client(Some(trusted_peer), &trusted, hops.iter().copied()) {
            prop_assert!(ip == trusted_peer || hops.contains(&Hop::Addr(ip)), "client {} invented", ip);
        }
    }
}

#[test]
fn output_lines_hold_no_unsafe_character_for_known_attack_strings() {
    // Fixed examples alongside the properties, so a failure names the attack.
    let attacks = [
        "/a%0d%0aSet-Cookie:%20x",
        "/%e2%80%a8/%e2%80%a9/%c2%85",
        "/%1b%5b2J%1b%5b31m",
        "/%22%7d%0a%7b%22v%22%3a1",
        "/%ff%fe%00",
        "/%c0%80",
    ];
    let requests = attacks
        .iter()
        .map(|p| get(p).header("x-test-route", "r\"\\\t").body(Body::empty()).unwrap())
        .collect();
    let (_, lines) = run(Policy::new(), None, requests);
    for line in &lines {
        assert_clean_line(line, max_line_len());
        assert!(!line.contains("Set-Cookie"), "{line}");
    }
}
