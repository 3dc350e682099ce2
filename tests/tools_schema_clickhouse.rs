//! The ClickHouse schema and analyst queries, run for real in a private
//! ClickHouse server (scripts/peers/clickhouse.sh) against records the layer
//! produced.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use privlog::{AccountSource, Record};
use support::cli::privlog;
use support::files::TempDir;
use support::records::{K_SHOWN_DAYS, K_SHOWN_ROUTES, k_attack_records, read_records};
use support::traffic::traffic;

/// A ClickHouse server on 127.0.0.1, stopped when dropped.
struct ClickHouse {
    dir: support::files::TempDir,
    port: u16,
}

impl ClickHouse {
    fn start() -> Self {
        let dir = TempDir::new("clickhouse");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/peers/clickhouse.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg("start")
            .arg(&*dir)
            .output()
            .expect("run clickhouse.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ClickHouse did not start ({}): install it with scripts/install-peers.sh (Debian package clickhouse-server)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let port = stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http_port="))
            .and_then(|p| p.parse().ok())
            .expect("clickhouse.sh prints http_port=N");
        ClickHouse { dir, port }
    }

    /// POSTs `body` to the HTTP interface with `query` in the URL (when
    /// given); returns the response body, failing the test on an error status.
    fn post(&self, params: &[(&str, &str)], body: &[u8]) -> String {
        let query: String = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to clickhouse");
        let head = format!(
            "POST /?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("send");
        s.write_all(body).expect("send body");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("read response");
        let text = String::from_utf8_lossy(&resp).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("http response");
        assert!(head.starts_with("HTTP/1.1 200"), "clickhouse error: {head}\n{body}");
        dechunk(head, body)
    }

    fn query(&self, sql: &str) -> Vec<Vec<String>> {
        self.query_in("default", sql)
    }

    /// [`Self::query`] in database `db`.
    fn query_in(&self, db: &str, sql: &str) -> Vec<Vec<String>> {
        self.post(&[("database", db)], sql.as_bytes())
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    }
}

fn dechunk(head: &str, body: &str) -> String {
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/peers/clickhouse.sh");
        let _ = Command::new("bash").arg(script).arg("stop").arg(&*self.dir).output();
    }
}

fn query_file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/sql/clickhouse/{name}.sql", env!("CARGO_MANIFEST_DIR"))).expect("sql file")
}

fn day(r: &Record) -> String {
    format!("{:04}-{:02}-{:02}", r.ts.year(), u8::from(r.ts.month()), r.ts.day())
}

