//! The HTTP sink's OTLP/HTTP output received by a real OpenTelemetry
//! collector (rotel from PyPI, started on loopback by
//! `scripts/peers/rotel.sh`), plain and gzip-compressed: every record arrives
//! as one log record with every attribute.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use privlog::sink::http::{BatchConfig, HttpSink, Otlp};
use privlog::sink::{Ledger, Sink};
use privlog::{AccountSource, Outcome, Record, SampleRate};
use time::OffsetDateTime;

/// A private rotel collector, stopped when dropped.
struct Rotel {
    dir: PathBuf,
    http_port: u16,
}

impl Rotel {
    fn start(name: &str) -> Rotel {
        let dir = std::env::temp_dir().join(format!("privlog-rotel-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "could not start rotel ({}); install it with scripts/install-peers.sh (PyPI package rotel)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let http_port = stdout
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("http_port="))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("rotel.sh printed no http_port: {stdout}"));
        Rotel { dir, http_port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/logs", self.http_port)
    }

    /// What the collector printed about the logs it received.
    fn received(&self) -> String {
        std::fs::read_to_string(self.dir.join("received.log")).unwrap_or_default()
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peers/rotel.sh")
}

/// Records with every field varied: optional fields set and unset, each
/// outcome, sampled and unsampled, millisecond timestamps.
fn records(n: usize) -> Vec<Record> {
    let t0 = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
    (0..n)
        .map(|i| {
            let ts = t0 + time::Duration::milliseconds(i as i64 * 7 + 1);
            let mut r = Record::new(ts, ["GET", "POST", "DELETE"][i % 3], format!("/rest/items/{i}"));
            r.route = (i % 2 == 0).then(|| "/rest/items/{id}".to_owned());
            r.query = (i % 3 == 0).then(|| format!("page={i}"));
            r.status = match i % 5 {
                0 => None,
                1 => Some(503),
                _ => Some(200),
            };
            r.outcome = match i % 5 {
                0 if i % 2 == 0 => Outcome::Aborted,
                0 => Outcome::Error,
                _ => Outcome::Completed,
            };
            r.client = (i % 4 != 0).then(|| "203.0.113.0/24".to_owned());
            r.req_bytes = i as u64 * 3;
            r.resp_bytes = i as u64 * 11 + 1;
            r.ttfb_us = (i % 2 == 1).then_some(100 + i as u64);
            r.duration_us = 250 + i as u64;
            r.proto = if i % 2 == 0 { "HTTP/1.1" } else { "HTTP/2" }.to_owned();
            if i % 3 != 2 {
                r.account = Some(format!("acc_{i:022}"));
                r.account_src = Some(if i % 2 == 0 {
                    AccountSource::App
                } else {
                    AccountSource::Jwt
                });
            }
            r.tenant = (i % 4 == 1).then(|| format!("ten_{i:022}"));
            r.epoch = "2026-11".to_owned();
            r.kid = "k_5d1f0a9c".to_owned();
            r.sample_rate = if i % 6 == 0 { SampleRate::new(0.25) } else { None };
            r
        })
        .collect()
}

/// What the collector must show for `r`: its timestamp, severity, body and
/// attributes, in rotel's debug notation (`Str(…)`, `Int(…)`, `Double(…)`).
fn expected(r: &Record) -> LogRecord {
    let mut attrs = BTreeMap::new();
    let mut s = |k: &str, v: &str| attrs.insert(k.to_owned(), format!("Str({v})"));
    s("http.request.method", &r.method);
    s("url.path", &r.path);
    if let Some(q) = &r.query {
        s("url.query", q);
    }
    if let Some(route) = &r.route {
        s("http.route", route);
    }
    if let Some(c) = &r.client {
        s("client.address", c);
    }
    s("network.protocol.name", "http");
    s("network.protocol.version", r.proto.strip_prefix("HTTP/").unwrap());
    if let Some(a) = &r.account {
        s("user.hash", a);
    }
    if let Some(src) = r.account_src {
        s("privlog.account_src", src.as_str());
    }
    if let Some(t) = &r.tenant {
        s("privlog.tenant", t);
    }
    s("privlog.outcome", r.outcome.as_str());
    s("privlog.epoch", &r.epoch);
    s("privlog.kid", &r.kid);
    let mut int = |k: &str, v: u64| attrs.insert(k.to_owned(), format!("Int({v})"));
    if let Some(st) = r.status {
        int("http.response.status_code", u64::from(st));
    }
    int("http.request.body.size", r.req_bytes);
    int("http.response.body.size", r.resp_bytes);
    int("privlog.duration_us", r.duration_us);
    if let Some(t) = r.ttfb_us {
        int("privlog.ttfb_us", t);
    }
    int("privlog.schema_version", u64::from(r.v));
    if let Some(rate) = r.sample_rate {
        attrs.insert("privlog.sample_rate".to_owned(), format!("Double({})", rate.get()));
    }
    let severity = match (r.outcome, r.status) {
        (Outcome::Error, _) => "ERROR",
        (Outcome::Aborted, _) | (_, Some(500..)) => "WARN",
        _ => "INFO",
    };
    let status = r.status.map_or("-".to_owned(), |s| s.to_string());
    LogRecord {
        timestamp: r.ts.unix_timestamp_nanos().to_string(),
        severity: severity.to_owned(),
        body: format!("Str({} {} {status})", r.method, r.path),
        attrs,
    }
}

#[derive(Debug, PartialEq, Eq)]
struct LogRecord {
    timestamp: String,
    severity: String,
    body: String,
    attrs: BTreeMap<String, String>,
}

/// The log records in rotel's detailed debug output.
fn parse(text: &str) -> Vec<LogRecord> {
    text.split("\nLogRecord #")
        .skip(1)
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {block}"))
                    .to_owned()
            };
            let attrs = block
                .lines()
                .skip_while(|l| *l != "Attributes:")
                .skip(1)
                .map_while(|l| l.trim_start().strip_prefix("-> "))
                .map(|kv| {
                    let (k, v) = kv.split_once(": ").unwrap();
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            LogRecord {
                timestamp: field("Timestamp: "),
                severity: field("SeverityText: "),
                body: field("Body: "),
                attrs,
            }
        })
        .collect()
}

/// Sends `n` records through a real HttpSink with the OTLP encoder to a
/// real collector and checks each one arrived with all its attributes.
fn every_record_arrives(name: &str, gzip: bool) {
    const N: usize = 240;
    let rotel = Rotel::start(name);
    let mut sink = HttpSink::builder(rotel.url())
        .encoder(Otlp::new().service_name("addon"))
        .batch(BatchConfig::new().max_records(50).linger(Duration::from_millis(20)))
        .gzip(gzip)
        .build()
        .unwrap();
    let ledger = Ledger::detached("otlp");
    sink.attach(ledger.clone());
    let records = records(N);
    for chunk in records.chunks(17) {
        sink.write(chunk).unwrap();
        sink.tick().unwrap();
    }
    sink.close(Instant::now() + Duration::from_secs(30)).unwrap();
    let stats = ledger.stats();
    assert_eq!((stats.delivered, stats.dropped_total()), (N as u64, 0), "{stats:?}");

    // The collector prints what it received after its batch timeout; give it
    // the time it needs, failing only when nothing more comes.
    let limit = Instant::now() + Duration::from_secs(30);
    let mut got = parse(&rotel.received());
    while got.len() < N && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(50));
        got = parse(&rotel.received());
    }
    assert_eq!(got.len(), N, "log records the collector received");
    let text = rotel.received();
    assert!(text.contains("-> service.name: Str(addon)"), "{text}");
    assert!(text.contains("InstrumentationScope privlog "), "{text}");
    let by_path: BTreeMap<String, LogRecord> = got.into_iter().map(|lr| (lr.attrs["url.path"].clone(), lr)).collect();
    assert_eq!(by_path.len(), N, "every record arrived once");
    for r in &records {
        let want = expected(r);
        let got = &by_path[&want.attrs["url.path"]];
        assert_eq!(got, &want, "record {}", r.path);
    }
}

#[test]
fn every_record_reaches_a_real_otlp_collector_with_its_attributes() {
    every_record_arrives("plain", false);
}

#[test]
fn every_gzip_compressed_record_reaches_a_real_otlp_collector_with_its_attributes() {
    every_record_arrives("gzip", true);
}
