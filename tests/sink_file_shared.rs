//! Log files shared between running sinks and the operator tools, over real
//! processes, files and links: `privlog subject erase` run as root on a
//! file a service writes as another user, through a symbolic link, on a
//! file with a second name, killed half-way; `subject export` given a FIFO;
//! erase over a rolling directory that is compressing; and a file-size
//! limit lowered from outside on a running sink.
//!
//! A sink "service" here is this test binary run again as a child process
//! (under another user with `setpriv`, or with its limit lowered by
//! `prlimit --pid`; both from util-linux), driven over its standard input.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod support;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime};

use privlog::sink::{DropReason, FileSink, Ledger, RollingFileSink, Sink, WriterSink};
use privlog::{MasterKey, Pseudonymizer, Purpose, Record, Rotation};
use support::cli::text;
use support::files::TempDir;
use time::macros::datetime;

/// The user and group the "service" runs as (`nobody`, `nogroup`).
const SERVICE_ID: u32 = 65534;

const JANE: &str = "557058:jane";
const JOE: &str = "557058:joe";

fn key() -> MasterKey {
    MasterKey::from_bytes([7; 32])
}

/// Record `i` of `account`.
fn record(i: usize, account: &str) -> Record {
    let ts = datetime!(2026-11-20 10:00 UTC) + time::Duration::seconds(i as i64);
    let epoch = Rotation::Monthly.epoch_of(ts);
    let mut r = Record::new(ts, "GET", format!("/r/{i}"));
    r.status = Some(200);
    r.account = Some(
        Pseudonymizer::new(&key())
            .pseudonym(Purpose::Account, &epoch, account)
            .into_string(),
    );
    r.epoch = epoch.as_str().to_owned();
    r.kid = key().id().as_str().to_owned();
    r
}

fn ndjson(records: &[Record]) -> Vec<u8> {
    records.iter().flat_map(|r| r.to_ndjson().into_bytes()).collect()
}

/// The accounts' pseudonyms (`jane` or `joe`) of the records in the plain
/// or gzip NDJSON `bytes`; every line must be a whole record.
fn owners(bytes: &[u8]) -> Vec<&'static str> {
    let mut text = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut text).unwrap();
    } else {
        text = bytes.to_vec();
    }
    let epoch = Rotation::Monthly.epoch_of(datetime!(2026-11-20 10:00 UTC));
    let p = |a: &str| {
        Pseudonymizer::new(&key())
            .pseudonym(Purpose::Account, &epoch, a)
            .into_string()
    };
    let (jane, joe) = (p(JANE), p(JOE));
    String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|l| {
            let r = privlog::record::parse_line(l.as_bytes()).expect("a whole record");
            match r.account.as_deref() {
                Some(a) if a == jane => "jane",
                Some(a) if a == joe => "joe",
                other => panic!("unexpected account {other:?}"),
            }
        })
        .collect()
}

fn count(owners: &[&str], who: &str) -> usize {
    owners.iter().filter(|o| **o == who).count()
}

/// `privlog ARGS` with the test key in `PRIVLOG_KEY`, run through `prefix`
/// (e.g. `setpriv …`) when not empty.
fn privlog(prefix: &[&str], args: &[&OsStr]) -> Output {
    let mut cmd = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(support::cli::bin());
            c
        }
        None => Command::new(support::cli::bin()),
    };
    cmd.args(args)
        .env("PRIVLOG_KEY", key().to_hex().as_str())
        .output()
        .expect("run privlog")
}

fn erase(prefix: &[&str], account: &str, files: &[&Path]) -> Output {
    let mut args: Vec<&OsStr> = vec![
        "subject".as_ref(),
        "erase".as_ref(),
        "--account".as_ref(),
        account.as_ref(),
    ];
    args.extend(files.iter().map(|f| f.as_os_str()));
    privlog(prefix, &args)
}

/// `setpriv` arguments that run a command as the service's user and group.
fn as_service() -> Vec<&'static str> {
    vec!["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
}

