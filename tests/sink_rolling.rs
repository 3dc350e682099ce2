//! The rolling file sink on a real file system: rotation, compression,
//! retention, crash leftovers, disk full and accounting through the pipeline.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use privlog::read::RecordReader;
use privlog::sink::{DropReason, Ledger, LogFile, Retention, RollingFileSink, RollingFsync, Sink, log_files};
use privlog::{MasterKey, Record};
use support::files::TempDir;
use time::OffsetDateTime;
use time::macros::datetime;
use tower::{Layer, ServiceExt};

/// A settable wall clock, in seconds since the epoch.
#[derive(Clone)]
struct Clock(Arc<AtomicI64>);

impl Clock {
    fn at(t: OffsetDateTime) -> Self {
        Clock(Arc::new(AtomicI64::new(t.unix_timestamp())))
    }
    fn set(&self, t: OffsetDateTime) {
        self.0.store(t.unix_timestamp(), Ordering::SeqCst);
    }
    fn source(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let c = self.0.clone();
        move || UNIX_EPOCH + Duration::from_secs(c.load(Ordering::SeqCst).max(0) as u64)
    }
}

fn records(n: usize, tag: &str) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let mut r = Record::new(datetime!(2026-11-22 10:00 UTC), "GET", format!("/{tag}/{i}"));
            r.status = Some(200);
            r.resp_bytes = i as u64;
            r
        })
        .collect()
}

