//! The command-line tools on hostile record files, run as the real binary:
//! gzip bombs and lines of many megabytes without a line end, more files than
//! the process may open, hundreds of thousands of distinct paths. Each run
//! must succeed with exact totals, count an over-long line as one damaged
//! line, and stay within a bound on its peak memory (the child's maximum
//! resident set size, from `getrusage`).

mod support;

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};

use flate2::Compression;
use flate2::write::GzEncoder;
use privlog::{MasterKey, Pseudonymizer, Purpose, Record, Rotation};
use serde_json::Value;
use support::files::TempDir;
use time::macros::datetime;

const MIB: usize = 1 << 20;

/// Runs `privlog args` with standard output and error captured, under
/// `ulimit -n nofile` when given, with `PRIVLOG_KEY` set to `key` when given;
/// returns its output and its peak resident set size in KiB (measured by
/// Python's `resource.getrusage(RUSAGE_CHILDREN)` after it exited).
fn run(args: &[OsString], nofile: Option<u32>, key: Option<&MasterKey>) -> (Output, u64) {
    const MEASURE: &str = "import resource, subprocess, sys\n\
        r = subprocess.run(sys.argv[2:])\n\
        open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n\
        sys.exit(r.returncode)\n";
    let rss_file = std::env::temp_dir().join(format!(
        "privlog-hostile-files-rss-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let limit = nofile.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"if [ "$0" != unlimited ]; then ulimit -n "$0" || exit 97; fi; exec "$@""#)
        .arg(limit)
        .args(["python3", "-c", MEASURE])
        .arg(&rss_file)
        .arg(support::cli::bin())
        .args(args)
        .env_remove("PRIVLOG_KEY");
    if let Some(k) = key {
        cmd.env("PRIVLOG_KEY", k.to_hex().as_str());
    }
    let out = cmd
        .output()
        .expect("run bash and python3 (scripts/install-peers.sh installs python3)");
    let rss = std::fs::read_to_string(&rss_file).unwrap_or_else(|e| {
        panic!(
            "no peak memory measured ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let _ = std::fs::remove_file(&rss_file);
    (out, rss.trim().parse().expect("ru_maxrss in KiB"))
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

fn record(i: usize, path: &str) -> Record {
    let ts = datetime!(2026-11-20 0:00 UTC) + time::Duration::minutes(i as i64);
    let mut r = Record::new(ts, "GET", path);
    r.status = Some(200);
    r.duration_us = 1000 + (i as u64 % 7) * 10_000;
    r
}

fn ndjson(records: impl IntoIterator<Item = Record>) -> Vec<u8> {
    records.into_iter().flat_map(|r| r.to_ndjson().into_bytes()).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::best());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

/// A gzip file: `before`, then `zeros` MiB of zero bytes without a line end
/// (one gzip member of 16 MiB repeated: each member is a few KiB), then a
/// line end and `after`.
fn gzip_bomb(path: &Path, before: &[u8], zeros: usize, after: &[u8]) {
    let mut f = File::create(path).expect("create");
    f.write_all(&gzip(before)).expect("write");
    let member = gzip(&vec![0u8; 16 * MIB]);
    for _ in 0..zeros / 16 {
        f.write_all(&member).expect("write");
    }
    f.write_all(&gzip(&[b"\n".as_slice(), after].concat())).expect("write");
}

/// The JSON rows of a `stats --format json` run.
fn rows(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "privlog failed: {}",
        support::cli::text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json rows")
}

fn requests(rows: &[Value]) -> u64 {
    rows.iter().map(|r| r["requests"].as_u64().expect("requests")).sum()
}

#[test]
fn stats_and_report_read_more_gzip_files_than_the_process_may_open() {
    let dir = TempDir::new("many-files");
    let mut files = Vec::new();
    for i in 0..1100 {
        let p = dir.0.join(format!("privlog.{i:04}.ndjson.gz"));
        std::fs::write(&p, gzip(&ndjson([record(i, "/a"), record(i, "/b")]))).expect("write");
        files.push(p.into_os_string());
    }
    let mut stats = args(&["stats", "--by", "day", "--format", "json", "--k", "1"]);
    stats.extend(files.iter().cloned());
    let (out, _) = run(&stats, Some(256), None);
    assert_eq!(requests(&rows(&out)), 2200);
    assert!(
        support::cli::text(&out.stderr).contains("2200 records from 1100 files"),
        "{}",
        support::cli::text(&out.stderr)
    );

    let html = dir.0.join("report.html");
    let mut report = args(&["report", "--k", "1", "-o"]);
    report.push(html.clone().into_os_string());
    report.extend(files);
    let (out, _) = run(&report, Some(256), None);
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    assert!(
        support::cli::text(&out.stderr).contains("2200 records from 1100 files"),
        "{}",
        support::cli::text(&out.stderr)
    );
    assert!(std::fs::read_to_string(&html).expect("report").contains("2,200"));
}

#[test]
fn stats_counts_a_gzip_bomb_line_as_one_damaged_line_in_bounded_memory() {
    let dir = TempDir::new("stats-bomb");
    let before = ndjson((0..100).map(|i| record(i, "/before")));
    let after = ndjson((0..50).map(|i| record(i, "/after")));
    let bomb = dir.0.join("bomb.ndjson.gz");
    gzip_bomb(&bomb, &before, 256, &after);
    let plain = dir.0.join("long-line.ndjson");
    let mut text = ndjson((0..10).map(|i| record(i, "/plain")));
    text.extend(std::iter::repeat_n(b'x', 64 * MIB));
    text.push(b'\n');
    text.extend(ndjson((0..5).map(|i| record(i, "/plain"))));
    std::fs::write(&plain, &text).expect("write");

    let mut a = args(&["stats", "--by", "route", "--format", "json", "--k", "1"]);
    a.push(bomb.into_os_string());
    a.push(plain.into_os_string());
    let (out, rss_kib) = run(&a, None, None);
    let rows = rows(&out);
    let by_route = |r: &str| rows.iter().find(|v| v["route"] == r).map(|v| v["requests"].clone());
    assert_eq!(by_route("/before"), Some(100.into()));
    assert_eq!(by_route("/after"), Some(50.into()));
    assert_eq!(by_route("/plain"), Some(15.into()));
    assert!(
        support::cli::text(&out.stderr)
            .contains("165 records from 2 files, 165 counted; 2 damaged or torn lines skipped"),
        "{}",
        support::cli::text(&out.stderr)
    );
    assert!(rss_kib < 48 * 1024, "peak memory {rss_kib} KiB");
}

#[test]
fn stats_on_300_000_distinct_paths_keeps_every_total_in_bounded_memory() {
    let dir = TempDir::new("distinct-paths");
    let file = dir.0.join("scanner.ndjson");
    let mut w = std::io::BufWriter::new(File::create(&file).expect("create"));
    let n = 300_000usize;
    let mut bytes = 0u64;
    for i in 0..n {
        let mut r = record(i % 1000, &format!("/wp-admin/{i:x}/setup-config.php"));
        r.resp_bytes = i as u64 % 1000;
        bytes += r.resp_bytes;
        w.write_all(r.to_ndjson().as_bytes()).expect("write");
    }
    w.flush().expect("flush");
    drop(w);
    let mut a = args(&["stats", "--by", "day,route", "--format", "json", "--threads", "4"]);
    a.push(file.into_os_string());
    let (out, rss_kib) = run(&a, None, None);
    let rows = rows(&out);
    assert_eq!(requests(&rows), n as u64);
    assert!(rss_kib < 128 * 1024, "peak memory {rss_kib} KiB");
    let resp: u64 = rows.iter().map(|r| r["resp_bytes"].as_u64().expect("bytes")).sum();
    assert_eq!(resp, bytes);
    // Unmatched paths (no route template): the default cap keeps 20 000
    // groups, the rest are counted in full under (other).
    assert_eq!(rows.len(), 20_001);
    let other = rows.iter().find(|r| r["route"] == "(other)").expect("an (other) row");
    assert_eq!(other["requests"], (n as u64 - 20_000));
    assert!(
        rows.iter()
            .filter(|r| r["route"] != "(other)")
            .all(|r| r["requests"] == 1),
        "a kept path holds its one request"
    );
    assert!(
        support::cli::text(&out.stderr).contains("group cap reached (--max-unmatched-groups)"),
        "the cap is reported: {}",
        support::cli::text(&out.stderr)
    );
}

fn account_record(key: &MasterKey, i: usize, account: &str) -> Record {
    let mut r = record(i, "/rest/issues/{id}");
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

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(File::open(path).expect("open"))
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

#[test]
fn subject_export_and_erase_of_a_gzip_bomb_stay_small_and_keep_the_bomb_line() {
    let key = MasterKey::from_bytes([5; 32]);
    let dir = TempDir::new("subject-bomb");
    let jane = |i| account_record(&key, i, "557058:jane");
    let joe = |i| account_record(&key, i, "557058:joe");
    let before = ndjson([jane(0), joe(1), jane(2)]);
    let after = ndjson([joe(3), jane(4)]);
    let bomb = dir.0.join("privlog.2026-11-20.ndjson.gz");
    gzip_bomb(&bomb, &before, 256, &after);
    let expected: Vec<u8> = [ndjson([joe(1)]), vec![0u8; 256 * MIB], b"\n".to_vec(), ndjson([joe(3)])].concat();

    let mut export = args(&["subject", "export", "--account", "557058:jane"]);
    export.push(bomb.clone().into_os_string());
    let (out, rss_kib) = run(&export, None, Some(&key));
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    assert!(rss_kib < 64 * 1024, "export peak memory {rss_kib} KiB");
    assert_eq!(out.stdout, ndjson([jane(0), jane(2), jane(4)]));
    assert!(
        support::cli::text(&out.stderr).contains("1 files, 5 records, 3 exported, 1 lines that are not records"),
        "{}",
        support::cli::text(&out.stderr)
    );

    let mut erase = args(&["subject", "erase", "--account", "557058:jane"]);
    erase.push(bomb.clone().into_os_string());
    let (out, rss_kib) = run(&erase, None, Some(&key));
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    assert!(rss_kib < 64 * 1024, "erase peak memory {rss_kib} KiB");
    assert!(gunzip(&bomb) == expected, "every other line is kept byte for byte");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("5 records, 3 erased"), "{stdout}");
    assert!(stdout.contains("including 1 over-long line"), "{stdout}");
}

#[test]
fn erase_copies_a_line_longer_than_any_record_through_unchanged() {
    let key = MasterKey::from_bytes([6; 32]);
    let dir = TempDir::new("erase-long");
    let jane = |i| account_record(&key, i, "557058:jane");
    let joe = |i| account_record(&key, i, "557058:joe");
    // Not a record (far longer than one can be), though it looks like one.
    let mut long = br#"{"v":1,"note":""#.to_vec();
    long.extend(std::iter::repeat_n(b'y', 48 * MIB));
    long.extend_from_slice(b"\"}\n");
    let file = dir.0.join("privlog.2026-11-20.ndjson");
    let original = [
        ndjson([jane(0), joe(1)]),
        long.clone(),
        ndjson([jane(2), joe(3)]),
        long.clone(),
    ]
    .concat();
    std::fs::write(&file, &original).expect("write");

    let mut dry = args(&["subject", "erase", "--dry-run", "--account", "557058:jane"]);
    dry.push(file.clone().into_os_string());
    let (out, _) = run(&dry, None, Some(&key));
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    assert!(
        std::fs::read(&file).expect("read") == original,
        "a dry run changes nothing"
    );

    let mut erase = args(&["subject", "erase", "--account", "557058:jane"]);
    erase.push(file.clone().into_os_string());
    let (out, rss_kib) = run(&erase, None, Some(&key));
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    assert!(rss_kib < 40 * 1024, "peak memory {rss_kib} KiB for a 48 MiB line");
    let kept = std::fs::read(&file).expect("read");
    assert!(
        kept == [ndjson([joe(1)]), long.clone(), ndjson([joe(3)]), long].concat(),
        "the long lines are kept byte for byte"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("4 records, 2 erased, 4 other lines kept"), "{stdout}");
    assert!(stdout.contains("including 2 over-long lines"), "{stdout}");
    assert!(
        support::cli::text(&out.stderr).contains("2 lines that are not records"),
        "{}",
        support::cli::text(&out.stderr)
    );
    let leftovers = std::fs::read_dir(&dir.0).expect("dir").count();
    assert_eq!(leftovers, 1, "no temporary file is left behind");
}

#[test]
fn a_record_as_long_as_a_record_can_be_is_still_read() {
    let dir = TempDir::new("longest-record");
    // Every capped field at its cap, each byte escaped to six.
    let worst = "\u{1}".repeat(privlog::record::MAX_FIELD_LEN);
    let mut r = record(0, &worst);
    r.method = worst.clone();
    r.client = Some(worst.clone());
    r.route = Some(worst.clone());
    r.query = Some(worst.clone());
    r.proto = worst.clone();
    r.account = Some(worst.clone());
    r.tenant = Some(worst.clone());
    r.epoch = worst.clone();
    r.kid = worst;
    let line = r.to_ndjson();
    assert!(line.len() > 120_000, "{} bytes", line.len());
    assert!(line.len() <= privlog::record::MAX_LINE_LEN + 1);
    let file = dir.0.join("r.ndjson");
    std::fs::write(&file, ndjson([r, record(1, "/x")])).expect("write");
    let mut a = args(&["stats", "--by", "day", "--format", "json", "--k", "1"]);
    a.push(file.into_os_string());
    let (out, _) = run(&a, None, None);
    assert_eq!(requests(&rows(&out)), 2);
    assert!(
        !support::cli::text(&out.stderr).contains("damaged"),
        "{}",
        support::cli::text(&out.stderr)
    );
}

#[test]
fn stats_on_20_000_routes_over_64_key_periods_stays_in_bounded_memory() {
    // Every route seen under 64 keys (`kid`), one vouched account each:
    // 1 280 000 (route, key period) counts if all were kept.
    const ROUTES: usize = 20_000;
    const KIDS: usize = 64;
    let dir = TempDir::new("key-periods");
    let file = dir.0.join("records.ndjson");
    let mut w = std::io::BufWriter::new(File::create(&file).expect("create"));
    let mut r = record(0, "/r");
    r.route = Some("/r".to_owned());
    r.account_src = Some(privlog::AccountSource::App);
    for kid in 0..KIDS {
        r.kid = format!("k_{kid:08x}");
        r.account = Some(format!("acc{kid:02}"));
        for route in 0..ROUTES {
            let path = format!("/r/{route}");
            r.route = Some(path.clone());
            r.path = path;
            w.write_all(r.to_ndjson().as_bytes()).expect("write");
        }
    }
    w.flush().expect("flush");
    drop(w);
    let mut a = args(&["stats", "--by", "route", "--format", "json", "--k", "2"]);
    a.push(file.into_os_string());
    let (out, rss_kib) = run(&a, None, None);
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    assert!(rss_kib < 128 * 1024, "peak memory {rss_kib} KiB");
    // (205 MiB when every count was kept.) One account per key period: nothing reaches k = 2, every group is
    // withheld, those past the bound because they span too many key periods:
    // the one row is the withheld row, holding every request.
    let rows = rows(&out);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["withheld"], Value::Bool(true), "{rows:?}");
    assert_eq!(rows[0]["requests"].as_u64(), Some((ROUTES * KIDS) as u64), "{rows:?}");
    assert!(
        support::cli::text(&out.stderr).contains("key periods"),
        "{}",
        support::cli::text(&out.stderr)
    );
}
