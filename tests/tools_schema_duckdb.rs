//! The DuckDB schema and analyst queries, run for real in DuckDB against
//! records the layer produced, and `privlog stats` checked against them.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use privlog::{AccountSource, Record};
use serde_json::Value;
use support::cli::privlog;
use support::files::TempDir;
use support::peers::{duckdb, require_duckdb};
use support::records::{K_SHOWN_DAYS, K_SHOWN_ROUTES, k_attack_records, read_records};
use support::traffic::traffic;

struct Data {
    file: PathBuf,
    records: Vec<Record>,
}

/// One traffic run shared by every test here; a torn line is appended after
/// the records are read back, so the file also holds a crash's leftovers.
fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        // A static is never dropped, so the data lives in a fixed place under
        // the target directory that the next run replaces.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("analyst-duckdb");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("data dir");
        let file = traffic(&dir, 600);
        let records = read_records(&file);
        assert_eq!(records.len(), 600);
        let mut torn = std::fs::OpenOptions::new().append(true).open(&file).expect("append");
        std::io::Write::write_all(&mut torn, br#"{"v":1,"ts":"2026-11-21T10:00:00.000Z","client":nu"#).expect("torn");
        Data { file, records }
    })
}

fn with_schema(query: &str) -> Vec<Vec<Value>> {
    require_duckdb();
    let (schema, _) = privlog(&["schema", "duckdb", "--files", data().file.to_str().expect("utf-8 path")]);
    let mut results = duckdb(&format!("{schema}\n{query}"));
    results.pop().expect("query result")
}

fn query_file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/sql/duckdb/{name}.sql", env!("CARGO_MANIFEST_DIR"))).expect("sql file")
}

/// The account, when the application vouched for it.
fn vouched(r: &Record) -> Option<String> {
    r.account.clone().filter(|_| r.account_src == Some(AccountSource::App))
}

fn day(r: &Record) -> String {
    format!("{:04}-{:02}-{:02}", r.ts.year(), u8::from(r.ts.month()), r.ts.day())
}

#[test]
fn the_view_reads_every_record_and_skips_the_torn_line() {
    let rows = with_schema("SELECT count(*), count(DISTINCT account), min(ts) FROM privlog_records");
    assert_eq!(rows[0][0], Value::from(600));
    let accounts: BTreeSet<_> = data().records.iter().filter_map(|r| r.account.clone()).collect();
    assert_eq!(rows[0][1], Value::from(accounts.len()));
    assert_eq!(rows[0][2], Value::from("2026-11-20 00:00:00"));
}

#[test]
fn daily_active_accounts_match_the_records() {
    let rows = with_schema(&query_file("daily_active_accounts"));
    #[derive(Default)]
    struct Day {
        requests: u64,
        accounts: BTreeSet<String>,
        tenants: BTreeSet<String>,
        vouched: BTreeMap<(String, String), BTreeSet<String>>,
    }
    let mut expected: BTreeMap<String, Day> = BTreeMap::new();
    for r in &data().records {
        let e = expected.entry(day(r)).or_default();
        e.requests += 1;
        e.accounts.extend(r.account.clone());
        e.tenants.extend(r.tenant.clone());
        e.vouched
            .entry((r.kid.clone(), r.epoch.clone()))
            .or_default()
            .extend(vouched(r));
    }
    assert!(expected.len() >= 3, "traffic spans several days");
    let got: Vec<(String, u64, u64, u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().expect("day").to_owned(),
                r[1].as_u64().expect("n"),
                r[2].as_u64().expect("n"),
                r[3].as_u64().expect("n"),
                r[4].as_u64().expect("n"),
            )
        })
        .collect();
    let want: Vec<(String, u64, u64, u64, u64)> = expected
        .into_iter()
        .map(|(d, e)| {
            let active = e.vouched.values().map(BTreeSet::len).max().unwrap_or(0) as u64;
            (d, e.requests, active, e.accounts.len() as u64, e.tenants.len() as u64)
        })
        .filter(|w| w.3 == 0 || w.2 >= 5)
        .collect();
    assert!(want.iter().all(|w| w.3 > w.2), "each day has claimed accounts too");
    assert_eq!(got, want);
}

/// Records k-anonymity must withhold — a lone user's day, one person over
/// several keys or epochs, forged identities next to one real user — are
/// withheld by every analyst query; what k allows is shown.
#[test]
fn every_query_withholds_what_fewer_than_k_people_did_within_one_key_period() {
    require_duckdb();
    let tmp = TempDir::new("duckdb-k");
    let file = k_attack_records(&tmp);
    let (schema, _) = privlog(&["schema", "duckdb", "--files", file.to_str().expect("utf-8 path")]);
    let run = |name: &str| {
        duckdb(&format!("{schema}\n{}", query_file(name)))
            .pop()
            .expect("result")
    };
    for name in ["daily_active_accounts", "error_rate", "latency_percentiles"] {
        let rows = run(name);
        let days: Vec<&str> = rows.iter().map(|r| r[0].as_str().expect("day")).collect();
        assert_eq!(days, K_SHOWN_DAYS, "{name}: {rows:?}");
    }
    let rows = run("daily_active_accounts");
    assert_eq!(
        rows[0][1..],
        [Value::from(5), Value::from(5), Value::from(5), Value::from(0)]
    );
    let rows = run("top_routes");
    let routes: BTreeSet<&str> = rows.iter().map(|r| r[0].as_str().expect("route")).collect();
    assert_eq!(routes, BTreeSet::from(K_SHOWN_ROUTES), "{rows:?}");
}