fn read_all(paths: Vec<PathBuf>) -> (Vec<Record>, u64) {
    let mut reader = RecordReader::new(paths);
    let recs: Vec<Record> = reader.by_ref().map(|r| r.expect("readable file")).collect();
    (recs, reader.counts().skipped)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn attach(sink: &mut RollingFileSink) -> Ledger {
    let ledger = Ledger::detached("rolling");
    sink.attach(ledger.clone());
    ledger
}

fn close(sink: &mut RollingFileSink) {
    sink.close(Instant::now() + Duration::from_secs(30)).expect("close");
}

#[test]
fn rolls_over_at_utc_midnight() {
    let tmp = TempDir::new("roll-day");
    let clock = Clock::at(datetime!(2026-11-22 23:59:59 UTC));
    let mut sink = RollingFileSink::new(&tmp.0, "requests")
        .expect("sink")
        .clock(clock.source());
    let ledger = attach(&mut sink);
    sink.write(&records(3, "a")).expect("write day 1");
    clock.set(datetime!(2026-11-23 00:00:00 UTC));
    sink.write(&records(2, "b")).expect("write day 2");
    close(&mut sink);

    assert_eq!(
        names(&tmp.0),
        ["requests.2026-11-22.0000.ndjson", "requests.2026-11-23.0000.ndjson"]
    );
    let (day1, _) = read_all(vec![tmp.0.join("requests.2026-11-22.0000.ndjson")]);
    let (day2, _) = read_all(vec![tmp.0.join("requests.2026-11-23.0000.ndjson")]);
    assert_eq!(day1, records(3, "a"));
    assert_eq!(day2, records(2, "b"));
    let stats = ledger.stats();
    assert_eq!(stats.delivered, 5);
    assert_eq!(stats.dropped_total(), 0);
}

#[test]
fn rolls_over_by_size_without_splitting_lines() {
    let tmp = TempDir::new("roll-size");
    let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
    let line_len = records(1, "s")[0].to_ndjson().len() as u64;
    let max = line_len * 4 + 10;
    let mut sink = RollingFileSink::new(&tmp.0, "r")
        .expect("sink")
        .clock(clock.source())
        .max_file_size(max);
    let ledger = attach(&mut sink);
    let all = records(37, "s");
    for chunk in all.chunks(5) {
        sink.write(chunk).expect("write");
    }
    close(&mut sink);

    let files = log_files(&tmp.0, Some("r")).expect("list");
    assert_eq!(files.len(), 10, "{:?}", names(&tmp.0));
    for (i, f) in files.iter().enumerate() {
        assert_eq!(f.seq, i as u32);
        let len = std::fs::metadata(&f.path).expect("meta").len();
        assert!(len <= max, "{} is {len} bytes, limit {max}", f.path.display());
    }
    let (back, skipped) = read_all(files.into_iter().map(|f| f.path).collect());
    assert_eq!(skipped, 0);
    assert_eq!(back, all);
    assert_eq!(ledger.stats().delivered, 37);
}

#[test]
fn record_larger_than_the_size_limit_gets_a_file_of_its_own() {
    let tmp = TempDir::new("roll-big");
    let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
    let mut sink = RollingFileSink::new(&tmp.0, "r")
        .expect("sink")
        .clock(clock.source())
        .max_file_size(10);
    attach(&mut sink);
    sink.write(&records(3, "big")).expect("write");
    close(&mut sink);
    let files = log_files(&tmp.0, Some("r")).expect("list");
    assert_eq!(files.len(), 3);
    let (back, _) = read_all(files.into_iter().map(|f| f.path).collect());
    assert_eq!(back, records(3, "big"));
}

#[test]
fn compresses_closed_files_and_leaves_the_open_one_plain() {
    let tmp = TempDir::new("gzip");
    let clock = Clock::at(datetime!(2026-11-20 12:00 UTC));
    let mut sink = RollingFileSink::new(&tmp.0, "r")
        .expect("sink")
        .clock(clock.source())
        .compress(true);
    attach(&mut sink);
    let mut expected = Vec::new();
    for (day, t) in [
        datetime!(2026-11-20 12:00 UTC),
        datetime!(2026-11-21 12:00 UTC),
        datetime!(2026-11-22 12:00 UTC),
    ]
    .into_iter()
    .enumerate()
    {
        clock.set(t);
        let batch = records(4, &format!("d{day}"));
        sink.write(&batch).expect("write");
        expected.extend(batch);
    }
    close(&mut sink);

    assert_eq!(
        names(&tmp.0),
        [
            "r.2026-11-20.0000.ndjson.gz",
            "r.2026-11-21.0000.ndjson.gz",
            "r.2026-11-22.0000.ndjson"
        ]
    );
    let paths = log_files(&tmp.0, Some("r"))
        .expect("list")
        .into_iter()
        .map(|f| f.path)
        .collect();
    let (back, skipped) = read_all(paths);
    assert_eq!(skipped, 0);
    assert_eq!(back, expected);
}

#[test]
fn leftovers_of_a_crash_during_compression_are_cleaned_up_on_start() {
    let tmp = TempDir::new("gzip-crash");
    let day1 = tmp.0.join("r.2026-11-20.0000.ndjson");
    std::fs::write(
        &day1,
        records(2, "old").iter().map(Record::to_ndjson).collect::<String>(),
    )
    .expect("write");
    std::fs::write(tmp.0.join("r.2026-11-20.0000.ndjson.gz.tmp"), b"\x1f\x8b half").expect("write");
    let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
    let mut sink = RollingFileSink::new(&tmp.0, "r")
        .expect("sink")
        .clock(clock.source())
        .compress(true);
    attach(&mut sink);
    sink.write(&records(1, "new")).expect("write");
    close(&mut sink);
    assert_eq!(
        names(&tmp.0),
        ["r.2026-11-20.0000.ndjson.gz", "r.2026-11-22.0000.ndjson"]
    );
    let (back, _) = read_all(vec![tmp.0.join("r.2026-11-20.0000.ndjson.gz")]);
    assert_eq!(back, records(2, "old"));
}

#[test]
fn retention_by_age_deletes_only_old_files_of_its_own_pattern() {
    let tmp = TempDir::new("retention");
    // With 30 days, on 2026-11-22 the oldest day kept is 2026-10-23.
    for day in ["2026-10-01", "2026-10-22", "2026-10-23", "2026-11-01"] {
        std::fs::write(tmp.0.join(format!("r.{day}.0000.ndjson")), "").expect("write");
    }
    std::fs::write(tmp.0.join("other.2026-10-01.0000.ndjson"), "").expect("write");
    std::fs::write(tmp.0.join("r.2026-10-01.ndjson"), "").expect("write");
    std::fs::write(tmp.0.join("notes.txt"), "").expect("write");
    let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
    let mut sink = RollingFileSink::new(&tmp.0, "r")
        .expect("sink")
        .clock(clock.source())
        .retention(Retention::keep_all().max_age(Duration::from_secs(30 * 86_400)));
    attach(&mut sink);
    sink.write(&records(1, "x")).expect("write");
    close(&mut sink);
    assert_eq!(
        names(&tmp.0),
        [
            "notes.txt",
            "other.2026-10-01.0000.ndjson",
            "r.2026-10-01.ndjson",
            "r.2026-10-23.0000.ndjson",
            "r.2026-11-01.0000.ndjson",
            "r.2026-11-22.0000.ndjson"
        ]
    );
}

#[test]
fn retention_by_count_never_deletes_the_open_file() {
    let tmp = TempDir::new("retention-count");
    let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
    let mut sink = RollingFileSink::new(&tmp.0, "r")
        .expect("sink")
        .clock(clock.source())
        .max_file_size(1)
        .retention(Retention::keep_all().max_files(2));
    attach(&mut sink);
    for _ in 0..5 {
        sink.write(&records(1, "x")).expect("write");
        assert!(sink.current_file().is_some_and(Path::exists));
    }
    close(&mut sink);
    assert_eq!(names(&tmp.0), ["r.2026-11-22.0003.ndjson", "r.2026-11-22.0004.ndjson"]);
}

#[test]
fn restart_appends_to_todays_file_after_ending_a_torn_line() {
    let tmp = TempDir::new("torn");
    let path = tmp.0.join("r.2026-11-22.0000.ndjson");
    let before = records(2, "before");
    let mut content: String = before.iter().map(Record::to_ndjson).collect();
    let torn = records(1, "torn")[0].to_ndjson();
    content.push_str(&torn[..torn.len() / 2]);
    std::fs::write(&path, content).expect("write");

    let clock = Clock::at(datetime!(2026-11-22 13:00 UTC));
    let mut sink = RollingFileSink::new(&tmp.0, "r").expect("sink").clock(clock.source());
    attach(&mut sink);
    sink.write(&records(3, "after")).expect("write");
    close(&mut sink);

    assert_eq!(names(&tmp.0), ["r.2026-11-22.0000.ndjson"]);
    let (back, skipped) = read_all(vec![path]);
    assert_eq!(skipped, 1, "only the torn line is damaged");
    let mut expected = before;
    expected.extend(records(3, "after"));
    assert_eq!(back, expected);
}

#[test]
fn invalid_prefix_is_refused_with_the_fix() {
    let tmp = TempDir::new("prefix");
    let err = RollingFileSink::new(&tmp.0, "a/b").expect_err("separator refused");
    assert!(err.to_string().contains("\"a/b\""), "{err}");
    assert!(err.to_string().contains("no path separators"), "{err}");
}

#[test]
fn every_batch_fsync_counts_records_once_synced() {
    let tmp = TempDir::new("fsync");
    let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
    let mut sink = RollingFileSink::new(&tmp.0, "r")
        .expect("sink")
        .clock(clock.source())
        .fsync(RollingFsync::EveryBatch);
    let ledger = attach(&mut sink);
    sink.write(&records(7, "x")).expect("write");
    let stats = ledger.stats();
    assert_eq!(stats.delivered, 7);
    close(&mut sink);
    assert_eq!(ledger.stats().delivered, 7);
}

/// Runs `n` requests through a service wrapped in privlog's layer and
/// returns the shutdown report.
fn serve_requests(sink: RollingFileSink, n: usize) -> privlog::ShutdownReport {
    let (layer, guard) = privlog::builder()
        .key(MasterKey::from_bytes([7; 32]))
        .sink(sink)
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
        for i in 0..n {
            let req = http::Request::get(format!("/items/{i}"))
                .body(Full::new(Bytes::new()))
                .expect("request");
            let resp = svc.clone().oneshot(req).await.expect("infallible");
            assert_eq!(resp.status(), 200);
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            assert_eq!(&body[..], b"ok", "the response is unaffected by logging");
        }
    });
    guard.shutdown_within(Duration::from_secs(30))
}

