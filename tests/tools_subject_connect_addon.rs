//! Data-subject requests over the records of the real connect_addon example,
//! run as a child process: three runs 35 days apart (three monthly epochs),
//! the key rotated before the last run, several accounts per run. Then
//! `privlog subject export` and `erase` for one account and `privlog audit`
//! over everything, as the real binary.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // tests: a failed unwrap is a failed test

mod support;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use privlog::MasterKey;
use support::cli::text;
use support::client::{empty, get, send};
use support::files::TempDir;
use support::files::{lines, read_text};
use support::jwt::signed_jwt;
use support::process::Example;

const JANE: &str = "557058:0c7b7d4e-6a4b-4c6b-9b7e-1f2e3d4c5b6a";
const JOE: &str = "557058:1d8c8e5f-7b5c-4d7c-8c8f-2a3b4c5d6e7f";
const ANN: &str = "5b10ac8d82e05b22cc7d4ef5";
const SITE: &str = "client-key-acme-0001";

fn privlog(args: &[&OsStr]) -> Output {
    Command::new(support::cli::bin())
        .args(args)
        .env_remove("PRIVLOG_KEY")
        .output()
        .expect("run privlog")
}

/// One run of the add-on: traffic of every account, then SIGTERM.
async fn run_addon(key: &MasterKey, offset_days: i64, log: &Path) -> usize {
    let offset = offset_days.to_string();
    let args: Vec<&OsStr> = vec![
        "--addr".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--log-file".as_ref(),
        log.as_os_str(),
        "--clock-offset-days".as_ref(),
        offset.as_ref(),
    ];
    let mut addon = Example::start_with_key("connect_addon", &args, Some(key.to_hex().as_str()));
    let addr = addon.addr;
    let mut jane = 0;
    for account in [JANE, JOE, ANN] {
        let jwt = signed_jwt(account, SITE);
        let requests = [
            format!("/macro?xdm_e=https%3A%2F%2Facme.atlassian.net&lic=active&cv=1.0&pageId=98765&jwt={jwt}"),
            format!("/rest/accounts/{account}/history"),
            "/search?q=jane.doe%40example.com+quarterly".to_owned(),
        ];
        for path in &requests {
            let req = get(addr, path).header("authorization", format!("JWT {jwt}"));
            let (res, _) = send(addr, req.body(empty()).unwrap()).await;
            assert_eq!(res.status(), 200, "{path}");
            if account == JANE {
                jane += 1;
            }
        }
    }
    let (res, _) = send(addr, get(addr, "/health").body(empty()).unwrap()).await;
    assert_eq!(res.status(), 200);
    addon.terminate();
    assert!(addon.wait().success(), "{}", addon.stderr());
    jane
}

fn pseudonyms(account: &str, keys: &Path, from: &str, to: &str) -> HashSet<(String, String, String)> {
    let out = privlog(&[
        "pseudonym".as_ref(),
        "--account".as_ref(),
        account.as_ref(),
        "--from".as_ref(),
        from.as_ref(),
        "--to".as_ref(),
        to.as_ref(),
        "--key-file".as_ref(),
        keys.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_owned(), f[1].to_owned(), f[2].to_owned())
        })
        .collect()
}

fn owned_by(line: &[u8], set: &HashSet<(String, String, String)>) -> bool {
    let v: serde_json::Value = serde_json::from_slice(line).expect("record line");
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    set.contains(&(s("kid"), s("epoch"), s("account")))
}

