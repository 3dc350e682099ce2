//! `privlog stats` from the command line: inputs, formats, filters,
//! k-anonymity, damaged lines and error messages.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use privlog::{AccountSource, Record};
use serde_json::Value;
use support::cli::privlog;
use support::files::TempDir;
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
    let dir = TempDir::new("stats-inputs");
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
    let mut child = Command::new(support::cli::bin())
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
    let dir = TempDir::new("stats-k");
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
    let dir = TempDir::new("stats-k1");
    let f = write_plain(&dir, "r.ndjson", &sample());
    let path = f.to_str().expect("path");
    let all = json(&["stats", "--by", "route", "--format", "json", "--k", "1", path]);
    assert_eq!(all.len(), 4);
    assert!(all.iter().any(|r| r["route"] == "/rare1"));
    let (out, stderr) = privlog(&["stats", "--by", "day", "--format", "json", "--k", "7", path]);
    let strict: Vec<Value> = serde_json::from_str(&out).expect("json");
    // Day 2 has only 6 accounts: its requests are a withheld row, not a gap.
    assert_eq!(strict.len(), 2);
    assert_eq!(strict[0]["day"], "2026-11-20");
    assert_eq!(
        (&strict[1]["day"], &strict[1]["requests"], &strict[1]["withheld"]),
        (&Value::from("2026-11-21"), &Value::from(6), &Value::from(true))
    );
    assert!(stderr.contains("1 withheld (6 requests)"), "{stderr}");
}