#[test]
fn every_request_is_accounted_for_after_shutdown() {
    let tmp = TempDir::new("pipeline");
    let sink = RollingFileSink::new(&tmp.0, "requests")
        .expect("sink")
        .max_file_size(2_000)
        .fsync(RollingFsync::EveryBatch)
        .compress(true);
    let report = serve_requests(sink, 120);
    assert!(report.complete);
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    let s = &report.stats.sinks[0];
    assert_eq!((s.received, s.delivered, s.dropped_total()), (120, 120, 0));
    let paths = log_files(&tmp.0, Some("requests"))
        .expect("list")
        .into_iter()
        .map(|f| f.path)
        .collect();
    let (back, skipped) = read_all(paths);
    assert_eq!((back.len(), skipped), (120, 0));
}

#[cfg(target_os = "linux")]
#[test]
fn disk_full_drops_are_counted_and_requests_still_complete() {
    let tmp = TempDir::new("disk-full");
    let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
    // The day's file is /dev/full: every write fails with "no space left on device".
    let name = LogFile::file_name("requests", datetime!(2026-11-22 12:00 UTC).date(), 0, false);
    std::os::unix::fs::symlink("/dev/full", tmp.0.join(name)).expect("symlink");
    let sink = RollingFileSink::new(&tmp.0, "requests")
        .expect("sink")
        .clock(clock.source());
    let warnings = Captured::global();
    let report = serve_requests(sink, 25);
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    let s = &report.stats.sinks[0];
    assert_eq!(s.received, 25);
    assert_eq!(s.delivered, 0);
    assert_eq!(s.dropped_for(DropReason::Other("disk_full")), 25, "{s:?}");
    // The operator is told, through tracing, which file and what to do.
    let warnings = warnings.text();
    assert!(warnings.contains("privlog sink write failed"), "{warnings}");
    assert!(
        warnings.contains(&format!("cannot write log file {}", tmp.0.display())),
        "{warnings}"
    );
    assert!(warnings.contains("free disk space"), "{warnings}");
}