fn require_root(what: &str) {
    let out = Command::new("id").arg("-u").output().expect("run id");
    assert_eq!(
        text(&out.stdout).trim(),
        "0",
        "{what} needs root (to run the service as another user, or to change another process's limits)"
    );
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

/// Hidden entries (`.{name}.erase.tmp` and the like) in `dir`.
fn hidden(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with('.'))
        .collect()
}

// ---------------------------------------------------------------------------
// A sink in a child process.

/// Set in a child: `file:PATH`, `rolling:DIR` or `stdout:`, the sink it runs.
const CHILD_SINK: &str = "PRIVLOG_TEST_CHILD_SINK";

/// Run at the start of each test that starts a sink child: in the child,
/// serves its standard input and returns true (the test then returns).
///
/// Commands, one a line: `write N ACCOUNT` writes one batch of N records of
/// the account; `quit` closes the sink and ends the process (before the
/// test harness writes to standard output, which may be the sink's file).
/// After each it prints `COUNTS delivered dropped file_size_limit
/// sink_error` on standard error.
fn serve_as_child() -> bool {
    let Some(spec) = std::env::var_os(CHILD_SINK) else {
        return false;
    };
    let spec = spec.into_string().unwrap();
    let ledger = Ledger::detached("child");
    let mut sink: Box<dyn Sink> = match spec.split_once(':') {
        Some(("file", path)) => Box::new(FileSink::open(path).unwrap()),
        Some(("rolling", dir)) => Box::new(
            RollingFileSink::new(dir, "r")
                .unwrap()
                .clock(|| SystemTime::from(datetime!(2026-11-20 12:00 UTC))),
        ),
        Some(("stdout", _)) => Box::new(WriterSink::stdout()),
        _ => panic!("unknown sink {spec}"),
    };
    sink.attach(ledger.clone());
    let report = |ledger: &Ledger| {
        let s = ledger.stats();
        eprintln!(
            "COUNTS {} {} {} {}",
            s.delivered,
            s.dropped_total(),
            s.dropped_for(DropReason::Other("file_size_limit")),
            s.dropped_for(DropReason::SinkError)
        );
    };
    let mut next = 0;
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split(' ').collect();
        match words[..] {
            ["write", n, account] => {
                let n: usize = n.parse().unwrap();
                let batch: Vec<Record> = (next..next + n).map(|i| record(i, account)).collect();
                next += n;
                if let Err(e) = sink.write(&batch) {
                    eprintln!("sink error: {e}");
                }
                report(&ledger);
            }
            ["quit"] => {
                let _ = sink.close(Instant::now() + Duration::from_secs(10));
                report(&ledger);
                std::process::exit(0);
            }
            _ => panic!("unknown command {line}"),
        }
    }
    true
}

/// What a sink child counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    delivered: u64,
    dropped: u64,
    too_large: u64,
    sink_error: u64,
}

struct SinkChild {
    child: Child,
    stdin: ChildStdin,
    /// The lines of its standard error, read by a thread of their own.
    stderr: mpsc::Receiver<String>,
    /// Those lines that were not counts.
    said: String,
}

impl SinkChild {
    /// Runs test `test` of this binary again as a sink child for `spec`,
    /// through `prefix` (e.g. `setpriv …`) when not empty.
    fn start(test: &str, spec: &str, prefix: &[&str]) -> SinkChild {
        SinkChild::start_to(test, spec, prefix, Stdio::null())
    }

    /// [`SinkChild::start`] with standard output sent to `stdout`.
    fn start_to(test: &str, spec: &str, prefix: &[&str], stdout: impl Into<Stdio>) -> SinkChild {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let mut child = cmd
            .args(["--exact", test, "--nocapture", "--quiet", "--test-threads", "1"])
            .env(CHILD_SINK, spec)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the sink child");
        let stdin = child.stdin.take().unwrap();
        let err: ChildStderr = child.stderr.take().unwrap();
        let (tx, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        SinkChild {
            child,
            stdin,
            stderr,
            said: String::new(),
        }
    }

    /// Sends `command`; the counts after it, or `None` when the child died.
    fn send(&mut self, command: &str) -> Option<Counts> {
        writeln!(self.stdin, "{command}").ok()?;
        self.stdin.flush().ok()?;
        loop {
            let line = match self.stderr.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("the sink child did not answer {command:?}"),
            };
            if let Some(rest) = line.trim_end().strip_prefix("COUNTS ") {
                let n: Vec<u64> = rest.split(' ').map(|w| w.parse().unwrap()).collect();
                return Some(Counts {
                    delivered: n[0],
                    dropped: n[1],
                    too_large: n[2],
                    sink_error: n[3],
                });
            }
            self.said.push_str(&line);
            self.said.push('\n');
        }
    }