fn with_files<'a>(mut args: Vec<&'a OsStr>, files: &'a [PathBuf]) -> Vec<&'a OsStr> {
    args.extend(files.iter().map(|f| f.as_os_str()));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_addon_records_over_epochs_and_a_key_rotation_are_exported_and_erased_exactly() {
    let dir = TempDir::new("operators-addon");
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let mut ring = Vec::new();
    for name in ["1-old.key", "2-new.key"] {
        let p = keys.join(name);
        let out = privlog(&["keygen".as_ref(), "-o".as_ref(), p.as_os_str()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        ring.push(MasterKey::from_hex(&std::fs::read_to_string(&p).unwrap()).unwrap());
    }
    // 35 days apart: every run falls in another month.
    let runs = [(0usize, -70i64), (0, -35), (1, 0)];
    let mut files = Vec::new();
    let mut jane_requests = 0;
    for (i, (k, offset)) in runs.into_iter().enumerate() {
        let log = dir.path().join(format!("addon.{i}.ndjson"));
        jane_requests += run_addon(&ring[k], offset, &log).await;
        files.push(log);
    }
    // The middle file was compressed by log rotation.
    let data = std::fs::read(&files[1]).unwrap();
    let gz = dir.path().join("addon.1.ndjson.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
    enc.write_all(&data).unwrap();
    enc.finish().unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    files[1] = gz;
    let originals: Vec<Vec<u8>> = files.iter().map(|f| read_text(f)).collect();

    let today = time::OffsetDateTime::now_utc().date();
    let from = (today - time::Duration::days(80)).to_string();
    let to = (today + time::Duration::days(1)).to_string();
    let jane = pseudonyms(JANE, &keys, &from, &to);
    let mut expected_export = Vec::new();
    let mut expected_after = Vec::new();
    for original in &originals {
        let mut kept = Vec::new();
        for l in lines(original) {
            if owned_by(l, &jane) {
                expected_export.extend_from_slice(l);
            } else {
                kept.extend_from_slice(l);
            }
        }
        expected_after.push(kept);
    }
    assert_eq!(
        lines(&expected_export).len(),
        jane_requests,
        "every request of jane is hers"
    );
    let epochs: HashSet<String> = lines(&expected_export)
        .iter()
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).unwrap()["epoch"].to_string())
        .collect();
    assert_eq!(epochs.len(), 3, "jane's records span three epochs");

    let keys_arg = keys.as_os_str();
    let export = privlog(&with_files(
        vec![
            "subject".as_ref(),
            "export".as_ref(),
            "--account".as_ref(),
            JANE.as_ref(),
            "--key-file".as_ref(),
            keys_arg,
        ],
        &files,
    ));
    assert!(export.status.success(), "{}", text(&export.stderr));
    assert_eq!(export.stdout, expected_export);

    let erase = privlog(&with_files(
        vec![
            "subject".as_ref(),
            "erase".as_ref(),
            "--account".as_ref(),
            JANE.as_ref(),
            "--key-file".as_ref(),
            keys_arg,
        ],
        &files,
    ));
    assert!(erase.status.success(), "{}", text(&erase.stderr));
    for (f, expected) in files.iter().zip(&expected_after) {
        assert_eq!(
            &read_text(f),
            expected,
            "{}: every other line byte for byte",
            f.display()
        );
    }
    assert!(
        std::fs::read(&files[1]).unwrap().starts_with(&[0x1f, 0x8b]),
        "gzip stays gzip"
    );

    let joe = privlog(&with_files(
        vec![
            "subject".as_ref(),
            "export".as_ref(),
            "--account".as_ref(),
            JOE.as_ref(),
            "--key-file".as_ref(),
            keys_arg,
        ],
        &files,
    ));
    assert_eq!(
        lines(&joe.stdout).len(),
        jane_requests,
        "joe made as many requests as jane"
    );

    // The add-on's records hold nothing the audit can find, though the
    // traffic carried JWTs, account IDs, site URLs and e-mail addresses.
    let audit = privlog(&with_files(vec!["audit".as_ref()], &files));
    assert_eq!(
        audit.status.code(),
        Some(0),
        "{}{}",
        text(&audit.stdout),
        text(&audit.stderr)
    );
}

/// Whose records a file holds: (account pseudonym owners) by line, and whether
/// every line is a whole record.
fn owners_on_disk(log: &Path, key: &MasterKey) -> (usize, usize, usize) {
    let text = std::fs::read_to_string(log).expect("log file");
    let (mut jane, mut joe, mut lines) = (0, 0, 0);
    let pseudonymizer = privlog::Pseudonymizer::new(key);
    for line in text.lines() {
        lines += 1;
        let r = privlog::record::parse_line(line.as_bytes())
            .unwrap_or_else(|e| panic!("line {lines} is not a whole record ({e}): {line:?}"));
        let epoch = privlog::Rotation::Monthly.epoch_of(r.ts);
        let of = |id: &str| {
            Some(
                pseudonymizer
                    .pseudonym(privlog::Purpose::Account, &epoch, id)
                    .into_string(),
            )
        };
        if r.account == of(JANE) {
            jane += 1;
        } else if r.account == of(JOE) {
            joe += 1;
        }
    }
    (lines, jane, joe)
}

/// `n` requests of `account` to the running add-on.
async fn account_requests(addr: std::net::SocketAddr, account: &str, n: usize) {
    let jwt = signed_jwt(account, SITE);
    for _ in 0..n {
        let req = get(addr, &format!("/rest/accounts/{account}/history")).header("authorization", format!("JWT {jwt}"));
        let (res, _) = send(addr, req.body(empty()).unwrap()).await;
        assert_eq!(res.status(), 200);
    }
}

/// Waits until `log` holds `n` lines (the sink writes in the background).
async fn wait_for_lines(log: &Path, n: usize) {
    let deadline = std::time::Instant::now() + support::PATIENCE;
    loop {
        let have = std::fs::read(log).map(|b| lines(&b).len()).unwrap_or(0);
        if have >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} holds {have} of {n} lines",
            log.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `privlog subject erase --account ID LOG`; returns how many records it erased.
fn erase_account(account: &str, keys: &Path, log: &Path) -> u64 {
    let out = privlog(&[
        "subject".as_ref(),
        "erase".as_ref(),
        "--account".as_ref(),
        account.as_ref(),
        "--key-file".as_ref(),
        keys.as_os_str(),
        log.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "erase on a live file either works or refuses clearly: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    // "{path}: {records} records, {erased} erased, …"
    stdout
        .split(" records, ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("erase output names the erased count: {stdout}"))
}

/// The count of records the add-on reports written in its summary line.
fn written_by(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains(" records created, "))
        .unwrap_or_else(|| panic!("summary line: {stderr}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1])
}

fn keys_for_addon(dir: &Path) -> (PathBuf, MasterKey) {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let p = keys.join("1.key");
    let out = privlog(&["keygen".as_ref(), "-o".as_ref(), p.as_os_str()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let key = MasterKey::from_hex(std::fs::read_to_string(&p).unwrap().trim()).unwrap();
    (keys, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_on_the_file_a_running_addon_appends_to_keeps_every_later_record() {
    let dir = TempDir::new("erase-live");
    let (keys, key) = keys_for_addon(dir.path());
    let log = dir.path().join("requests.ndjson");
    let args: Vec<&OsStr> = vec![
        "--addr".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--log-file".as_ref(),
        log.as_os_str(),
    ];
    let mut addon = Example::start_with_key("connect_addon", &args, Some(key.to_hex().as_str()));
    let addr = addon.addr;
    account_requests(addr, JANE, 50).await;
    account_requests(addr, JOE, 50).await;
    wait_for_lines(&log, 100).await;

    let erased = erase_account(JANE, &keys, &log);
    assert_eq!(erased, 50, "every record of jane written so far");
    assert_eq!(owners_on_disk(&log, &key), (50, 0, 50));

    account_requests(addr, JANE, 50).await;
    account_requests(addr, JOE, 50).await;
    addon.terminate();
    let status = tokio::task::spawn_blocking(move || {
        let s = addon.wait();
        (s, addon)
    })
    .await
    .unwrap();
    let (status, addon) = status;
    let stderr = addon.stderr();
    assert!(status.success(), "exit status {status}: {stderr}");
    let (created, written) = written_by(&stderr);
    assert_eq!((created, written), (200, 200), "{stderr}");
    let (lines, jane, joe) = owners_on_disk(&log, &key);
    assert_eq!(
        lines as u64 + erased,
        written,
        "every record the add-on counts written is in the file, or was erased"
    );
    assert_eq!((jane, joe), (50, 100), "jane's later records and all of joe's are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_while_the_addon_is_busy_loses_no_record_of_anyone() {
    let dir = TempDir::new("erase-busy");
    let (keys, key) = keys_for_addon(dir.path());
    let log = dir.path().join("requests.ndjson");
    let args: Vec<&OsStr> = vec![
        "--addr".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--log-file".as_ref(),
        log.as_os_str(),
    ];
    let mut addon = Example::start_with_key("connect_addon", &args, Some(key.to_hex().as_str()));
    let addr = addon.addr;
    account_requests(addr, JOE, 20).await;
    wait_for_lines(&log, 20).await;
    // Traffic from two clients goes on while erase runs again and again.
    let rounds = 200;
    let traffic = tokio::spawn(async move {
        for _ in 0..rounds {
            tokio::join!(account_requests(addr, JANE, 1), account_requests(addr, JOE, 1));
        }
    });
    let mut erased = 0;
    let mut runs = 0;
    while !traffic.is_finished() || runs < 3 {
        let log = log.clone();
        let keys = keys.clone();
        erased += tokio::task::spawn_blocking(move || erase_account(JANE, &keys, &log))
            .await
            .unwrap();
        runs += 1;
    }
    traffic.await.unwrap();
    addon.terminate();
    let (status, addon) = tokio::task::spawn_blocking(move || (addon.wait(), addon))
        .await
        .unwrap();
    let stderr = addon.stderr();
    assert!(status.success(), "exit status {status}: {stderr}");
    let (created, written) = written_by(&stderr);
    assert_eq!(
        (created, written),
        (20 + 2 * rounds as u64, 20 + 2 * rounds as u64),
        "{stderr}"
    );
    let (lines, jane, joe) = owners_on_disk(&log, &key);
    assert_eq!(joe, 20 + rounds, "none of joe's records is lost");
    assert_eq!(
        jane as u64 + erased,
        rounds as u64,
        "jane's records are on disk or erased"
    );
    assert_eq!(lines as u64 + erased, written, "{runs} erase runs");
}
