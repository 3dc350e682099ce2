//! Common and Combined Log Format output, read back by GoAccess (the access
//! log analyser its users run: `goaccess --log-format=COMBINED -o json`), from
//! the file sink, the rolling file sink and the syslog sink's message body.
//! GoAccess is a test peer (scripts/peers/clf.apt): a missing one fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use privlog::Record;
use privlog::record::LineFormat;
use privlog::sink::{FileSink, RollingFileSink, Sink, SyslogSink};
use support::files::TempDir;
use time::macros::datetime;

/// Records as the sanitizer leaves them: truncated IPv4 and IPv6 clients,
/// pseudonymous accounts, allowlisted queries, and paths holding what a
/// quoted field must escape.
fn records() -> Vec<Record> {
    let clients = ["203.0.113.0/24", "198.51.100.0/24", "2001:db8:7::/48"];
    let paths = [
        "/rest/issues/{id}",
        "/a \"quoted\" \\ path",
        "/caf\u{e9}/{uuid}",
        "/health",
    ];
    (0..60)
        .map(|i| {
            let ts = datetime!(2026-11-22 10:00 UTC) + Duration::from_millis(1500 * i as u64);
            let mut r = Record::new(ts, ["GET", "POST", "PUT"][i % 3], paths[i % paths.len()]);
            r.client = Some(clients[i % clients.len()].to_owned());
            r.query = (i % 5 == 0).then(|| "lic=active&cv=1.0".to_owned());
            r.status = Some([200, 201, 404, 503][i % 4]);
            r.resp_bytes = if i % 7 == 0 { 0 } else { 100 + i as u64 };
            r.account = (i % 2 == 0).then(|| format!("acct{i}pseudonym"));
            r.proto = if i % 2 == 0 { "HTTP/1.1" } else { "HTTP/2" }.to_owned();
            r
        })
        .collect()
}

/// GoAccess's report of `file` as JSON.
fn goaccess(file: &Path, format: &str) -> serde_json::Value {
    let out = file.with_extension("report.json");
    let run = Command::new("goaccess")
        .arg(file)
        .args(["--no-global-config", "--log-format", format, "-o"])
        .arg(&out)
        .output()
        .expect("goaccess is a test peer: run scripts/install-peers.sh");
    assert!(
        run.status.success(),
        "goaccess failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

/// Hits per `data` of a GoAccess panel (the requests panel keeps one item per
/// method and protocol of a target: they are added up).
fn panel(report: &serde_json::Value, name: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for x in report[name]["data"].as_array().unwrap() {
        *out.entry(x["data"].as_str().unwrap().to_owned()).or_insert(0) += x["hits"]["count"].as_u64().unwrap();
    }
    out
}

/// Everything GoAccess read agrees with the records.
fn assert_goaccess_reads(report: &serde_json::Value, rs: &[Record]) {
    let general = &report["general"];
    assert_eq!(general["total_requests"], rs.len(), "{general}");
    assert_eq!(general["valid_requests"], rs.len(), "{general}");
    assert_eq!(general["failed_requests"], 0, "{general}");
    assert_eq!(
        general["bandwidth"],
        rs.iter().map(|r| r.resp_bytes).sum::<u64>(),
        "{general}"
    );

    let mut hosts = BTreeMap::new();
    let mut requests = BTreeMap::new();
    let mut statuses = BTreeMap::new();
    for r in rs {
        let host = r.client.as_deref().unwrap().split('/').next().unwrap().to_owned();
        *hosts.entry(host).or_insert(0) += 1;
        if r.path.is_ascii() && !r.path.contains(['"', ' ', '\\']) {
            let target = match &r.query {
                Some(q) => format!("{}?{q}", r.path),
                None => r.path.clone(),
            };
            *requests.entry(target).or_insert(0) += 1;
        }
        *statuses.entry(r.status.unwrap()).or_insert(0u64) += 1;
    }
    assert_eq!(panel(report, "hosts"), hosts);
    let read = panel(report, "requests");
    for (target, hits) in &requests {
        assert_eq!(read.get(target), Some(hits), "{target} in {read:?}");
    }
    // The status-codes panel groups by class; its items hold each code.
    let mut codes = BTreeMap::new();
    for class in report["status_codes"]["data"].as_array().unwrap() {
        for item in class["items"].as_array().unwrap() {
            let code: u16 = item["data"].as_str().unwrap()[..3].parse().unwrap();
            codes.insert(code, item["hits"]["count"].as_u64().unwrap());
        }
    }
    assert_eq!(codes, statuses);
}

#[test]
fn the_file_sink_writes_combined_lines_that_goaccess_reads_in_full() {
    let tmp = TempDir::new("clf-file");
    let path = tmp.join("access.log");
    let mut sink = FileSink::open(&path).unwrap().format(LineFormat::Combined);
    let rs = records();
    sink.write(&rs).unwrap();
    sink.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), rs.len());
    assert!(
        text.lines().all(|l| l.ends_with(" \"-\" \"-\"")),
        "referer and user agent are -"
    );
    assert_goaccess_reads(&goaccess(&path, "COMBINED"), &rs);
}

#[test]
fn the_rolling_sink_writes_common_log_format_that_goaccess_reads_in_full() {
    let tmp = TempDir::new("clf-rolling");
    let mut sink = RollingFileSink::new(&tmp.0, "access").unwrap().format(LineFormat::Clf);
    let rs = records();
    sink.write(&rs).unwrap();
    sink.close(Instant::now() + Duration::from_secs(30)).unwrap();
    let files: Vec<_> = std::fs::read_dir(&tmp.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("access."))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_goaccess_reads(&goaccess(&files[0], "COMMON"), &rs);
}

#[test]
fn the_syslog_sink_sends_combined_lines_as_the_message_that_goaccess_reads_in_full() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(support::PATIENCE)).unwrap();
    let mut sink = SyslogSink::udp(server.local_addr().unwrap().to_string())
        .unwrap()
        .structured_data_id(None)
        .unwrap()
        .format(LineFormat::Combined);
    let rs = records();
    sink.write(&rs).unwrap();
    sink.flush().unwrap();
    let tmp = TempDir::new("clf-syslog");
    let path = tmp.join("messages.log");
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 65_536];
    for _ in 0..rs.len() {
        let n = server.recv(&mut buf).expect("a syslog datagram per record");
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
        let body = msg.splitn(8, ' ').nth(7).expect("a MSG");
        assert!(!body.starts_with('\u{feff}'), "an ASCII MSG carries no byte order mark");
        lines.push(format!("{body}\n"));
    }
    std::fs::write(&path, lines.concat()).unwrap();
    assert_goaccess_reads(&goaccess(&path, "COMBINED"), &rs);
}
