//! privlog's own metrics as Prometheus reads them: the connect_addon example
//! runs as a real process, serves requests, and its `GET /metrics` is parsed
//! by Prometheus's own Python client (`prometheus_client`'s OpenMetrics
//! parser, which refuses anything that breaks the format); the counters match
//! the requests sent, and the scrapes themselves are not logged.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::client::{empty, get, send};
use support::files::TempDir;
use support::process::Example;

/// Parses OpenMetrics text with `prometheus_client` and prints each sample
/// as `[name, labels, value]`, and each family as `[name, type]`.
const PARSE: &str = r#"
import sys, json
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families, samples = [], []
for f in text_string_to_metric_families(sys.stdin.read()):
    families.append([f.name, f.type])
    for s in f.samples:
        samples.append([s.name, s.labels, s.value])
json.dump({"families": families, "samples": samples}, sys.stdout)
"#;

/// What the parser read: each family's type, and each sample's value by
/// name and sorted labels.
struct Parsed {
    types: BTreeMap<String, String>,
    samples: BTreeMap<(String, Vec<(String, String)>), f64>,
}

impl Parsed {
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let mut key: Vec<(String, String)> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        key.sort();
        let v = self
            .samples
            .get(&(name.to_owned(), key))
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {:?}", self.samples.keys()));
        *v as u64
    }
}

fn parse_openmetrics(text: &str) -> Parsed {
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'prometheus_client'"),
        "prometheus_client is missing: run scripts/install-peers.sh (or python3 -m pip install prometheus-client)"
    );
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the output: {stderr}\n{text}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let types = v["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[0].as_str().unwrap().to_owned(), f[1].as_str().unwrap().to_owned()))
        .collect();
    let samples = v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut labels: Vec<(String, String)> = s[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            labels.sort();
            ((s[0].as_str().unwrap().to_owned(), labels), s[2].as_f64().unwrap())
        })
        .collect();
    Parsed { types, samples }
}

async fn scrape(addr: SocketAddr) -> (String, String) {
    let (res, body) = send(addr, get(addr, "/metrics").body(empty()).unwrap()).await;
    assert_eq!(res.status(), 200);
    let ctype = res.headers()[http::header::CONTENT_TYPE].to_str().unwrap().to_owned();
    (ctype, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_the_running_addon_parse_as_openmetrics_and_count_the_requests_sent() {
    let dir = TempDir::new("metrics");
    let log = dir.path().join("requests.ndjson");
    let args: Vec<&OsStr> = vec![
        "--addr".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--log-file".as_ref(),
        log.as_os_str(),
    ];
    let mut addon = Example::start("connect_addon", &args);
    let addr = addon.addr;
    let (mut ok, mut not_found) = (0, 0);
    for i in 0..30 {
        let path = if i % 3 == 0 { "/no/such/page" } else { "/health" };
        let (res, _) = send(addr, get(addr, path).body(empty()).unwrap()).await;
        if res.status() == 200 {
            ok += 1;
        } else {
            not_found += 1;
        }
    }
    assert_eq!((ok, not_found), (20, 10));
    let sent = 30;

    // Records reach the file sink a batch at a time: scrape until every
    // request is delivered (each scrape is parsed; none may be logged).
    let deadline = Instant::now() + Duration::from_secs(30);
    let parsed = loop {
        let (ctype, text) = scrape(addr).await;
        assert!(
            ctype.starts_with("application/openmetrics-text; version=1.0.0"),
            "{ctype}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        let p = parse_openmetrics(&text);
        if p.value("privlog_sink_records_delivered_total", &[("sink", "file")]) == sent || Instant::now() > deadline {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert_eq!(parsed.types["privlog_records_created"], "counter");
    assert_eq!(parsed.types["privlog_sink_records_queued"], "gauge");
    // The scrapes are outside the layer: created counts the requests sent only.
    assert_eq!(parsed.value("privlog_records_created_total", &[]), sent);
    assert_eq!(parsed.value("privlog_records_dispatched_total", &[]), sent);
    assert_eq!(parsed.value("privlog_records_queued", &[]), 0);
    for reason in ["queue_full", "shutdown", "sanitize_error"] {
        assert_eq!(parsed.value("privlog_records_dropped_total", &[("reason", reason)]), 0);
    }
    let file = [("sink", "file")];
    assert_eq!(parsed.value("privlog_sink_records_received_total", &file), sent);
    assert_eq!(parsed.value("privlog_sink_records_delivered_total", &file), sent);
    for gauge in [
        "privlog_sink_records_queued",
        "privlog_sink_records_buffered",
        "privlog_sink_records_spooled",
    ] {
        assert_eq!(parsed.value(gauge, &file), 0, "{gauge}");
    }
    for reason in [
        "sink_queue_full",
        "sink_error",
        "spool_full",
        "rejected",
        "corrupt",
        "shutdown",
    ] {
        assert_eq!(
            parsed.value(
                "privlog_sink_records_dropped_total",
                &[("sink", "file"), ("reason", reason)]
            ),
            0
        );
    }

    addon.terminate();
    let status = tokio::task::spawn_blocking(move || {
        let s = addon.wait();
        (s, addon)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "exit status {}: {}", status.0, status.1.stderr());
    let lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        lines.lines().count() as u64,
        sent,
        "one record per request sent, none per scrape"
    );
    assert!(!lines.contains("/metrics"), "a scrape was logged");
}
