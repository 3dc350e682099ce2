//! The tools and the statistics sink under a file-size limit (`ulimit -f`,
//! systemd `LimitFSIZE=`), run as real processes: a write past the limit
//! would kill them with `SIGXFSZ`. Each must stop short of it, say so with
//! the limit and the fix, and leave no cut file where the real one belongs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use privlog::sink::{DropReason, Ledger, Sink};
use privlog::usage::{Period, UsageSink};
use privlog::{MasterKey, Pseudonymizer, Purpose, Record, Rotation};
use support::files::TempDir;
use time::macros::datetime;

/// Runs `privlog args` under `ulimit -f blocks` (KiB), its standard output
/// going to `stdout`, with `PRIVLOG_KEY` set to `key` when given.
fn privlog_under_limit(blocks: u64, args: &[OsString], stdout: Stdio, key: Option<&MasterKey>) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"ulimit -f "$0" && exec "$@""#)
        .arg(blocks.to_string())
        .arg(support::cli::bin())
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .env_remove("PRIVLOG_KEY");
    if let Some(k) = key {
        cmd.env("PRIVLOG_KEY", k.to_hex().as_str());
    }
    cmd.output().unwrap()
}

fn args(list: &[&str], files: &[&Path]) -> Vec<OsString> {
    list.iter()
        .map(OsString::from)
        .chain(files.iter().map(|p| p.as_os_str().to_owned()))
        .collect()
}

/// Exit code 2 (an error, not a signal), and a message naming the limit and the fix.
fn assert_refused_for_the_limit(out: &Output, limit: u64) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exits with an error, not killed by SIGXFSZ: {}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains(&format!("file-size limit of {limit} bytes")) && stderr.contains("ulimit -f"),
        "names the limit and the fix: {stderr}"
    );
}

fn record(i: usize) -> Record {
    let ts = datetime!(2026-11-20 0:00 UTC) + time::Duration::minutes(i as i64);
    let mut r = Record::new(ts, "GET", format!("/rest/issues/{i}"));
    r.route = Some(format!("/rest/area{}/{{id}}", i % 400));
    r.status = Some(200);
    r.duration_us = 1000 + (i as u64 % 7) * 10_000;
    r
}

fn account_record(key: &MasterKey, i: usize, account: &str) -> Record {
    let mut r = record(i);
    let epoch = Rotation::Monthly.epoch_of(r.ts);
    r.account = Some(
        Pseudonymizer::new(key)
            .pseudonym(Purpose::Account, &epoch, account)
            .into_string(),
    );
    r.epoch = epoch.as_str().to_owned();
    r.kid = key.id().as_str().to_owned();
    r
}

fn write_records(path: &Path, records: impl IntoIterator<Item = Record>) {
    let text: String = records.into_iter().map(|r| r.to_ndjson()).collect();
    std::fs::write(path, text).unwrap();
}

#[test]
fn report_under_a_file_size_limit_exits_with_an_error_and_leaves_the_old_report_in_place() {
    let dir = TempDir::new("report");
    let input = dir.0.join("records.ndjson");
    write_records(&input, (0..2000).map(record));
    let html = dir.0.join("report.html");
    std::fs::write(&html, "the report of last week\n").unwrap();
    let out = privlog_under_limit(
        4,
        &args(&["report", "--k", "1", "--output"], &[&html, &input]),
        Stdio::null(),
        None,
    );
    assert_refused_for_the_limit(&out, 4096);
    assert_eq!(
        std::fs::read_to_string(&html).unwrap(),
        "the report of last week\n",
        "the old report is untouched, not replaced by a cut one"
    );
}

#[test]
fn stats_to_a_file_under_a_file_size_limit_writes_nothing_and_says_why() {
    let dir = TempDir::new("stats");
    let input = dir.0.join("records.ndjson");
    write_records(&input, (0..2000).map(record));
    let csv = dir.0.join("stats.csv");
    let out = privlog_under_limit(
        2,
        &args(&["stats", "--by", "route", "--k", "1", "--format", "csv"], &[&input]),
        Stdio::from(File::create(&csv).unwrap()),
        None,
    );
    assert_refused_for_the_limit(&out, 2048);
    assert_eq!(
        std::fs::metadata(&csv).unwrap().len(),
        0,
        "no cut table: the rows are written whole or not at all"
    );
}