#[test]
fn top_routes_group_by_template_or_scrubbed_path_and_withhold_small_ones() {
    let rows = with_schema(&query_file("top_routes"));
    let mut expected: BTreeMap<String, (u64, BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for r in &data().records {
        let key = r.route.clone().unwrap_or_else(|| r.path.clone());
        let e = expected.entry(key).or_default();
        e.0 += 1;
        e.1.extend(r.account.clone());
        e.2.extend(vouched(r));
    }
    let got: BTreeMap<String, u64> = rows
        .iter()
        .map(|r| (r[0].as_str().expect("route").to_owned(), r[1].as_u64().expect("n")))
        .collect();
    let want: BTreeMap<String, u64> = expected
        .iter()
        .filter(|(_, (_, a, v))| a.is_empty() || v.len() >= 5)
        .map(|(k, (n, _, _))| (k.clone(), *n))
        .collect();
    assert_eq!(got, want);
    assert!(got.contains_key("/rest/issues/{id}"));
    assert!(
        expected["/rest/search"].1.len() >= 5 && !got.contains_key("/rest/search"),
        "a route with enough accounts but fewer than 5 vouched ones is withheld"
    );
    assert!(
        got.keys().any(|k| k.starts_with("/nowhere/")),
        "a path without a route appears as its scrubbed path"
    );
    let requests: Vec<u64> = rows.iter().map(|r| r[1].as_u64().expect("n")).collect();
    assert!(requests.windows(2).all(|w| w[0] >= w[1]), "ordered by requests");
}

#[test]
fn error_rate_counts_server_errors_per_day() {
    let rows = with_schema(&query_file("error_rate"));
    let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in &data().records {
        let e = expected.entry(day(r)).or_default();
        e.0 += 1;
        if r.status.is_none_or(|s| s >= 500) {
            e.1 += 1;
        }
    }
    for row in &rows {
        let (n, errors) = expected[row[0].as_str().expect("day")];
        assert_eq!(row[1].as_u64(), Some(n));
        assert_eq!(row[2].as_u64(), Some(errors));
        let rate = row[4].as_f64().expect("rate");
        assert!((rate - 100.0 * errors as f64 / n as f64).abs() < 0.001);
    }
    assert_eq!(rows.len(), expected.len());
}

#[test]
fn latency_percentiles_are_values_at_their_rank() {
    let rows = with_schema(&query_file("latency_percentiles"));
    let mut by_day: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in &data().records {
        by_day.entry(day(r)).or_default().push(r.duration_us);
    }
    for row in &rows {
        let mut v = by_day[row[0].as_str().expect("day")].clone();
        v.sort_unstable();
        for (col, q) in [(2, 0.5), (3, 0.95), (4, 0.99)] {
            let got = row[col].as_u64().expect("percentile");
            let lo = v[((q * (v.len() - 1) as f64).floor() as usize).min(v.len() - 1)];
            let hi = v[((q * v.len() as f64).ceil() as usize).min(v.len() - 1)];
            assert!((lo..=hi).contains(&got), "p{q} {got} outside [{lo}, {hi}]");
        }
    }
}

#[test]
fn privlog_stats_agrees_with_duckdb_per_day() {
    let sql = "SELECT strftime(day, '%Y-%m-%d'), sum(n), sum(a), sum(t), sum(b), max(v) FROM ( \
               SELECT CAST(ts AS DATE) AS day, count(*) AS n, count(DISTINCT account) AS a, count(DISTINCT tenant) AS t, \
               sum(resp_bytes) AS b, count(DISTINCT CASE WHEN account_src = 'app' THEN account END) AS v \
               FROM privlog_records GROUP BY day, kid, epoch) GROUP BY day ORDER BY 1";
    let rows = with_schema(sql);
    let (json, stderr) = privlog(&[
        "stats",
        "--by",
        "day",
        "--format",
        "json",
        "--k",
        "1",
        data().file.to_str().expect("path"),
    ]);
    let stats: Vec<Value> = serde_json::from_str(&json).expect("json array");
    assert_eq!(stats.len(), rows.len());
    for (s, r) in stats.iter().zip(&rows) {
        assert_eq!(s["day"], r[0]);
        assert_eq!(s["requests"], r[1]);
        assert_eq!(s["distinct_accounts"], r[2]);
        assert_eq!(s["distinct_tenants"], r[3]);
        assert_eq!(s["resp_bytes"], r[4]);
        assert_eq!(s["vouched_accounts"], r[5]);
    }
    assert!(stderr.contains("1 damaged or torn line skipped"), "{stderr}");
}

#[test]
fn a_path_with_a_quote_is_escaped_in_the_view() {
    require_duckdb();
    let tmp = TempDir::new("duckdb-quote");
    let dir = tmp.join("o'brien's logs");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(&data().file, dir.join("records.ndjson")).expect("copy");
    let glob = format!("{}/*.ndjson", dir.display());
    let (schema, _) = privlog(&["schema", "duckdb", "--files", &glob]);
    assert!(schema.contains("o''brien''s logs"), "{schema}");
    let rows = duckdb(&format!("{schema}\nSELECT count(*) FROM privlog_records"));
    assert_eq!(rows.last().expect("result")[0][0], Value::from(600));
}