#[test]
fn json_rows_carry_keys_and_every_figure() {
    let dir = TempDir::new("stats-json");
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
    let dir = TempDir::new("stats-filter");
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
    let dir = TempDir::new("stats-csv");
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
    let dir = TempDir::new("stats-errors");
    let f = write_plain(&dir, "r.ndjson", &sample());
    let p = f.to_str().expect("path");
    let run = |args: &[&str]| {
        let out = Command::new(support::cli::bin()).args(args).output().expect("run");
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
    // A date the calendar does not have is refused, not rolled over into March.
    let html = dir.join("unused.html");
    for cmd in ["stats", "report"] {
        let mut args = vec![cmd, "--from", "2026-02-31", p];
        if cmd == "report" {
            args.extend(["-o", html.to_str().expect("path")]);
        }
        let msg = run(&args);
        assert!(
            msg.contains("invalid time \"2026-02-31\": 2026-02 has 28 days"),
            "{msg}"
        );
    }
    assert!(run(&["stats", "--to", "2026-04-31T00:00:00Z", p]).contains("2026-04 has 30 days"));
    let missing = dir.join("missing.ndjson");
    let msg = run(&["stats", missing.to_str().expect("path")]);
    assert!(
        msg.contains("cannot read record file") && msg.contains("missing.ndjson"),
        "{msg}"
    );
}

/// Figures over two ranges can be subtracted: with k on, time bounds must
/// start whole periods of the grouping (a day without a time key).
#[test]
fn with_k_on_time_bounds_must_start_whole_periods() {
    let dir = TempDir::new("stats-bounds");
    let f = write_plain(&dir, "r.ndjson", &sample());
    let p = f.to_str().expect("path");
    let refused = |args: &[&str]| {
        let out = Command::new(support::cli::bin())
            .args(args)
            .arg(p)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let msg = refused(&["stats", "--by", "route", "--from", "2026-11-20T10:00:00.001Z"]);
    assert!(
        msg.contains("invalid --from/--to: time bound 2026-11-20T10:00:00.001Z does not start a whole day (UTC)")
            && msg.contains("use 2026-11-20 or 2026-11-21")
            && msg.contains("--k 1 allows any bound"),
        "{msg}"
    );
    // 2026-11-20 is a Friday: not the start of an ISO week.
    let msg = refused(&["stats", "--by", "week,route", "--from", "2026-11-20"]);
    assert!(
        msg.contains("does not start a whole ISO week") && msg.contains("use 2026-11-16 or 2026-11-23"),
        "{msg}"
    );
    let msg = refused(&["stats", "--by", "hour", "--to", "2026-11-20T10:30:00Z"]);
    assert!(msg.contains("does not start a whole hour (UTC)"), "{msg}");
    let html = dir.join("unused.html");
    let msg = refused(&[
        "report",
        "-o",
        html.to_str().expect("path"),
        "--to",
        "2026-11-21T12:00:00Z",
    ]);
    assert!(msg.contains("does not start a whole day (UTC)"), "{msg}");
    // Whole periods, or k off, are accepted.
    let ok = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push(p);
        privlog(&all)
    };
    ok(&["stats", "--by", "route", "--from", "2026-11-20", "--to", "2026-11-21"]);
    ok(&["stats", "--by", "hour", "--from", "2026-11-20T10:00:00Z"]);
    ok(&["stats", "--by", "week", "--from", "2026-11-16", "--to", "2026-11-23"]);
    ok(&[
        "stats",
        "--by",
        "route",
        "--k",
        "1",
        "--from",
        "2026-11-20T10:00:00.001Z",
    ]);
}

/// Published account figures count only accounts the application vouched
/// for: 300 forged identities next to six signed-in people show six.
#[test]
fn forged_identities_do_not_inflate_published_account_counts() {
    let dir = TempDir::new("stats-forged");
    let d1 = datetime!(2026-11-20 10:00 UTC);
    let mut records = Vec::new();
    for i in 0..6 {
        records.push(record(d1, "/macro", 200, Some(&format!("acc_real{i}")), 1000));
    }
    for i in 0..300 {
        let mut r = record(d1, "/macro", 200, Some(&format!("acc_forged{i}")), 1000);
        r.account_src = Some(AccountSource::Jwt);
        records.push(r);
    }
    let f = write_plain(&dir, "r.ndjson", &records);
    let p = f.to_str().expect("path");
    let rows = json(&["stats", "--by", "day", "--format", "json", p]);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (&rows[0]["vouched_accounts"], &rows[0]["distinct_accounts"]),
        (&Value::from(6), &Value::from(306))
    );
    let (table, _) = privlog(&["stats", "--by", "day", p]);
    assert!(
        table
            .lines()
            .next()
            .is_some_and(|h| h.contains("all accounts") && h.contains("vouched")),
        "{table}"
    );

    let html_path = dir.join("report.html");
    privlog(&["report", p, "-o", html_path.to_str().expect("path")]);
    let html = std::fs::read_to_string(&html_path).expect("report");
    assert!(
        html.contains(r#"<div class="card" id="accounts"><div class="num">6</div>"#),
        "the headline counts vouched accounts: {html}"
    );
    assert!(
        html.contains("<title>2026-11-20: 6 accounts</title>"),
        "accounts per day: {html}"
    );
}

/// A request left out of both the daily and the route figures is counted
/// once for each, never as two requests.
#[test]
fn the_report_counts_each_left_out_request_once_per_figure() {
    let dir = TempDir::new("report-left-out");
    let d1 = datetime!(2026-11-20 10:00 UTC);
    let d2 = datetime!(2026-11-21 10:00 UTC);
    let mut records = Vec::new();
    for i in 0..5 {
        records.push(record(d1, "/busy", 200, Some(&format!("acc_{i}")), 1000));
    }
    // One lone user on another day and route: withheld by day and by route.
    records.push(record(d2, "/lonely", 200, Some("acc_lone"), 1000));
    let f = write_plain(&dir, "r.ndjson", &records);
    let html_path = dir.join("report.html");
    privlog(&[
        "report",
        f.to_str().expect("path"),
        "-o",
        html_path.to_str().expect("path"),
    ]);
    let html = std::fs::read_to_string(&html_path).expect("report");
    assert!(
        html.contains("(left out: 1 request of the daily figures, 1 request of the route figures)"),
        "{html}"
    );
    assert!(!html.contains("2 requests"), "one request counted twice: {html}");
}

/// A route whose vouched accounts span more key periods than are kept
/// apart is withheld, and the footer says why.
#[test]
fn a_route_over_too_many_key_periods_is_withheld_and_the_footer_says_why() {
    let dir = TempDir::new("stats-periods");
    let d1 = datetime!(2026-11-20 10:00 UTC);
    let mut records = Vec::new();
    for period in 0..=privlog::usage::MAX_KEY_PERIODS {
        for i in 0..5 {
            let mut r = record(d1, "/long", 200, Some(&format!("acc_{period}_{i}")), 1000);
            r.kid = format!("k_{period}");
            records.push(r);
        }
    }
    let f = write_plain(&dir, "r.ndjson", &records);
    let (out, stderr) = privlog(&["stats", "--by", "route", "--format", "json", f.to_str().expect("path")]);
    let rows: Vec<Value> = serde_json::from_str(&out).expect("json");
    // Only the withheld row: its requests, no other figure.
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (&rows[0]["route"], &rows[0]["requests"], &rows[0]["withheld"]),
        (&Value::from("(withheld)"), &Value::from(325), &Value::from(true))
    );
    assert!(rows[0]["vouched_accounts"].is_null(), "{rows:?}");
    assert!(
        stderr.contains("1 withheld (325 requests), 1 of them because their accounts span more key periods than are kept apart (64 per group"),
        "{stderr}"
    );
}