fn load(ch: &ClickHouse, db: &str, file: &Path) {
    let (schema, _) = privlog(&["schema", "clickhouse", "--files", file.to_str().expect("path")]);
    // Debian's ClickHouse 18.16 has no DateTime64: the schema's own comment
    // says to write DateTime there (whole seconds, which these records hold).
    assert!(schema.contains("ts DateTime64(3, 'UTC'),"), "{schema}");
    let schema = schema.replace("ts DateTime64(3, 'UTC'),", "ts DateTime('UTC'),");
    ch.query(&format!("CREATE DATABASE IF NOT EXISTS {db}"));
    ch.query_in(db, &schema);
    let mut data = std::fs::read(file).expect("records");
    data.extend_from_slice(br#"{"v":1,"ts":"2026-11-21T10:00:00.000Z","client":nu"#);
    ch.post(
        &[
            ("database", db),
            ("query", "INSERT INTO privlog_records FORMAT JSONEachRow"),
            ("date_time_input_format", "best_effort"),
            ("input_format_allow_errors_num", "1000"),
        ],
        &data,
    );
}

/// What one UTC day of records holds, computed from the records themselves.
#[derive(Default)]
struct Day {
    requests: u64,
    accounts: BTreeSet<String>,
    /// Vouched accounts per key period (kid, epoch).
    vouched: BTreeMap<(String, String), BTreeSet<String>>,
    tenants: BTreeSet<String>,
    errors: u64,
    durations: Vec<u64>,
}

#[test]
fn analyst_queries_in_clickhouse_match_the_layers_records() {
    let dir = TempDir::new("clickhouse-data");
    let file = traffic(&dir, 600);
    let records = read_records(&file);
    let ch = ClickHouse::start();
    load(&ch, "default", &file);

    // Every record loaded, the torn line skipped.
    assert_eq!(
        ch.query("SELECT count() FROM privlog_records"),
        vec![vec!["600".to_owned()]]
    );

    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    let mut routes: BTreeMap<String, (u64, BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for r in &records {
        let vouched = r.account.clone().filter(|_| r.account_src == Some(AccountSource::App));
        let d = days.entry(day(r)).or_default();
        d.requests += 1;
        d.accounts.extend(r.account.clone());
        d.vouched
            .entry((r.kid.clone(), r.epoch.clone()))
            .or_default()
            .extend(vouched.clone());
        d.tenants.extend(r.tenant.clone());
        d.errors += u64::from(r.status.is_none_or(|s| s >= 500));
        d.durations.push(r.duration_us);
        let e = routes
            .entry(r.route.clone().unwrap_or_else(|| r.path.clone()))
            .or_default();
        e.0 += 1;
        e.1.extend(r.account.clone());
        e.2.extend(vouched);
    }
    assert!(days.len() >= 3);

    let daa = ch.query(&query_file("daily_active_accounts"));
    let active = |d: &Day| d.vouched.values().map(BTreeSet::len).max().unwrap_or(0);
    let want: Vec<Vec<String>> = days
        .iter()
        .filter(|(_, d)| d.accounts.is_empty() || active(d) >= 5)
        .map(|(k, d)| {
            vec![
                k.clone(),
                d.requests.to_string(),
                active(d).to_string(),
                d.accounts.len().to_string(),
                d.tenants.len().to_string(),
            ]
        })
        .collect();
    assert_eq!(daa, want, "daily active accounts");

    let top = ch.query(&query_file("top_routes"));
    let got: BTreeMap<String, String> = top.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let want: BTreeMap<String, String> = routes
        .iter()
        .filter(|(_, (_, a, v))| a.is_empty() || v.len() >= 5)
        .map(|(k, (n, _, _))| (k.clone(), n.to_string()))
        .collect();
    assert_eq!(got, want, "top routes");
    assert!(got.contains_key("/health"), "routes without accounts are shown");
    assert!(
        routes["/rest/search"].1.len() >= 5 && !got.contains_key("/rest/search"),
        "a route with enough accounts but fewer than 5 vouched ones is withheld"
    );

    let errors = ch.query(&query_file("error_rate"));
    assert_eq!(errors.len(), days.len());
    for row in &errors {
        let d = &days[&row[0]];
        assert_eq!(row[1], d.requests.to_string());
        let errs: u64 = row[2].parse::<u64>().expect("n") + row[3].parse::<u64>().expect("n");
        assert_eq!(errs, d.errors, "errors on {}", row[0]);
    }

    let lat = ch.query(&query_file("latency_percentiles"));
    for row in &lat {
        let mut v = days[&row[0]].durations.clone();
        v.sort_unstable();
        for (col, q) in [(2, 0.5), (3, 0.95), (4, 0.99)] {
            let got: u64 = row[col].parse().expect("percentile");
            let lo = v[((q * (v.len() - 1) as f64).floor() as usize).min(v.len() - 1)];
            let hi = v[((q * v.len() as f64).ceil() as usize).min(v.len() - 1)];
            assert!((lo..=hi).contains(&got), "p{q} {got} outside [{lo}, {hi}]");
        }
    }

    // Records k-anonymity must withhold — a lone user's day, one person over
    // several keys or epochs, forged identities next to one real user — are
    // withheld by every query; what k allows is shown.
    let attacks = k_attack_records(&dir);
    load(&ch, "attacks", &attacks);
    for name in ["daily_active_accounts", "error_rate", "latency_percentiles"] {
        let rows = ch.query_in("attacks", &query_file(name));
        let days: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(days, K_SHOWN_DAYS, "{name}: {rows:?}");
    }
    let rows = ch.query_in("attacks", &query_file("daily_active_accounts"));
    assert_eq!(rows[0][1..], ["5", "5", "5", "0"], "{rows:?}");
    let rows = ch.query_in("attacks", &query_file("top_routes"));
    let routes: BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(routes, BTreeSet::from(K_SHOWN_ROUTES), "{rows:?}");
}