    fn write(&mut self, n: usize, account: &str) -> Counts {
        match self.send(&format!("write {n} {account}")) {
            Some(c) => c,
            None => {
                let (status, stderr) = self.end();
                panic!("the sink child died: {status}\n{stderr}")
            }
        }
    }

    /// Closes the sink; its exit status, last counts and standard error.
    fn quit(mut self) -> (ExitStatus, Option<Counts>, String) {
        let counts = self.send("quit");
        let (status, stderr) = self.end();
        (status, counts, stderr)
    }

    fn end(&mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(10)) {
            self.said.push_str(&line);
            self.said.push('\n');
        }
        (status, std::mem::take(&mut self.said))
    }
}

impl Drop for SinkChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// 1. Owner and group.

/// A service running as `nobody` writes `own/…` (file or rolling sink);
/// root erases one account in it; the service must go on writing.
fn erase_as_root_keeps_the_service_writing(test: &str, rolling: bool) {
    require_root("this test");
    let tmp = TempDir::new("owner");
    let own = tmp.0.join("own");
    fs::create_dir(&own).unwrap();
    chown(&own, SERVICE_ID, SERVICE_ID);
    let (spec, log) = if rolling {
        (
            format!("rolling:{}", own.display()),
            own.join("r.2026-11-20.0000.ndjson"),
        )
    } else {
        let log = own.join("req.ndjson");
        (format!("file:{}", log.display()), log)
    };
    let mut service = SinkChild::start(test, &spec, &as_service());
    service.write(5, JANE);
    let before = service.write(5, JOE);
    assert_eq!(before.delivered, 10);
    let meta = fs::metadata(&log).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (SERVICE_ID, SERVICE_ID),
        "the service made it"
    );
    let mode = meta.permissions().mode();

    let out = erase(&[], JANE, &[&log]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("5 erased"), "{}", text(&out.stdout));
    let after = fs::metadata(&log).unwrap();
    assert_eq!(
        (after.uid(), after.gid(), after.permissions().mode()),
        (SERVICE_ID, SERVICE_ID, mode),
        "the rewritten file keeps the owner, group and mode the service gave it"
    );

    // Every later record lands in the file.
    let later = service.write(7, JOE);
    assert_eq!(
        (later.delivered, later.dropped),
        (17, 0),
        "the service still writes the file"
    );
    let (status, _, stderr) = service.quit();
    assert!(status.success(), "{stderr}");
    let on_disk = owners(&fs::read(&log).unwrap());
    assert_eq!((count(&on_disk, "jane"), count(&on_disk, "joe")), (0, 12));
    assert!(hidden(&own).is_empty(), "no temporary copy left: {:?}", hidden(&own));
}

#[test]
fn erase_as_root_keeps_owner_and_mode_so_a_file_sink_run_by_another_user_goes_on_writing() {
    const NAME: &str = "erase_as_root_keeps_owner_and_mode_so_a_file_sink_run_by_another_user_goes_on_writing";
    if serve_as_child() {
        return;
    }
    erase_as_root_keeps_the_service_writing(NAME, false);
}

#[test]
fn erase_as_root_keeps_owner_and_mode_so_a_rolling_sink_run_by_another_user_goes_on_writing() {
    const NAME: &str = "erase_as_root_keeps_owner_and_mode_so_a_rolling_sink_run_by_another_user_goes_on_writing";
    if serve_as_child() {
        return;
    }
    erase_as_root_keeps_the_service_writing(NAME, true);
}

