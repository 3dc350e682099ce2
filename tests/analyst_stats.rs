//! `privlog stats` from the command line: inputs, formats, filters,
//! k-anonymity, damaged lines and error messages.

mod analyst_common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use analyst_common::{privlog, temp_dir};
use privlog::{AccountSource, Record};
use serde_json::Value;
use time::macros::datetime;

fn record(ts: time::OffsetDateTime, route: &str, status: u16, account: Option<&str>, us: u64) -> Record {
    let mut r = Record::new(ts, "GET", route);
    r.route = Some(route.to_owned());
    r.status = Some(status);
    r.duration_us = us;
    r.resp_bytes = 100;
    r.account = account.map(str::to_owned);
    // The application vouched for every account here.
    r.account_src = account.map(|_| AccountSource::App);
    r.tenant = account.map(|a| format!("ten_{}", a.len() % 2));
    r
}

/// Day 1: /busy used by 8 accounts, /rare1 and /rare2 by 2 and 3 others,
/// /health without accounts. Day 2: /busy by 6 accounts, one 500.
fn sample() -> Vec<Record> {
    let d1 = datetime!(2026-11-20 10:00 UTC);
    let d2 = datetime!(2026-11-21 10:00 UTC);
    let mut v = Vec::new();
    for i in 0..8 {
        v.push(record(d1, "/busy", 200, Some(&format!("acc_busy{i}")), 1000 + i * 100));
    }
    for i in 0..2 {
        v.push(record(d1, "/rare1", 404, Some(&format!("acc_rare1_{i}")), 500));
    }
    for i in 0..3 {
        v.push(record(
            d1,
            "/rare2,with \"comma\"",
            200,
            Some(&format!("acc_rare2_{i}")),
            500,
        ));
    }
    v.push(record(d1, "/health", 200, None, 50));
    for i in 0..6 {
        v.push(record(
            d2,
            "/busy",
            if i == 0 { 500 } else { 200 },
            Some(&format!("acc_busy{i}")),
            2000,
        ));
    }
    v
}

fn write_plain(dir: &Path, name: &str, records: &[Record]) -> PathBuf {
    let p = dir.join(name);
    let text: String = records.iter().map(Record::to_ndjson).collect();
    std::fs::write(&p, text).expect("write");
    p
}

fn json(args: &[&str]) -> Vec<Value> {
    let (out, _) = privlog(args);
    serde_json::from_str(&out).expect("json array")
}

#[test]
fn plain_gzip_and_stdin_inputs_are_read_and_torn_lines_counted() {
    let dir = temp_dir("stats-inputs");
    let records = sample();
    let (a, b) = records.split_at(7);
    let plain = write_plain(&dir, "a.ndjson", a);
    let gz = dir.join("b.ndjson.gz");
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).expect("create"), flate2::Compression::fast());
    for r in &b[..3] {
        enc.write_all(r.to_ndjson().as_bytes()).expect("gz");
    }
    enc.write_all(b"{\"v\":1,\"ts\":\"2026-11-2").expect("torn");
    enc.finish().expect("finish");
    let mut child = Command::new(env!("CARGO_BIN_EXE_privlog"))
        .args(["stats", "--by", "day", "--format", "json", "--k", "1"])
        .arg(&plain)
        .arg(&gz)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    let stdin_text: String = b[3..].iter().map(Record::to_ndjson).collect();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin_text.as_bytes())
        .expect("feed stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    let total: u64 = rows.iter().map(|r| r["requests"].as_u64().expect("n")).sum();
    assert_eq!(total, records.len() as u64);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} records from 3 files", records.len())),
        "{stderr}"
    );
    assert!(stderr.contains("1 damaged or torn line skipped"), "{stderr}");
    // A pipe gets no progress bar: the footer is the only line.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn small_route_groups_fold_into_other_and_the_totals_stay_right() {
    let dir = temp_dir("stats-k");
    let f = write_plain(&dir, "r.ndjson", &sample());
    let rows = json(&[
        "stats",
        "--by",
        "day,route",
        "--format",
        "json",
        f.to_str().expect("path"),
    ]);
    let day1: Vec<&Value> = rows.iter().filter(|r| r["day"] == "2026-11-20").collect();
    let routes: Vec<&str> = day1.iter().map(|r| r["route"].as_str().expect("route")).collect();
    assert_eq!(routes, ["/busy", "/health", "(other)"]);
    let other = day1[2];
    assert_eq!(other["requests"], 5);
    assert_eq!(other["distinct_accounts"], 5);
    assert_eq!(rows.iter().map(|r| r["requests"].as_u64().expect("n")).sum::<u64>(), 20);
    for r in &rows {
        let a = r["distinct_accounts"].as_u64().expect("n");
        assert!(a == 0 || a >= 5, "{r}");
    }
}