#[test]
fn subject_export_under_a_file_size_limit_removes_its_unfinished_file_and_cuts_standard_output_at_a_line() {
    let key = MasterKey::from_bytes([7; 32]);
    let dir = TempDir::new("export");
    let input = dir.0.join("records.ndjson");
    let jane: Vec<Record> = (0..300).map(|i| account_record(&key, i, "557058:jane")).collect();
    write_records(&input, jane.clone());

    let file = dir.0.join("jane.ndjson");
    let out = privlog_under_limit(
        8,
        &args(
            &["subject", "export", "--account", "557058:jane", "--output"],
            &[&file, &input],
        ),
        Stdio::null(),
        Some(&key),
    );
    assert_refused_for_the_limit(&out, 8192);
    assert!(!file.exists(), "an unfinished export does not pass for a whole one");

    let redirected = dir.0.join("stdout.ndjson");
    let out = privlog_under_limit(
        8,
        &args(&["subject", "export", "--account", "557058:jane"], &[&input]),
        Stdio::from(File::create(&redirected).unwrap()),
        Some(&key),
    );
    assert_refused_for_the_limit(&out, 8192);
    let bytes = std::fs::read(&redirected).unwrap();
    assert!(
        bytes.len() <= 8192 && bytes.ends_with(b"\n"),
        "stops short of the limit, after a whole line: {} bytes",
        bytes.len()
    );
    let lines: Vec<Record> = bytes
        .split_inclusive(|b| *b == b'\n')
        .map(|l| privlog::record::parse_line(&l[..l.len() - 1]).unwrap())
        .collect();
    assert!(!lines.is_empty());
    assert_eq!(lines, jane[..lines.len()], "the first records, whole");
}

#[test]
fn keygen_under_a_file_size_limit_too_small_for_a_key_creates_no_key_file() {
    let dir = TempDir::new("keygen");
    let key = dir.0.join("privlog.key");
    let out = privlog_under_limit(0, &args(&["keygen", "--output"], &[&key]), Stdio::null(), None);
    assert_refused_for_the_limit(&out, 0);
    assert!(!key.exists(), "no empty or cut key file is left");
}

/// Set for a child process that runs one test under a file-size limit.
const CHILD_DIR: &str = "PRIVLOG_TEST_FSIZE_DIR";