#[test]
fn erase_by_a_user_who_cannot_keep_the_owner_is_refused_and_the_file_unchanged() {
    require_root("this test");
    let tmp = TempDir::new("not-owner");
    fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o777)).unwrap();
    let log = tmp.0.join("req.ndjson");
    let content = ndjson(&[record(0, JANE), record(1, JOE)]);
    fs::write(&log, &content).unwrap();
    // Root's file, which anyone may write: `nobody` can rewrite it, but not
    // give the copy back to root.
    fs::set_permissions(&log, fs::Permissions::from_mode(0o666)).unwrap();

    let out = erase(&as_service(), JANE, &[&log]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "refused: {stderr}\n{}", text(&out.stdout));
    assert!(
        stderr.contains("owner and group (uid 0, gid 0)") && stderr.contains("Run the erase as root"),
        "names the problem and the fix: {stderr}"
    );
    assert_eq!(fs::read(&log).unwrap(), content, "unchanged");
    let meta = fs::metadata(&log).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    assert!(
        hidden(&tmp.0).is_empty(),
        "no temporary copy left: {:?}",
        hidden(&tmp.0)
    );
}

// ---------------------------------------------------------------------------
// 2. Symbolic links; 4. hard links.

#[test]
fn erase_through_a_symbolic_link_rewrites_the_file_it_points_to_and_keeps_the_link() {
    let tmp = TempDir::new("symlink");
    let (real, sym) = (tmp.0.join("real"), tmp.0.join("sym"));
    fs::create_dir(&real).unwrap();
    fs::create_dir(&sym).unwrap();
    let file = real.join("req.ndjson");
    fs::write(&file, ndjson(&[record(0, JANE), record(1, JOE), record(2, JANE)])).unwrap();
    let link = sym.join("current.ndjson");
    std::os::unix::fs::symlink("../real/req.ndjson", &link).unwrap();

    let out = erase(&[], JANE, &[&link]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let real_abs = fs::canonicalize(&file).unwrap();
    assert!(
        stdout.contains(&format!("{} (read as {})", link.display(), real_abs.display()))
            && stdout.contains("2 erased")
            && stdout.contains("(rewritten)"),
        "says which file was rewritten: {stdout}"
    );
    assert!(
        fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
        "still a link"
    );
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("../real/req.ndjson"));
    assert_eq!(
        owners(&fs::read(&file).unwrap()),
        ["joe"],
        "the records are gone from the real file"
    );
    assert!(hidden(&real).is_empty() && hidden(&sym).is_empty());
}

