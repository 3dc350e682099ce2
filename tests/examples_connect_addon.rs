//! The connect_addon example run as a real child process: SIGTERM stops it
//! gracefully with every record written, `--clock-offset-days` moves records
//! into another pseudonym epoch, and bad arguments get a usage message.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // tests: a failed unwrap is a failed test

mod support;

use std::ffi::OsStr;
use std::future::Future as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use bytes::Bytes;
use privlog::{MasterKey, Outcome, Purpose, Rotation};
use support::addon::{KEY, expected_pseudonym};
use support::client::{empty, get, post, send};
use support::files::TempDir;
use support::jwt::signed_jwt;
use support::process::{Example, example_binary};

const ACCOUNT: &str = "557058:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

/// `Authorization` of a request by [`ACCOUNT`], with the Connect JWT
/// Atlassian signed for them: the add-on signs them in.
fn signed_in() -> String {
    format!("JWT {}", signed_jwt(ACCOUNT, "c8a7d2f1-5b3e-4c9a-8e7d-6f5a4b3c2d1e"))
}

/// `req` for `path`, signed in as [`ACCOUNT`] when the path is their history.
fn as_signed_in_user(req: http::request::Builder, path: &str) -> http::request::Builder {
    if path.starts_with("/rest/accounts/") {
        req.header("authorization", signed_in())
    } else {
        req
    }
}

/// A running connect_addon process writing to a log file in a temp dir.
struct Addon {
    example: Example,
    addr: SocketAddr,
    log: PathBuf,
    _dir: TempDir,
}

impl Addon {
    fn start(extra: &[&str]) -> Addon {
        let dir = TempDir::new("addon");
        let log = dir.path().join("requests.ndjson");
        let mut args: Vec<&OsStr> = vec!["--addr".as_ref(), "127.0.0.1:0".as_ref(), "--log-file".as_ref()];
        args.push(log.as_os_str());
        args.extend(extra.iter().map(OsStr::new));
        let example = Example::start("connect_addon", &args);
        Addon {
            addr: example.addr,
            example,
            log,
            _dir: dir,
        }
    }

    fn terminate(&self) {
        self.example.terminate();
    }

    fn wait(&mut self) -> ExitStatus {
        self.example.wait()
    }

    fn stderr(&self) -> String {
        self.example.stderr()
    }

    fn records(&self) -> Vec<privlog::Record> {
        support::records::parse_file(&std::fs::read_to_string(&self.log).expect("log file"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_and_writes_every_record() {
    let mut addon = Addon::start(&[]);
    let addr = addon.addr;
    let n = 60;
    for i in 0..n {
        let path = match i % 4 {
            0 => "/health".to_owned(),
            1 => format!("/rest/accounts/{ACCOUNT}/history"),
            2 => "/search?q=roadmap".to_owned(),
            _ => "/export/r.csv?size=50000".to_owned(),
        };
        let (res, _) = send(addr, as_signed_in_user(get(addr, &path), &path).body(empty()).unwrap()).await;
        assert_eq!(res.status(), 200);
    }
    // An idle keep-alive connection must not hold the shutdown up.
    let idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut idle_sender, idle_conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(idle))
        .await
        .unwrap();
    let idle_task = tokio::spawn(idle_conn);
    idle_sender
        .send_request(get(addr, "/health").body(empty()).unwrap())
        .await
        .unwrap();

    // A request still uploading when SIGTERM arrives is finished, not cut.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let upload = tokio::spawn(async move {
        let conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut sender, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(conn))
            .await
            .unwrap();
        tokio::spawn(c);
        let body = SlowBody {
            first: Some(Bytes::from(vec![b'a'; 1000])),
            rest: Some(Bytes::from(vec![b'b'; 2000])),
            release: Some(rx),
        };
        let req = post(addr, "/rest/pages/11/index")
            .header("content-length", "3000")
            .body(body)
            .unwrap();
        let res = sender.send_request(req).await.expect("in-flight request answered");
        res.status()
    });
    // Give the upload time to reach the handler, then stop the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    addon.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = tx.send(());
    assert_eq!(upload.await.unwrap(), 200);
    let _ = idle_task.await;

