//! The ClickHouse schema and analyst queries run on a current ClickHouse
//! engine: chdb (ClickHouse in process, PyPI `chdb`, through
//! `scripts/peers/chdb-sql.py`), against records privlog wrote. The same SQL
//! runs on Debian's ClickHouse 18.16 in `tools_schema_clickhouse.rs`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use privlog::sink::{FileSink, Sink};
use privlog::{AccountSource, Record};
use support::cli::privlog;
use support::files::TempDir;
use support::records::{K_SHOWN_DAYS, K_SHOWN_ROUTES, k_attack_records, read_records};
use support::traffic::traffic;

/// Loads `records` into chdb with the schema `privlog schema clickhouse`
/// prints and the load command it documents, then runs each query; returns
/// each query's rows, split into columns.
fn chdb(records: &Path, queries: &[&str]) -> Vec<Vec<Vec<String>>> {
    let (schema, _) = privlog(&["schema", "clickhouse", "--files", records.to_str().expect("path")]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/peers/chdb-sql.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(records)
        .arg(&schema)
        .args(queries)
        .output()
        .expect("python3 is needed: install it with scripts/install-peers.sh");
    assert!(
        out.status.success(),
        "chdb failed (install it with scripts/install-peers.sh, PyPI package chdb): {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    let mut results: Vec<Vec<Vec<String>>> = Vec::new();
    for line in text.lines() {
        if line.starts_with("== ") {
            results.push(Vec::new());
        } else {
            let rows = results.last_mut().expect("a result header first");
            rows.push(line.split('\t').map(str::to_owned).collect());
        }
    }
    assert_eq!(results.len(), queries.len(), "{text}");
    results
}

fn query_file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/sql/clickhouse/{name}.sql", env!("CARGO_MANIFEST_DIR"))).expect("sql file")
}

fn day(r: &Record) -> String {
    format!("{:04}-{:02}-{:02}", r.ts.year(), u8::from(r.ts.month()), r.ts.day())
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

const QUERIES: [&str; 4] = [
    "daily_active_accounts",
    "top_routes",
    "error_rate",
    "latency_percentiles",
];

#[test]
fn analyst_queries_on_chdb_match_the_layers_records() {
    let dir = TempDir::new("chdb-data");
    let file = traffic(&dir, 600);
    let records = read_records(&file);
    let mut torn = std::fs::OpenOptions::new().append(true).open(&file).expect("append");
    std::io::Write::write_all(&mut torn, br#"{"v":1,"ts":"2026-11-21T10:00:00.000Z","client":nu"#).expect("torn");

    let sql: Vec<String> = QUERIES.iter().map(|q| query_file(q)).collect();
    let mut queries = vec!["SELECT count(), toUInt32(splitByChar('.', version())[1]) >= 20 FROM privlog_records"];
    queries.extend(sql.iter().map(String::as_str));
    let res = chdb(&file, &queries);
    // Every record loaded, the torn line skipped, on a ClickHouse with DateTime64.
    assert_eq!(res[0], vec![vec!["600".to_owned(), "1".to_owned()]]);

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
    assert_eq!(res[1], want, "daily active accounts");

    let got: BTreeMap<String, String> = res[2].iter().map(|r| (r[0].clone(), r[1].clone())).collect();
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

    let errors = &res[3];
    assert_eq!(errors.len(), days.len());
    for row in errors {
        let d = &days[&row[0]];
        assert_eq!(row[1], d.requests.to_string());
        let errs: u64 = row[2].parse::<u64>().expect("n") + row[3].parse::<u64>().expect("n");
        assert_eq!(errs, d.errors, "errors on {}", row[0]);
    }

    assert_eq!(res[4].len(), days.len());
    for row in &res[4] {
        let mut v = days[&row[0]].durations.clone();
        v.sort_unstable();
        for (col, q) in [(2, 0.5), (3, 0.95), (4, 0.99)] {
            let got: u64 = row[col].parse().expect("percentile");
            let lo = v[((q * (v.len() - 1) as f64).floor() as usize).min(v.len() - 1)];
            let hi = v[((q * v.len() as f64).ceil() as usize).min(v.len() - 1)];
            assert!((lo..=hi).contains(&got), "p{q} {got} outside [{lo}, {hi}]");
        }
    }

    // What k-anonymity must withhold stays withheld on the current engine.
    let attacks = k_attack_records(&dir);
    let res = chdb(&attacks, &sql.iter().map(String::as_str).collect::<Vec<_>>());
    for (name, rows) in QUERIES.iter().zip(&res) {
        if *name == "top_routes" {
            let routes: BTreeSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
            assert_eq!(routes, BTreeSet::from(K_SHOWN_ROUTES), "{rows:?}");
        } else {
            let days: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
            assert_eq!(days, K_SHOWN_DAYS, "{name}: {rows:?}");
        }
    }
    assert_eq!(res[0][0][1..], ["5", "5", "5", "0"], "{:?}", res[0]);
}

#[test]
fn milliseconds_of_record_times_survive_in_chdb() {
    let dir = TempDir::new("chdb-millis");
    let file = dir.join("records.ndjson");
    let t0 = time::OffsetDateTime::from_unix_timestamp(1_795_000_000).expect("ts");
    // Times a whole-second column would merge or round: 0.001 s apart, and
    // the last millisecond of a second and of a day.
    let offsets_ms: Vec<i64> = vec![0, 1, 2, 999, 1_000, 1_001, 59_999, 86_399_999, 86_400_000];
    let records: Vec<Record> = offsets_ms
        .iter()
        .enumerate()
        .map(|(i, ms)| Record::new(t0 + time::Duration::milliseconds(*ms), "GET", format!("/t/{i}")))
        .collect();
    let mut sink = FileSink::open(&file).expect("open record file");
    sink.write(&records).expect("write records");
    sink.close(std::time::Instant::now() + std::time::Duration::from_secs(10))
        .expect("close");
    assert_eq!(read_records(&file), records, "privlog wrote the millisecond times");

    let res = chdb(
        &file,
        &[
            "SELECT path, toUnixTimestamp64Milli(ts), toString(ts) FROM privlog_records ORDER BY ts",
            "SELECT toDate(ts) AS day, count() FROM privlog_records GROUP BY day ORDER BY day",
        ],
    );
    let want: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let ms = r.ts.unix_timestamp_nanos() / 1_000_000;
            vec![
                r.path.clone(),
                ms.to_string(),
                format!(
                    "{} {:02}:{:02}:{:02}.{:03}",
                    day(r),
                    r.ts.hour(),
                    r.ts.minute(),
                    r.ts.second(),
                    r.ts.millisecond()
                ),
            ]
        })
        .collect();
    assert_eq!(res[0], want, "every record keeps its millisecond");
    let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *per_day.entry(day(r)).or_default() += 1;
    }
    let want: Vec<Vec<String>> = per_day.into_iter().map(|(d, n)| vec![d, n.to_string()]).collect();
    assert_eq!(res[1], want, "UTC days of millisecond times");
}