/// Everything logged through `tracing` by this test binary.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The global subscriber's capture (installed on first use).
    fn global() -> Captured {
        static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        CAPTURED
            .get_or_init(|| {
                let c = Captured::default();
                let w = c.clone();
                tracing_subscriber::fmt()
                    .with_writer(move || w.clone())
                    .with_ansi(false)
                    .init();
                c
            })
            .clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// A 64 KiB tmpfs mounted for one test, unmounted on drop.
#[cfg(target_os = "linux")]
struct TinyDisk(TempDir);

#[cfg(target_os = "linux")]
impl TinyDisk {
    fn mount() -> Self {
        let tmp = TempDir::new("tiny-disk");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&tmp.0)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a 64 KiB tmpfs to fill a real disk and needs root (CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TinyDisk(tmp)
    }
}

#[cfg(target_os = "linux")]
impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0.0).status();
    }
}

#[cfg(target_os = "linux")]
#[test]
fn full_disk_keeps_whole_lines_and_counts_every_lost_record() {
    let disk = TinyDisk::mount();
    let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
    let mut sink = RollingFileSink::new(&disk.0.0, "r")
        .expect("sink")
        .clock(clock.source());
    let ledger = attach(&mut sink);
    let all = records(2_000, "fill");
    let mut errors = 0;
    for batch in all.chunks(100) {
        if let Err(e) = sink.write(batch) {
            errors += 1;
            assert!(e.to_string().contains("free disk space"), "{e}");
        }
    }
    close(&mut sink);
    let s = ledger.stats();
    assert!(errors > 0);
    assert!(s.delivered > 0 && s.delivered < 2_000, "{s:?}");
    assert_eq!(
        s.delivered + s.dropped_for(DropReason::Other("disk_full")),
        2_000,
        "{s:?}"
    );
    let (back, skipped) = read_all(
        log_files(&disk.0.0, Some("r"))
            .expect("list")
            .into_iter()
            .map(|f| f.path)
            .collect(),
    );
    assert_eq!(skipped, 0, "the line cut by the full disk was removed");
    assert_eq!(back.len() as u64, s.delivered);
    assert_eq!(back[..], all[..back.len()]);
}

