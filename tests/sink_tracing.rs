//! The tracing sink feeding tracing-subscriber's JSON formatter.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use privlog::sink::{DropReason, Ledger, RECORD_TARGET, Sink, TracingSink};
use privlog::{MasterKey, Outcome, Record};
use serde_json::Value;
use time::macros::datetime;
use tower::{Layer, ServiceExt};
use tracing::Level;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn events(&self) -> Vec<Value> {
        let bytes = self.0.lock().expect("buffer lock").clone();
        String::from_utf8(bytes)
            .expect("utf-8 output")
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }
}

fn json_subscriber(buf: &Buffer, level: Level) -> impl tracing::Subscriber + Send + Sync + 'static {
    let b = buf.clone();
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_writer(move || b.clone())
        .finish()
}

fn full_record() -> Record {
    let mut r = Record::new(
        datetime!(2026-11-22 09:30:00.123 UTC),
        "POST",
        "/rest/accounts/{account_id}/history",
    );
    r.client = Some("203.0.113.0/24".into());
    r.route = Some("/rest/accounts/{account_id}/history".into());
    r.query = Some("lic=active".into());
    r.status = Some(201);
    r.req_bytes = 17;
    r.resp_bytes = 512;
    r.ttfb_us = Some(840);
    r.duration_us = 910;
    r.outcome = Outcome::Completed;
    r.account = Some("acc_3q2x9Vd1kQ0bZg7mH4sT1A".into());
    r.account_src = Some(privlog::AccountSource::App);
    r.tenant = Some("ten_Jp0cX8aWm3nR5yE2uK9fLw".into());
    r.epoch = "2026-11".into();
    r.kid = "k_5d1f0a9c".into();
    r
}

#[test]
fn each_record_is_one_event_with_one_field_per_record_field() {
    let buf = Buffer::default();
    let mut sink = TracingSink::new();
    let ledger = Ledger::detached("tracing");
    sink.attach(ledger.clone());
    let sparse = Record::new(datetime!(2026-11-22 09:31 UTC), "GET", "/health");
    tracing::subscriber::with_default(json_subscriber(&buf, Level::INFO), || {
        sink.write(&[full_record(), sparse]).expect("write");
    });
    let events = buf.events();
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e["target"], RECORD_TARGET);
        assert_eq!(e["level"], "INFO");
        assert_eq!(e["fields"]["message"], "request");
    }
    // Every field of the record, with its name, as the NDJSON form has it.
    let ndjson: Value = serde_json::from_str(&full_record().to_ndjson()).expect("ndjson");
    let fields = events[0]["fields"].as_object().expect("fields");
    for (name, value) in ndjson.as_object().expect("object") {
        assert_eq!(&fields[name], value, "field {name}");
    }
    assert_eq!(fields.len(), ndjson.as_object().map_or(0, |o| o.len()) + 1);
    // Absent values are left out.
    let sparse = events[1]["fields"].as_object().expect("fields");
    for absent in [
        "client",
        "route",
        "query",
        "status",
        "ttfb_us",
        "account",
        "account_src",
        "tenant",
    ] {
        assert!(!sparse.contains_key(absent), "{absent} should be absent");
    }
    assert_eq!(sparse["ts"], "2026-11-22T09:31:00.000Z");
    assert_eq!(ledger.stats().delivered, 2);
}

#[test]
fn level_is_configurable() {
    let buf = Buffer::default();
    let mut sink = TracingSink::new().level(Level::WARN);
    sink.attach(Ledger::detached("tracing"));
    tracing::subscriber::with_default(json_subscriber(&buf, Level::WARN), || {
        sink.write(&[full_record()]).expect("write");
    });
    let events = buf.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["level"], "WARN");
}

#[test]
fn records_no_subscriber_wants_are_counted_as_filtered() {
    let buf = Buffer::default();
    let mut sink = TracingSink::new().level(Level::DEBUG);
    let ledger = Ledger::detached("tracing");
    sink.attach(ledger.clone());
    tracing::subscriber::with_default(json_subscriber(&buf, Level::INFO), || {
        sink.write(&[full_record(), full_record(), full_record()])
            .expect("write");
    });
    assert!(buf.events().is_empty());
    let stats = ledger.stats();
    assert_eq!(stats.delivered, 0);
    assert_eq!(stats.dropped_for(DropReason::Other("filtered")), 3);
}

#[test]
fn requests_reach_the_global_subscriber_and_every_record_is_accounted_for() {
    let buf = Buffer::default();
    tracing::subscriber::set_global_default(json_subscriber(&buf, Level::INFO)).expect("only this test sets it");
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([3; 32]))
        .sink(TracingSink::new())
        .build()
        .expect("build");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let svc = layer.layer(tower::service_fn(|_req: http::Request<_>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
        for i in 0..40 {
            let req = http::Request::get(format!("/items/{i}"))
                .body(Full::new(Bytes::new()))
                .expect("request");
            let resp = svc.clone().oneshot(req).await.expect("infallible");
            resp.into_body().collect().await.expect("body");
        }
    });
    let report = guard.shutdown_within(Duration::from_secs(30));
    assert!(report.complete);
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    assert_eq!(report.stats.sinks[0].delivered, 40);
    let records: Vec<Value> = buf
        .events()
        .into_iter()
        .filter(|e| e["target"] == RECORD_TARGET)
        .collect();
    assert_eq!(records.len(), 40);
    for e in &records {
        assert_eq!(e["fields"]["method"], "GET");
        assert_eq!(e["fields"]["status"], 200);
        assert!(
            e["fields"]["path"].as_str().is_some_and(|p| p.starts_with("/items/")),
            "{e}"
        );
    }
}