    let status = tokio::task::spawn_blocking(move || {
        let s = addon.wait();
        (s, addon)
    })
    .await
    .unwrap();
    let (status, addon) = status;
    assert!(status.success(), "exit status {status}: {}", addon.stderr());
    let total = n + 2;
    let records = addon.records();
    assert_eq!(records.len(), total, "every request has its record in the file");
    assert!(records.iter().all(|r| r.outcome == Outcome::Completed));
    let upload = records
        .iter()
        .find(|r| r.route.as_deref() == Some("/rest/pages/{page_id}/index"))
        .expect("the in-flight upload's record");
    assert_eq!(upload.req_bytes, 3000);
    let stderr = addon.stderr();
    assert!(
        stderr.contains(&format!("{total} records created, {total} written to")),
        "summary line: {stderr}"
    );
}

/// A request body that sends its first part, waits for `release`, then the rest.
struct SlowBody {
    first: Option<Bytes>,
    rest: Option<Bytes>,
    release: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl hyper::body::Body for SlowBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(hyper::body::Frame::data(first))));
        }
        if let Some(release) = self.release.as_mut() {
            match std::pin::Pin::new(release).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => self.release = None,
            }
        }
        Poll::Ready(self.rest.take().map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_offset_days_moves_records_into_another_epoch() {
    let mut addon = Addon::start(&["--clock-offset-days", "40"]);
    let addr = addon.addr;
    let before = time::OffsetDateTime::now_utc();
    let (res, _) = send(
        addr,
        get(addr, &format!("/rest/accounts/{ACCOUNT}/history"))
            .header("authorization", signed_in())
            .body(empty())
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    addon.terminate();
    let (status, addon) = tokio::task::spawn_blocking(move || (addon.wait(), addon))
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}: {}", addon.stderr());
    let records = addon.records();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    let shifted = before + Duration::from_secs(40 * 86_400);
    assert!(
        r.ts >= shifted - Duration::from_secs(1) && r.ts <= shifted + Duration::from_secs(120),
        "ts {} is 40 days ahead of {before}",
        r.ts
    );
    let epoch = Rotation::Monthly.epoch_of(r.ts);
    assert_eq!(r.epoch, epoch.as_str());
    assert_ne!(r.epoch, Rotation::Monthly.epoch_of(before).as_str(), "another month");
    assert_eq!(r.kid, MasterKey::from_bytes(KEY).id().as_str());
    // Same key, same account, another epoch: another, unlinkable pseudonym.
    assert_eq!(r.account, Some(expected_pseudonym(Purpose::Account, r.ts, ACCOUNT)));
    assert_ne!(r.account, Some(expected_pseudonym(Purpose::Account, before, ACCOUNT)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_past_the_year_9999_still_writes_every_record_at_the_last_time_a_record_holds() {
    // About 8 000 years ahead: past what RFC 3339 (and the record) can hold.
    let mut addon = Addon::start(&["--clock-offset-days", "2930000"]);
    let addr = addon.addr;
    for _ in 0..5 {
        let (res, _) = send(addr, get(addr, "/health").body(empty()).unwrap()).await;
        assert_eq!(res.status(), 200);
    }
    addon.terminate();
    let (status, addon) = tokio::task::spawn_blocking(move || (addon.wait(), addon))
        .await
        .unwrap();
    let stderr = addon.stderr();
    assert!(status.success(), "exit status {status}: {stderr}");
    assert!(
        stderr.contains("5 records created, 5 written"),
        "every record written: {stderr}"
    );
    let lines = std::fs::read_to_string(&addon.log).expect("log file");
    assert_eq!(lines.lines().count(), 5, "{lines}");
    for line in lines.lines() {
        assert!(line.contains(r#""ts":"9999-12-31T23:59:59.999Z""#), "{line}");
    }
    let last = time::macros::datetime!(9999-12-31 23:59:59.999 UTC);
    for r in addon.records() {
        assert_eq!(r.ts, last);
        assert_eq!(r.epoch, "9999-12", "the epoch of the time written");
        assert_eq!(r.path, "/health");
    }
}

#[test]
fn bad_arguments_get_a_usage_message() {
    let out = Command::new(example_binary("connect_addon"))
        .args(["--addr", "not-an-address", "--log-file", "x.ndjson"])
        .output()
        .expect("run connect_addon");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--addr \"not-an-address\" is not HOST:PORT"),
        "{stderr}"
    );
    assert!(
        stderr.contains("usage: connect_addon --addr HOST:PORT --log-file FILE"),
        "{stderr}"
    );

    let out = Command::new(example_binary("connect_addon"))
        .args(["--addr", "127.0.0.1:0"])
        .output()
        .expect("run connect_addon");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-file is required"));
}

#[test]
fn sigterm_right_after_start_is_a_clean_shutdown() {
    let mut addon = Addon::start(&[]);
    // No request first: the handler must already be installed when the
    // address is announced.
    addon.terminate();
    let status = addon.wait();
    assert!(status.success(), "exit status {status}: {}", addon.stderr());
    assert!(
        addon.stderr().contains("0 records created, 0 written"),
        "{}",
        addon.stderr()
    );
    assert!(addon.records().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_it_warns_and_uses_a_random_one() {
    let dir = TempDir::new("addon-nokey");
    let log = dir.path().join("requests.ndjson");
    let args: Vec<&OsStr> = vec![
        "--addr".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--log-file".as_ref(),
        log.as_os_str(),
    ];
    let mut ex = Example::start_with_key("connect_addon", &args, None);
    let addr = ex.addr;
    send(addr, get(addr, "/health").body(empty()).unwrap()).await;
    ex.terminate();
    let (status, ex) = tokio::task::spawn_blocking(move || (ex.wait(), ex)).await.unwrap();
    assert!(status.success(), "exit status {status}: {}", ex.stderr());
    assert!(ex.stderr().contains("no privlog key configured"), "{}", ex.stderr());
    let records = support::records::parse_file(&std::fs::read_to_string(&log).unwrap());
    assert_eq!(records.len(), 1);
    assert!(records[0].kid.starts_with("k_"));
    assert_ne!(records[0].kid, MasterKey::from_bytes(KEY).id().as_str());
}

#[test]
fn a_malformed_key_is_refused_without_echoing_it() {
    let secretish = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeZ";
    let dir = TempDir::new("addon-badkey");
    let out = Command::new(example_binary("connect_addon"))
        .args(["--addr", "127.0.0.1:0", "--log-file"])
        .arg(dir.path().join("requests.ndjson"))
        .env("PRIVLOG_KEY", secretish)
        .output()
        .expect("run connect_addon");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connect_addon: PRIVLOG_KEY: "), "{stderr}");
    assert!(!stderr.contains("0123456789abcdef"), "the key text leaked: {stderr}");
}

#[test]
fn a_short_shared_secret_is_refused_without_echoing_it() {
    let dir = TempDir::new("addon-badsecret");
    let out = Command::new(example_binary("connect_addon"))
        .args(["--addr", "127.0.0.1:0", "--log-file"])
        .arg(dir.path().join("requests.ndjson"))
        .env("PRIVLOG_KEY", MasterKey::from_bytes(KEY).to_hex())
        .env("CONNECT_SHARED_SECRET", "guessable")
        .output()
        .expect("run connect_addon");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("connect_addon: CONNECT_SHARED_SECRET is 9 bytes long: set the installation's sharedSecret (32 bytes or more)"),
        "{stderr}"
    );
    assert!(!stderr.contains("guessable"), "the secret leaked: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_shared_secret_nobody_is_signed_in() {
    let dir = TempDir::new("addon-nosecret");
    let log = dir.path().join("requests.ndjson");
    let mut cmd = Command::new(example_binary("connect_addon"));
    cmd.args(["--addr", "127.0.0.1:0", "--log-file"]).arg(&log);
    let mut ex = Example::spawn_without_shared_secret("connect_addon", cmd);
    let addr = ex.addr;
    let path = format!("/rest/accounts/{ACCOUNT}/history");
    let (res, _) = send(addr, as_signed_in_user(get(addr, &path), &path).body(empty()).unwrap()).await;
    assert_eq!(res.status(), 401, "a token the add-on cannot verify signs nobody in");
    ex.terminate();
    let (status, ex) = tokio::task::spawn_blocking(move || (ex.wait(), ex)).await.unwrap();
    assert!(status.success(), "exit status {status}: {}", ex.stderr());
    assert!(
        ex.stderr().contains("CONNECT_SHARED_SECRET is not set"),
        "{}",
        ex.stderr()
    );
    let records = support::records::parse_file(&std::fs::read_to_string(&log).unwrap());
    assert_eq!(records.len(), 1);
    assert_ne!(records[0].account_src, Some(privlog::AccountSource::App));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_file_size_limit_the_addon_survives_and_counts_every_line_it_refused() {
    let dir = TempDir::new("addon-fsize");
    let log = dir.path().join("requests.ndjson");
    let args: Vec<&OsStr> = vec![
        "--addr".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--log-file".as_ref(),
        log.as_os_str(),
    ];
    // 8 KiB (`ulimit -f 8`): room for a few dozen records, not for 100.
    let limit = 8 * 1024;
    let mut ex = Example::start_under_file_size_limit("connect_addon", &args, 8);
    let addr = ex.addr;
    let n = 100;
    for i in 0..n {
        let path = if i % 2 == 0 {
            "/health".to_owned()
        } else {
            format!("/rest/accounts/{ACCOUNT}/history")
        };
        let (res, _) = send(addr, as_signed_in_user(get(addr, &path), &path).body(empty()).unwrap()).await;
        assert_eq!(res.status(), 200);
    }
    ex.terminate();
    let (status, ex) = tokio::task::spawn_blocking(move || (ex.wait(), ex)).await.unwrap();
    let stderr = ex.stderr();
    assert!(
        status.success(),
        "the add-on survives the limit (not killed by SIGXFSZ): {status}: {stderr}"
    );
    let summary = stderr
        .lines()
        .find(|l| l.contains(" records created, "))
        .unwrap_or_else(|| panic!("summary line: {stderr}"));
    let number_after = |label: &str| -> u64 {
        let rest = summary
            .split(label)
            .nth(1)
            .unwrap_or_else(|| panic!("{label:?} in {summary}"));
        rest.trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| panic!("a number after {label:?} in {summary}"))
    };
    let created = number_after("connect_addon:");
    let written = number_after("records created,");
    let refused = number_after("file_size_limit");
    assert_eq!(created, n as u64, "{summary}");
    assert!(written > 0 && refused > 0, "{summary}");
    assert_eq!(
        written + refused,
        created,
        "every record is written or counted refused: {summary}"
    );

    let bytes = std::fs::read(&log).unwrap();
    assert!(
        bytes.len() as u64 <= limit,
        "{} bytes under a limit of {limit}",
        bytes.len()
    );
    assert!(bytes.ends_with(b"\n"), "no torn last line");
    let records = support::records::parse_file(&String::from_utf8(bytes).unwrap());
    assert_eq!(
        records.len() as u64,
        written,
        "every line is a whole record, each one counted"
    );
    assert!(
        stderr.contains("file-size limit") && stderr.contains("ulimit -f"),
        "the warning names the limit and the fix: {stderr}"
    );
}