#[test]
fn erase_refuses_a_file_with_another_name_and_leaves_both_unchanged() {
    let tmp = TempDir::new("hardlink");
    let file = tmp.0.join("req.ndjson");
    let content = ndjson(&[record(0, JANE), record(1, JOE)]);
    fs::write(&file, &content).unwrap();
    let backup = tmp.0.join("backup.ndjson");
    fs::hard_link(&file, &backup).unwrap();

    for dry in [true, false] {
        let mut args: Vec<&OsStr> = vec![
            "subject".as_ref(),
            "erase".as_ref(),
            "--account".as_ref(),
            JANE.as_ref(),
        ];
        if dry {
            args.push("--dry-run".as_ref());
        }
        args.push(file.as_os_str());
        let out = privlog(&[], &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "refused (dry run {dry}): {stderr}");
        assert!(
            stderr.contains("1 other name(s) (hard links)") && stderr.contains("-samefile"),
            "names the problem and how to find the other names: {stderr}"
        );
    }
    assert_eq!(fs::read(&file).unwrap(), content);
    assert_eq!(fs::read(&backup).unwrap(), content);
    assert_eq!(fs::metadata(&file).unwrap().nlink(), 2, "still one file with two names");

    // Once the copy's name is gone, the erase goes through.
    fs::remove_file(&backup).unwrap();
    let out = erase(&[], JANE, &[&file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(owners(&fs::read(&file).unwrap()), ["joe"]);
}

// ---------------------------------------------------------------------------
// 3. An erase killed half-way.

/// Starts an erase of `account` in `file` while this process holds a shared
/// lock on it (a sink appending), so the erase makes its copy and then
/// waits; returns the running erase and its temporary copy's path once the
/// copy exists.
fn erase_waiting_on_a_lock(file: &Path) -> (Child, PathBuf, File) {
    let holder = File::open(file).unwrap();
    holder.lock_shared().unwrap();
    let child = Command::new(support::cli::bin())
        .args(["subject", "erase", "--account", JANE])
        .arg(file)
        .env("PRIVLOG_KEY", key().to_hex().as_str())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    let temp = file.with_file_name(format!(".{name}.erase.tmp"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !temp.exists() {
        assert!(
            Instant::now() < deadline,
            "no temporary copy {} appeared: {:?}",
            temp.display(),
            hidden(file.parent().unwrap())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, temp, holder)
}

/// Kills `child` with SIGTERM and waits for it.
fn terminate(mut child: Child) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(!exit.success(), "the erase was killed");
}

/// A file of jane's and joe's records with mode `mode`.
fn private_log(path: &Path, mode: u32) {
    let records: Vec<Record> = (0..40)
        .map(|i| record(i, if i % 2 == 0 { JANE } else { JOE }))
        .collect();
    fs::write(path, ndjson(&records)).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_killed_erase_leaves_only_a_private_copy_which_the_next_erase_removes() {
    let tmp = TempDir::new("killed-erase");
    let file = tmp.0.join("r2.ndjson");
    private_log(&file, 0o640);
    let (child, temp, holder) = erase_waiting_on_a_lock(&file);
    let mode = fs::metadata(&temp).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy is the owner's only while it is written");
    terminate(child);
    drop(holder);
    assert!(temp.exists(), "the killed erase left its copy");
    assert_eq!(fs::metadata(&temp).unwrap().permissions().mode() & 0o777, 0o600);

    // The next erase removes it, also one with nothing to erase.
    let before = fs::read(&file).unwrap();
    let out = erase(&[], "557058:someone-else", &[&file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(hidden(&tmp.0).is_empty(), "the leftover is gone: {:?}", hidden(&tmp.0));
    assert_eq!(fs::read(&file).unwrap(), before, "nothing to erase: unchanged");

    let out = erase(&[], JANE, &[&file]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(hidden(&tmp.0).is_empty(), "the leftover is gone: {:?}", hidden(&tmp.0));
    assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
    assert_eq!(count(&owners(&fs::read(&file).unwrap()), "jane"), 0);
}

#[test]
fn a_killed_erase_leaves_a_copy_that_the_rolling_sink_removes_when_it_starts() {
    let tmp = TempDir::new("killed-rolling");
    let file = tmp.0.join("r.2026-11-19.0000.ndjson");
    private_log(&file, 0o600);
    let (child, temp, holder) = erase_waiting_on_a_lock(&file);
    terminate(child);
    drop(holder);
    assert!(temp.exists());

    let mut sink = RollingFileSink::new(&tmp.0, "r")
        .unwrap()
        .clock(|| SystemTime::from(datetime!(2026-11-20 12:00 UTC)));
    sink.attach(Ledger::detached("rolling"));
    sink.write(&[record(100, JOE)]).unwrap();
    sink.close(Instant::now() + Duration::from_secs(30)).unwrap();
    assert!(hidden(&tmp.0).is_empty(), "removed at start: {:?}", hidden(&tmp.0));
}

#[test]
fn retention_removes_a_copy_a_killed_erase_left_and_keeps_one_an_erase_works_on() {
    let tmp = TempDir::new("killed-retention");
    let file = tmp.0.join("r.2026-11-19.0000.ndjson");
    private_log(&file, 0o600);
    let dir = tmp.0.as_os_str();
    let retention = |dry: bool| {
        let mut args: Vec<&OsStr> = vec!["retention".as_ref(), "--max-age".as_ref(), "30000d".as_ref()];
        if dry {
            args.push("--dry-run".as_ref());
        }
        args.push(dir);
        privlog(&[], &args)
    };
    let (child, temp, holder) = erase_waiting_on_a_lock(&file);
    // In use: kept.
    let out = retention(false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("kept, an erase is working on it"),
        "{}",
        text(&out.stderr)
    );
    assert!(temp.exists());
    terminate(child);
    drop(holder);

    let out = retention(true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("would remove {}", temp.display())),
        "{}",
        text(&out.stdout)
    );
    assert!(temp.exists(), "a dry run removes nothing");
    let out = retention(false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("removed {}", temp.display())),
        "{}",
        text(&out.stdout)
    );
    assert!(hidden(&tmp.0).is_empty(), "{:?}", hidden(&tmp.0));
    assert!(file.exists(), "the record file itself is within the age");
}

// ---------------------------------------------------------------------------
// 7. FIFOs.

/// Waits for `child` to exit; kills it and fails when it is still running
/// after a minute (it hangs).
fn finish_or_fail(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn export_and_erase_refuse_a_fifo_at_once_and_export_nothing() {
    let tmp = TempDir::new("fifo");
    let good = tmp.0.join("good.ndjson");
    fs::write(&good, ndjson(&[record(0, JANE)])).unwrap();
    let fifo = tmp.0.join("pipe.ndjson");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("run mkfifo");
    assert!(made.success());
    for command in ["export", "erase"] {
        let child = Command::new(support::cli::bin())
            .args(["subject", command, "--account", JANE])
            .arg(&good)
            .arg(&fifo)
            .env("PRIVLOG_KEY", key().to_hex().as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = finish_or_fail(child, &format!("subject {command} on a FIFO"));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{} is a FIFO (named pipe), not a regular file",
                fifo.display()
            )),
            "{command} names the file and what it is: {stderr}"
        );
        if command == "export" {
            assert!(out.stdout.is_empty(), "nothing exported before the refusal");
        }
    }
}

// ---------------------------------------------------------------------------
// Erase over a rolling directory that is compressing.

#[test]
fn erase_over_a_rolling_directory_skips_compression_temps_and_follows_a_file_compressed_meanwhile() {
    let tmp = TempDir::new("compressed-meanwhile");
    // What a listing taken a moment ago named: the compression's temporary
    // file, and a plain file that is compressed (and gone) by now.
    let gz_tmp = tmp.0.join("r.2026-11-20.0000.ndjson.gz.tmp");
    fs::write(&gz_tmp, b"\x1f\x8b partial").unwrap();
    let plain = tmp.0.join("r.2026-11-20.0001.ndjson");
    let gz = tmp.0.join("r.2026-11-20.0001.ndjson.gz");
    let mut enc = flate2::write::GzEncoder::new(File::create(&gz).unwrap(), Default::default());
    enc.write_all(&ndjson(&[record(0, JANE), record(1, JOE)])).unwrap();
    enc.finish().unwrap();

    let out = erase(&[], JANE, &[&gz_tmp, &plain]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    assert!(stdout.contains(&format!("{}: skipped", gz_tmp.display())), "{stdout}");
    assert!(
        stdout.contains(&format!("{} (read as {})", plain.display(), gz.display())) && stdout.contains("1 erased"),
        "{stdout}"
    );
    assert_eq!(owners(&fs::read(&gz).unwrap()), ["joe"]);
}

/// Batches the writer below writes: 20 records each, about 6.6 KB; the
/// sink rolls over every 32 KiB and compresses the closed file.
const LOAD_BATCHES: usize = 400;

#[test]
fn erase_runs_over_a_rolling_directory_under_load_all_succeed_and_the_last_leaves_no_record() {
    let tmp = TempDir::new("under-load");
    let dir = tmp.0.clone();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (dir, done) = (dir.clone(), done.clone());
        std::thread::spawn(move || {
            let mut sink = RollingFileSink::new(&dir, "r")
                .unwrap()
                .max_file_size(32 * 1024)
                .compress(true)
                .clock(|| SystemTime::from(datetime!(2026-11-20 12:00 UTC)));
            let ledger = Ledger::detached("rolling");
            sink.attach(ledger.clone());
            let mut problems = Vec::new();
            for b in 0..LOAD_BATCHES {
                let batch: Vec<Record> = (b * 20..b * 20 + 20)
                    .map(|n| record(n, if n % 3 == 0 { JANE } else { JOE }))
                    .collect();
                if let Err(e) = sink.write(&batch) {
                    problems.push(e.to_string());
                }
                std::thread::sleep(Duration::from_millis(3));
            }
            if let Err(e) = sink.close(Instant::now() + Duration::from_secs(30)) {
                problems.push(e.to_string());
            }
            done.store(true, Ordering::Relaxed);
            (ledger.stats(), problems)
        })
    };
    // Every entry, as a shell's `dir/*` lists them (a moment later some are
    // compressed, and compression's `.gz.tmp` files come and go).
    let listing = || -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
            .collect();
        files.sort();
        files
    };
    let run = |files: &[PathBuf]| {
        let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        erase(&[], JANE, &paths)
    };
    let mut runs = 0;
    while !done.load(Ordering::Relaxed) {
        let files = listing();
        if files.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let out = run(&files);
        assert!(
            out.status.success(),
            "erase run {runs} under load: {}\n{}",
            text(&out.stderr),
            text(&out.stdout)
        );
        runs += 1;
    }
    let (stats, problems) = writer.join().unwrap();
    assert!(runs > 0, "the erases ran while the sink wrote");
    assert_eq!(
        (stats.delivered, stats.dropped_total()),
        (LOAD_BATCHES as u64 * 20, 0),
        "the sink lost nothing to the erases: {problems:?}"
    );
    let out = run(&listing());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut joe = 0;
    for f in listing() {
        let found = owners(&fs::read(&f).unwrap());
        assert_eq!(count(&found, "jane"), 0, "{} still holds jane's records", f.display());
        joe += count(&found, "joe");
    }
    let joes = (0..LOAD_BATCHES * 20).filter(|n| n % 3 != 0).count();
    assert_eq!(joe, joes, "every record of joe is kept");
    assert!(hidden(&dir).is_empty(), "{:?}", hidden(&dir));
}

// ---------------------------------------------------------------------------
// 5. A file-size limit lowered on the running process.

/// Lowers the file-size limit of process `pid` to `bytes` (soft and hard).
fn prlimit_fsize(pid: u32, bytes: u64) {
    let out = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--fsize={bytes}:{bytes}"))
        .output()
        .expect("run prlimit (util-linux; scripts/install-peers.sh installs it)");
    assert!(out.status.success(), "prlimit: {}", text(&out.stderr));
}

const LIMIT: u64 = 20_000;

/// Writes batches of 10 records until `file_len()` passes 12 KB, lowers the
/// limit to 20 000 bytes from outside, writes 10 more batches, closes; the
/// child must live through it. Returns the final counts and how many were sent.
fn lower_the_limit_while_writing(mut child: SinkChild, file_len: impl Fn() -> u64) -> (Counts, u64) {
    let mut sent = 0;
    while file_len() < 12_000 {
        child.write(10, JOE);
        sent += 10;
    }
    prlimit_fsize(child.child.id(), LIMIT);
    for _ in 0..10 {
        child.write(10, JOE);
        sent += 10;
    }
    let (status, counts, stderr) = child.quit();
    assert!(
        status.success(),
        "the sink survives a limit lowered from outside (not killed by SIGXFSZ): {status}\n{stderr}"
    );
    (counts.unwrap(), sent)
}

#[test]
fn a_file_size_limit_lowered_on_a_running_file_sink_is_kept_from_the_next_batch() {
    const NAME: &str = "a_file_size_limit_lowered_on_a_running_file_sink_is_kept_from_the_next_batch";
    if serve_as_child() {
        return;
    }
    require_root("prlimit on another process");
    let tmp = TempDir::new("fsize-file");
    let log = tmp.0.join("req.ndjson");
    let child = SinkChild::start(NAME, &format!("file:{}", log.display()), &[]);
    let (c, sent) = lower_the_limit_while_writing(child, || fs::metadata(&log).map_or(0, |m| m.len()));
    let bytes = fs::read(&log).unwrap();
    assert!(
        bytes.len() as u64 <= LIMIT,
        "{} bytes under a limit of {LIMIT}",
        bytes.len()
    );
    assert!(bytes.ends_with(b"\n"), "no torn last line");
    assert_eq!(owners(&bytes).len() as u64, c.delivered, "every line whole and counted");
    assert!(c.too_large > 0, "{c:?}");
    assert_eq!(
        c.delivered + c.too_large,
        sent,
        "every record written or counted: {c:?}"
    );
    assert_eq!(c.dropped, c.too_large, "{c:?}");
}

#[test]
fn a_file_size_limit_lowered_on_a_running_rolling_sink_starts_new_files_and_loses_nothing() {
    const NAME: &str = "a_file_size_limit_lowered_on_a_running_rolling_sink_starts_new_files_and_loses_nothing";
    if serve_as_child() {
        return;
    }
    require_root("prlimit on another process");
    let tmp = TempDir::new("fsize-rolling");
    let child = SinkChild::start(NAME, &format!("rolling:{}", tmp.0.display()), &[]);
    let first = tmp.0.join("r.2026-11-20.0000.ndjson");
    let (c, sent) = lower_the_limit_while_writing(child, || fs::metadata(&first).map_or(0, |m| m.len()));
    assert_eq!((c.delivered, c.dropped), (sent, 0), "{c:?}");
    let files = privlog::sink::log_files(&tmp.0, Some("r")).unwrap();
    assert!(files.len() > 1, "the lowered limit started new files");
    let mut lines = 0;
    for f in &files {
        let bytes = fs::read(&f.path).unwrap();
        assert!(
            bytes.len() as u64 <= LIMIT,
            "{}: {} bytes",
            f.path.display(),
            bytes.len()
        );
        assert!(bytes.ends_with(b"\n"));
        lines += owners(&bytes).len() as u64;
    }
    assert_eq!(lines, sent, "every record is in a file, whole");
}

#[test]
fn a_file_size_limit_lowered_on_a_running_stdout_sink_sent_to_a_file_is_kept_from_the_next_batch() {
    const NAME: &str = "a_file_size_limit_lowered_on_a_running_stdout_sink_sent_to_a_file_is_kept_from_the_next_batch";
    if serve_as_child() {
        return;
    }
    require_root("prlimit on another process");
    let tmp = TempDir::new("fsize-stdout");
    // `StandardOutput=append:` of a service manager.
    let log = tmp.0.join("stdout.ndjson");
    let out = File::options().create(true).append(true).open(&log).unwrap();
    let child = SinkChild::start_to(NAME, "stdout:", &[], out);
    let (c, sent) = lower_the_limit_while_writing(child, || fs::metadata(&log).map_or(0, |m| m.len()));
    let bytes = fs::read(&log).unwrap();
    assert!(
        bytes.len() as u64 <= LIMIT,
        "{} bytes under a limit of {LIMIT}",
        bytes.len()
    );
    assert!(bytes.ends_with(b"\n"), "no torn last line");
    // The test harness's own first lines are in the file too.
    let records: Vec<u8> = bytes
        .split_inclusive(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"{"))
        .flatten()
        .copied()
        .collect();
    assert_eq!(
        owners(&records).len() as u64,
        c.delivered,
        "every record line whole and counted"
    );
    assert!(c.too_large > 0, "{c:?}");
    assert_eq!(
        c.delivered + c.too_large,
        sent,
        "every record written or counted: {c:?}"
    );
}

// ---------------------------------------------------------------------------
// 6. Ages past the calendar.

#[test]
fn retention_with_an_age_past_the_calendar_expires_nothing_and_does_not_panic() {
    let tmp = TempDir::new("huge-age");
    let file = tmp.0.join("r.2026-11-19.0000.ndjson");
    fs::write(&file, ndjson(&[record(0, JOE)])).unwrap();
    File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(SystemTime::UNIX_EPOCH)
        .unwrap();
    for dry in [true, false] {
        let mut args: Vec<&OsStr> = vec!["retention".as_ref(), "--max-age".as_ref(), "11574074d".as_ref()];
        if dry {
            args.push("--dry-run".as_ref());
        }
        args.push(tmp.0.as_os_str());
        let out = privlog(&[], &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("0 expired, 1 kept"), "{}", text(&out.stderr));
    }
    assert!(file.exists());
}