#[test]
fn a_log_directory_removed_while_writing_is_made_again() {
    let tmp = TempDir::new("dir-removed");
    let dir = tmp.0.join("logs");
    let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
    let mut sink = RollingFileSink::new(&dir, "r").expect("sink").clock(clock.source());
    let ledger = attach(&mut sink);
    sink.write(&records(1, "a")).expect("write");
    // Removed on the same day, while its file is open.
    std::fs::remove_dir_all(&dir).expect("remove");
    sink.write(&records(2, "b")).expect("write after removal");
    close(&mut sink);
    let (back, _) = read_all(vec![dir.join("r.2026-11-22.0000.ndjson")]);
    assert_eq!(back, records(2, "b"));
    assert_eq!(ledger.stats().delivered, 3);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]

    /// A crash can cut the file at any byte; the file then holds a whole-record
    /// prefix plus at most one damaged line, and a restarted sink appends after it.
    #[test]
    fn a_crash_at_any_byte_damages_at_most_one_line(
        sizes in proptest::collection::vec(1..20usize, 1..6),
        cut in 0.0..1.0f64,
    ) {
        let tmp = TempDir::new("crash");
        let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
        let mut sink = RollingFileSink::new(&tmp.0, "r").expect("sink").clock(clock.source());
        attach(&mut sink);
        let mut written = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let batch = records(*n, &format!("b{i}"));
            sink.write(&batch).expect("write");
            written.extend(batch);
        }
        drop(sink);
        let path = tmp.0.join("r.2026-11-22.0000.ndjson");
        let len = std::fs::metadata(&path).expect("meta").len();
        let at = (len as f64 * cut) as u64;
        std::fs::OpenOptions::new().write(true).open(&path).expect("open").set_len(at).expect("cut");

        let mut sink = RollingFileSink::new(&tmp.0, "r").expect("sink").clock(clock.source());
        attach(&mut sink);
        sink.write(&records(3, "after")).expect("write after restart");
        close(&mut sink);

        let (back, skipped) = read_all(vec![path]);
        proptest::prop_assert!(skipped <= 1);
        let survivors = back.len() - 3;
        proptest::prop_assert_eq!(&back[..survivors], &written[..survivors]);
        proptest::prop_assert_eq!(&back[survivors..], &records(3, "after")[..]);
    }
}

#[test]
fn a_file_replaced_under_the_sink_is_followed_and_later_records_land_in_it() {
    let tmp = TempDir::new("replaced");
    let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
    let mut sink = RollingFileSink::new(&tmp.0, "r").expect("sink").clock(clock.source());
    let ledger = attach(&mut sink);
    sink.write(&records(5, "a")).expect("write");
    // An in-place rewrite (what `subject erase`, `sed -i` or an editor do):
    // a new file renamed over the one the sink has open.
    let path = tmp.0.join("r.2026-11-22.0000.ndjson");
    let text = std::fs::read_to_string(&path).expect("read");
    let kept: String = text.split_inclusive('\n').skip(2).collect();
    std::fs::write(tmp.0.join("copy"), kept).expect("write copy");
    std::fs::rename(tmp.0.join("copy"), &path).expect("rename");
    sink.write(&records(4, "b")).expect("write after the rewrite");
    close(&mut sink);
    let (back, skipped) = read_all(vec![path]);
    assert_eq!(skipped, 0);
    let mut expected = records(5, "a")[2..].to_vec();
    expected.extend(records(4, "b"));
    assert_eq!(back, expected, "the later records are in the file at the path");
    assert_eq!(ledger.stats().delivered, 9);
}

/// Set for a child process that runs one test under a file-size limit.
const CHILD_DIR: &str = "PRIVLOG_TEST_FSIZE_DIR";