/// Withheld figures show as withheld in every format, and each day's
/// requests add up: shown plus withheld.
#[test]
fn withheld_groups_are_a_row_in_every_format_and_the_days_add_up() {
    let dir = TempDir::new("stats-withheld");
    let f = write_plain(&dir, "r.ndjson", &sample());
    let path = f.to_str().expect("path");
    let (table, _) = privlog(&["stats", "--by", "day,status", "--k", "7", path]);
    let line = table
        .lines()
        .find(|l| l.starts_with("2026-11-21"))
        .expect("day 2 in the table");
    assert!(
        line.contains("(withheld)") && line.contains(" 6  ") && line.contains('–'),
        "{table}"
    );
    let (csv, _) = privlog(&["stats", "--by", "day,status", "--k", "7", "--format", "csv", path]);
    assert!(csv.lines().any(|l| l == "2026-11-21,(withheld),6,,,,,,,,"), "{csv}");
    // Day 1: 8 + 2 + 3 signed-in accounts and one anonymous request: the
    // 4xx of two accounts is withheld, the rest shown; the day adds up.
    let rows = json(&["stats", "--by", "day,status", "--format", "json", path]);
    let day1: u64 = rows
        .iter()
        .filter(|r| r["day"] == "2026-11-20")
        .map(|r| r["requests"].as_u64().expect("requests"))
        .sum();
    assert_eq!(day1, 14);
    assert!(
        rows.iter()
            .any(|r| r["day"] == "2026-11-20" && r["withheld"] == true && r["requests"] == 2),
        "{rows:?}"
    );
}

/// Six accounts a day from 2026-11-27 to 2026-12-02 under monthly rotation:
/// each epoch has its own pseudonyms (`acc_2026-11_0`, …).
fn six_days() -> Vec<Record> {
    let mut v = Vec::new();
    for day in 0..6i64 {
        let ts = datetime!(2026-11-27 12:00 UTC) + time::Duration::days(day);
        let epoch = format!("{:04}-{:02}", ts.year(), u8::from(ts.month()));
        for i in 0..6 {
            let mut r = record(ts, "/busy", 200, Some(&format!("acc_{epoch}_{i}")), 1000);
            r.epoch = epoch.clone();
            v.push(r);
        }
    }
    v
}

#[test]
fn period_month_and_week_count_accounts_over_the_whole_period() {
    let dir = TempDir::new("stats-period");
    let file = write_plain(&dir, "r.ndjson", &six_days());
    let f = file.to_str().expect("utf-8");
    let rows = |args: &[&str]| -> Vec<(String, u64, u64)> {
        let mut all = vec!["stats", "--format", "json", "--k", "5"];
        all.extend_from_slice(args);
        all.push(f);
        json(&all)
            .iter()
            .filter(|r| r["route"] == "/busy")
            .map(|r| {
                let p = ["month", "week", "day"]
                    .iter()
                    .find_map(|k| r[*k].as_str())
                    .expect("a period")
                    .to_owned();
                (
                    p,
                    r["requests"].as_u64().expect("n"),
                    r["vouched_accounts"].as_u64().expect("n"),
                )
            })
            .collect()
    };
    // --period replaces the period in --by.
    let months = rows(&["--by", "day,route", "--period", "month"]);
    assert_eq!(months, [("2026-11".to_owned(), 24, 6), ("2026-12".to_owned(), 12, 6)]);
    let days = rows(&["--by", "day,route"]);
    assert_eq!(days.len(), 6);
    assert_eq!(
        days.iter().map(|r| r.2).sum::<u64>(),
        36,
        "daily rows summed overcount accounts"
    );
    assert_eq!(days.iter().map(|r| r.1).sum::<u64>(), 36, "requests add up");
    // The week from Monday 2026-11-30 spans two monthly epochs: the busier
    // one's vouched accounts, never the sum of both.
    let weeks = rows(&["--by", "route", "--period", "week"]);
    assert_eq!(weeks, [("2026-W48".to_owned(), 18, 6), ("2026-W49".to_owned(), 18, 6)]);
    let out = Command::new(support::cli::bin())
        .args(["stats", "--period", "route", f])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid --period route: use hour, day, week or month"),
        "{err}"
    );
}