#[test]
fn k_one_turns_suppression_off_and_a_higher_k_withholds_more() {
    let dir = temp_dir("stats-k1");
    let f = write_plain(&dir, "r.ndjson", &sample());
    let path = f.to_str().expect("path");
    let all = json(&["stats", "--by", "route", "--format", "json", "--k", "1", path]);
    assert_eq!(all.len(), 4);
    assert!(all.iter().any(|r| r["route"] == "/rare1"));
    let (out, stderr) = privlog(&["stats", "--by", "day", "--format", "json", "--k", "7", path]);
    let strict: Vec<Value> = serde_json::from_str(&out).expect("json");
    // Day 2 has only 6 accounts.
    assert_eq!(strict.len(), 1);
    assert_eq!(strict[0]["day"], "2026-11-20");
    assert!(stderr.contains("1 withheld (6 requests)"), "{stderr}");
}

#[test]
fn json_rows_carry_keys_and_every_figure() {
    let dir = temp_dir("stats-json");
    let f = write_plain(&dir, "r.ndjson", &sample());
    let rows = json(&[
        "stats",
        "--by",
        "day,status",
        "--format",
        "json",
        f.to_str().expect("path"),
    ]);
    let busy = rows
        .iter()
        .find(|r| r["day"] == "2026-11-20" && r["status"] == "2xx")
        .expect("2xx row");
    for key in [
        "requests",
        "distinct_accounts",
        "vouched_accounts",
        "p50_us",
        "p95_us",
        "p99_us",
        "req_bytes",
        "resp_bytes",
    ] {
        assert!(busy[key].is_u64(), "{key} in {busy}");
    }
    assert_eq!(busy["requests"], 12);
    assert_eq!(busy["resp_bytes"], 1200);
    assert!(busy.get("route").is_none(), "only the grouping keys appear");
}

#[test]
fn filters_select_by_time_route_status_and_tenant() {
    let dir = temp_dir("stats-filter");
    let f = write_plain(&dir, "r.ndjson", &sample());
    let p = f.to_str().expect("path");
    let count = |extra: &[&str]| -> u64 {
        let mut args = vec!["stats", "--by", "route", "--format", "json", "--k", "1"];
        args.extend_from_slice(extra);
        args.push(p);
        json(&args).iter().map(|r| r["requests"].as_u64().expect("n")).sum()
    };
    assert_eq!(count(&["--from", "2026-11-21"]), 6);
    assert_eq!(count(&["--to", "2026-11-21"]), 14);
    assert_eq!(
        count(&["--from", "2026-11-20T10:00:00Z", "--to", "2026-11-20T10:00:00.001Z"]),
        14
    );
    assert_eq!(count(&["--route", "/rare*"]), 5);
    assert_eq!(count(&["--status", "5xx"]), 1);
    assert_eq!(count(&["--status", "404"]), 2);
    assert_eq!(
        count(&["--tenant", "ten_0"]),
        sample().iter().filter(|r| r.tenant.as_deref() == Some("ten_0")).count() as u64
    );
}

#[test]
fn csv_quotes_values_and_table_aligns_columns() {
    let dir = temp_dir("stats-csv");
    let f = write_plain(&dir, "r.ndjson", &sample());
    let p = f.to_str().expect("path");
    let (csv, _) = privlog(&["stats", "--by", "route", "--format", "csv", "--k", "1", p]);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "route,requests,distinct_accounts,vouched_accounts,distinct_tenants,p50_us,p95_us,p99_us,req_bytes,resp_bytes"
        )
    );
    assert!(csv.contains("\"/rare2,with \"\"comma\"\"\",3,3,3,"), "{csv}");
    let (table, _) = privlog(&["stats", "--by", "route", p]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("route") && lines[1].starts_with("----"));
    let width = lines[0].chars().count();
    assert!(lines[2..].iter().all(|l| l.chars().count() == width), "{table}");
}

#[test]
fn bad_arguments_name_the_value_and_the_fix() {
    let dir = temp_dir("stats-errors");
    let f = write_plain(&dir, "r.ndjson", &sample());
    let p = f.to_str().expect("path");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_privlog"))
            .args(args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run(&["stats", "--by", "dya", p]).contains("unknown key \"dya\" (use a comma list of hour, day"));
    assert!(run(&["stats", "--k", "0", p]).contains("invalid --k 0: use 1 (no suppression) to 1024"));
    assert!(run(&["stats", "--status", "2x", p]).contains("invalid status \"2x\""));
    assert!(run(&["stats", "--from", "monday", p]).contains("invalid time \"monday\""));
    assert!(run(&["stats", "--max-groups", "0", p]).contains("invalid --max-groups 0: use 1 or more"));
    assert!(
        run(&["report", "-o", "r.html", "--max-unmatched-groups", "0", p])
            .contains("invalid --max-unmatched-groups 0: use 1 or more")
    );
    let missing = dir.join("missing.ndjson");
    let msg = run(&["stats", missing.to_str().expect("path")]);
    assert!(
        msg.contains("cannot read record file") && msg.contains("missing.ndjson"),
        "{msg}"
    );
}
