//! The OTLP encoder's output parsed by the official OpenTelemetry protobuf
//! schema (`opentelemetry-proto` from PyPI, through `scripts/peers/otlp-check.py`).
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use privlog::sink::http::{Encoder, Otlp};
use privlog::{Outcome, Record};
use time::OffsetDateTime;

#[test]
fn otlp_json_parses_with_the_official_schema_and_keeps_every_field() {
    let ts = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap() + time::Duration::milliseconds(123);
    let mut a = Record::new(ts, "POST", "/rest/items/{uuid}");
    a.route = Some("/rest/items/{id}".into());
    a.query = Some("lic=active".into());
    a.status = Some(503);
    a.client = Some("203.0.113.0/24".into());
    a.req_bytes = 42;
    a.resp_bytes = 7;
    a.ttfb_us = Some(100);
    a.duration_us = 250;
    a.account = Some("acc_3q2x9Vd1kQ0bZg7mH4sT1A".into());
    a.account_src = Some(privlog::AccountSource::App);
    a.tenant = Some("ten_Jp0cX8aWm3nR5yE2uK9fLw".into());
    a.proto = "HTTP/2".into();
    a.epoch = "2026-11".into();
    a.kid = "k_5d1f0a9c".into();
    let mut b = Record::new(ts, "GET", "/quote\"and\\back\u{7}");
    b.outcome = Outcome::Aborted;
    let mut body = Vec::new();
    Otlp::new().service_name("addon").encode(&[a, b], &mut body);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peers/otlp-check.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed: install it with scripts/install-peers.sh");
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the official OTLP schema refused the body (install the checker's peer with \
         scripts/install-peers.sh, PyPI package opentelemetry-proto): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let first: Vec<&str> = lines[0].split('|').collect();
    assert_eq!(
        &first[..5],
        [
            "addon",
            "privlog",
            "1795000000123000000",
            "WARN",
            "POST /rest/items/{uuid} 503"
        ]
    );
    assert_eq!(
        first[5],
        "client.address=203.0.113.0/24 http.request.body.size=42 http.request.method=POST \
         http.response.body.size=7 http.response.status_code=503 http.route=/rest/items/{id} \
         network.protocol.name=http network.protocol.version=2 privlog.account_src=app privlog.duration_us=250 \
         privlog.epoch=2026-11 privlog.kid=k_5d1f0a9c privlog.outcome=completed privlog.schema_version=1 \
         privlog.tenant=ten_Jp0cX8aWm3nR5yE2uK9fLw privlog.ttfb_us=100 url.path=/rest/items/{uuid} \
         url.query=lic=active user.hash=acc_3q2x9Vd1kQ0bZg7mH4sT1A"
    );
    let second: Vec<&str> = lines[1].split('|').collect();
    assert_eq!(second[3], "WARN");
    assert!(second[5].contains("url.path=/quote\"and\\back\u{7}"), "{}", second[5]);
    assert!(!second[5].contains("http.response.status_code"));
}