#[test]
fn under_a_file_size_limit_the_stats_sink_writes_each_emission_whole_or_counts_it_dropped() {
    const NAME: &str = "under_a_file_size_limit_the_stats_sink_writes_each_emission_whole_or_counts_it_dropped";
    // Hour 0: one route, one row. Hour 2: 40 routes, 40 rows, about 10 KB.
    let hour0: Vec<Record> = (0..10).map(|i| stats_record(0, i, 0)).collect();
    let hour2: Vec<Record> = (0..40).map(|i| stats_record(2, i, i)).collect();
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        // The child, under `ulimit -f 2`.
        let now = Arc::new(AtomicU64::new(0));
        let clock = Arc::clone(&now);
        let mut sink = UsageSink::to_file(Path::new(&dir).join("stats.ndjson"))
            .unwrap()
            .period(Period::Hour)
            .k(1)
            .clock(move || UNIX_EPOCH + Duration::from_secs(clock.load(Ordering::SeqCst)));
        let ledger = Ledger::detached("stats");
        sink.attach(ledger.clone());
        now.store(HOUR0, Ordering::SeqCst);
        sink.write(&hour0).unwrap();
        // Past hour 0 and its grace: its row is emitted with the next batch.
        now.store(HOUR0 + 2 * 3600, Ordering::SeqCst);
        sink.write(&hour2).unwrap();
        let e = sink.close(Instant::now()).expect_err("hour 2 does not fit");
        assert!(
            e.to_string().contains("file-size limit") && e.to_string().contains("ulimit -f"),
            "names the limit and the fix: {e}"
        );
        let s = ledger.stats();
        println!(
            "STATS {} {} {}",
            s.delivered,
            s.dropped_for(DropReason::Other("file_size_limit")),
            s.dropped_total()
        );
        return;
    }
    let dir = TempDir::new("stats-sink");
    let out = Command::new("bash")
        .arg("-c")
        .arg("ulimit -f 2 && exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
        .env(CHILD_DIR, &dir.0)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the child survives the limit (not killed by SIGXFSZ): {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .split("STATS ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("the child's counts: {stdout}"));
    assert_eq!(line, "10 40 40", "delivered, file_size_limit, all dropped");
    let text = std::fs::read_to_string(dir.0.join("stats.ndjson")).unwrap();
    assert!(text.len() <= 2048, "{} bytes", text.len());
    let rows: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1, "hour 0's row, whole, and nothing of hour 2: {text}");
    assert_eq!(rows[0]["requests"], 10);
}

/// 2026-11-20T00:00:00Z.
const HOUR0: u64 = 1_795_132_800;

fn stats_record(hour: u64, i: usize, route: usize) -> Record {
    let ts = time::OffsetDateTime::from_unix_timestamp((HOUR0 + hour * 3600) as i64).unwrap()
        + time::Duration::seconds(i as i64);
    let mut r = Record::new(ts, "GET", format!("/x/{i}"));
    r.route = Some(format!("/area{route}/{{id}}"));
    r.status = Some(200);
    r
}

#[test]
fn under_a_file_size_limit_the_stdout_sink_sent_to_a_file_writes_whole_lines_up_to_it_and_counts_the_rest() {
    const NAME: &str =
        "under_a_file_size_limit_the_stdout_sink_sent_to_a_file_writes_whole_lines_up_to_it_and_counts_the_rest";
    let all: Vec<Record> = (0..60).map(record).collect();
    if std::env::var_os(CHILD_DIR).is_some() {
        // The child, under `ulimit -f 2`, its standard output a file (as a
        // service manager's `StandardOutput=append:` makes it).
        let mut sink = privlog::sink::WriterSink::stdout();
        let ledger = Ledger::detached("stdout");
        sink.attach(ledger.clone());
        let mut errors = 0;
        for chunk in all.chunks(10) {
            if let Err(e) = sink.write(chunk) {
                assert!(
                    e.to_string().contains("file-size limit of 2048 bytes") && e.to_string().contains("ulimit -f"),
                    "names the limit and the fix: {e}"
                );
                errors += 1;
            }
        }
        sink.flush().unwrap();
        let s = ledger.stats();
        eprintln!(
            "STATS {} {} {} {errors}",
            s.delivered,
            s.dropped_for(DropReason::Other("file_size_limit")),
            s.dropped_total()
        );
        // The test harness's own report would pass the limit: end here.
        std::process::exit(0);
    }
    let dir = TempDir::new("stdout-sink");
    let path = dir.0.join("stdout.ndjson");
    let out = Command::new("bash")
        .arg("-c")
        .arg("ulimit -f 2 && exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "-q", "--nocapture", "--test-threads", "1"])
        .env(CHILD_DIR, &dir.0)
        .stdout(Stdio::from(File::create(&path).unwrap()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child survives the limit (not killed by SIGXFSZ): {}\n{stderr}",
        out.status
    );
    let counts: Vec<u64> = stderr
        .split("STATS ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("the child's counts: {stderr}"))
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    let (delivered, too_big, dropped, errors) = (counts[0], counts[1], counts[2], counts[3]);
    assert!(
        too_big > 0 && errors > 0,
        "60 lines of about 200 bytes pass 2 KiB: {counts:?}"
    );
    assert_eq!(
        (delivered + too_big, dropped),
        (60, too_big),
        "every record counted once"
    );
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() <= 2048, "{} bytes", bytes.len());
    assert!(bytes.ends_with(b"\n"), "the last line is whole");
    // The harness wrote its first line before the records.
    let records: Vec<Record> = bytes
        .split_inclusive(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"{"))
        .map(|l| privlog::record::parse_line(&l[..l.len() - 1]).unwrap())
        .collect();
    assert_eq!(
        records,
        all[..delivered as usize],
        "the records counted delivered, whole, in order"
    );
}