#[test]
fn under_a_file_size_limit_the_sink_starts_new_files_and_drops_only_records_too_long_for_any() {
    const NAME: &str = "under_a_file_size_limit_the_sink_starts_new_files_and_drops_only_records_too_long_for_any";
    let mut all = records(60, "x");
    // Longer than any file may be under `ulimit -f 2` (2048 bytes).
    all[30].path = format!("/{}", "a".repeat(2000));
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        // The child, running under the limit.
        let clock = Clock::at(datetime!(2026-11-22 12:00 UTC));
        let mut sink = RollingFileSink::new(PathBuf::from(dir), "r")
            .expect("sink")
            .clock(clock.source())
            .max_file_size(1 << 20);
        let ledger = attach(&mut sink);
        let e = sink.write(&all[..40]).expect_err("the over-long record is reported");
        assert!(
            e.to_string().contains("file-size limit of 2048 bytes") && e.to_string().contains("ulimit -f"),
            "names the limit and the fix: {e}"
        );
        sink.write(&all[40..]).expect("the rest fits in files under the limit");
        close(&mut sink);
        let s = ledger.stats();
        println!(
            "STATS {} {} {}",
            s.delivered,
            s.dropped_for(DropReason::Other("file_size_limit")),
            s.dropped_total()
        );
        return;
    }
    let tmp = TempDir::new("fsize");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg("ulimit -f 2 && exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().expect("test binary"))
        .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
        .env(CHILD_DIR, &tmp.0)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the child survives the limit (not killed by SIGXFSZ): {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: Vec<u64> = stdout
        .split("STATS ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("the child's counts: {stdout}"))
        .split(' ')
        .map(|n| n.parse().expect("count"))
        .collect();
    let (delivered, too_long, dropped) = (stats[0], stats[1], stats[2]);
    assert_eq!(
        (delivered, too_long, dropped),
        (59, 1, 1),
        "only the over-long record is dropped"
    );
    let files: Vec<PathBuf> = log_files(&tmp.0, Some("r"))
        .expect("list")
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert!(files.len() > 1, "the limit started new files: {:?}", names(&tmp.0));
    for f in &files {
        let len = std::fs::metadata(f).expect("meta").len();
        assert!(len <= 2048, "{} holds {len} bytes", f.display());
    }
    let (back, skipped) = read_all(files);
    assert_eq!(skipped, 0, "every line is whole");
    let mut expected = all;
    expected.remove(30);
    assert_eq!(back, expected);
}

#[test]
fn compression_waits_for_a_rewriters_lock_and_compresses_its_copy() {
    let tmp = TempDir::new("gzip-erase");
    let clock = Clock::at(datetime!(2026-11-20 12:00 UTC));
    let mut sink = RollingFileSink::new(&tmp.0, "r")
        .expect("sink")
        .clock(clock.source())
        .compress(true);
    attach(&mut sink);
    sink.write(&records(6, "d0")).expect("write");
    // A rewriter (`subject erase`) is in its last step on yesterday's file
    // when the day ends and compression starts.
    let day0 = tmp.0.join("r.2026-11-20.0000.ndjson");
    let old = std::fs::File::open(&day0).expect("open");
    old.lock().expect("exclusive lock");
    clock.set(datetime!(2026-11-21 12:00 UTC));
    sink.write(&records(2, "d1")).expect("write");
    // Give compression time to reach the file (it must wait for the lock;
    // the outcome does not depend on how far it got).
    std::thread::sleep(Duration::from_millis(200));
    let kept: String = records(6, "d0")[3..].iter().map(Record::to_ndjson).collect();
    std::fs::write(tmp.0.join("copy"), kept).expect("write copy");
    std::fs::rename(tmp.0.join("copy"), &day0).expect("rename");
    old.unlock().expect("unlock");
    close(&mut sink);

    assert_eq!(
        names(&tmp.0),
        ["r.2026-11-20.0000.ndjson.gz", "r.2026-11-21.0000.ndjson"]
    );
    let (back, skipped) = read_all(vec![tmp.0.join("r.2026-11-20.0000.ndjson.gz")]);
    assert_eq!(skipped, 0);
    assert_eq!(
        back,
        records(6, "d0")[3..].to_vec(),
        "the rewritten copy is what was compressed"
    );
}
