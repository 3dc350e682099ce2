//! The suppression list end to end, over the real connect_addon process and
//! the real `privlog` binary: an account erased with `--suppress` is written
//! without its account by the running add-on (which re-reads the file, no
//! restart), counted as suppressed; the file holds neither the raw ID nor
//! any record pseudonym.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // tests: a failed unwrap is a failed test

mod support;

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use privlog::{MasterKey, Purpose, Record, Rotation};
use support::PATIENCE;
use support::addon::KEY;
use support::cli::text;
use support::client::{empty, get, send};
use support::files::TempDir;
use support::jwt::signed_jwt;
use support::process::Example;

const JANE: &str = "557058:0c7b7d4e-6a4b-4c6b-9b7e-1f2e3d4c5b6a";
const JOE: &str = "557058:1d8c8e5f-7b5c-4d7c-8c8f-2a3b4c5d6e7f";
const SITE: &str = "client-key-acme-0001";

/// A signed-in request of `account` to their history (JANE) or to search (JOE).
async fn request(addr: SocketAddr, account: &str) {
    let path = if account == JANE {
        format!("/rest/accounts/{account}/history")
    } else {
        "/search?q=report".to_owned()
    };
    let req = get(addr, &path).header("authorization", format!("JWT {}", signed_jwt(account, SITE)));
    let (res, _) = send(addr, req.body(empty()).unwrap()).await;
    assert_eq!(res.status(), 200, "{path}");
}

fn records(log: &Path) -> Vec<Record> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn wait_for_records(log: &Path, n: usize) -> Vec<Record> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = records(log);
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "expected {n} records, got {}", got.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pseudonym(account: &str, ts: time::OffsetDateTime) -> String {
    privlog::Pseudonymizer::new(&MasterKey::from_bytes(KEY))
        .pseudonym(Purpose::Account, &Rotation::Monthly.epoch_of(ts), account)
        .into_string()
}

fn is_jane(r: &Record) -> bool {
    r.route.as_deref() == Some("/rest/accounts/{account_id}/history")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_erased_with_suppress_is_logged_without_its_account_by_the_running_addon() {
    let dir = TempDir::new("suppress");
    let log = dir.path().join("requests.ndjson");
    let list = dir.path().join("suppressed.txt");
    let key_hex = MasterKey::from_bytes(KEY).to_hex();
    let args: Vec<&OsStr> = vec![
        "--addr".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--log-file".as_ref(),
        log.as_os_str(),
        "--suppression-file".as_ref(),
        list.as_os_str(),
    ];
    // The file does not exist yet: the add-on starts with an empty list.
    let mut addon = Example::start("connect_addon", &args);
    let addr = addon.addr;
    for account in [JANE, JOE, JANE, JOE] {
        request(addr, account).await;
    }
    let before = wait_for_records(&log, 4).await;
    let jane_pseudonym = pseudonym(JANE, before[0].ts);
    assert!(
        before
            .iter()
            .filter(|r| is_jane(r))
            .all(|r| r.account.as_deref() == Some(jane_pseudonym.as_str())),
        "before the erasure jane has her pseudonym: {before:#?}"
    );

    let out = Command::new(support::cli::bin())
        .args(["subject", "erase", "--account", JANE, "--suppress"])
        .arg(&list)
        .arg(&log)
        .env("PRIVLOG_KEY", key_hex.as_str())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("1 entries added"), "{}", text(&out.stdout));
    let kept = records(&log);
    assert_eq!(kept.len(), 2, "jane's records are erased, joe's kept: {kept:#?}");

    // The running add-on picks the file up within about a second: send
    // jane's requests until one is written without her account.
    let deadline = Instant::now() + PATIENCE;
    let mut sent_after = 0;
    loop {
        request(addr, JANE).await;
        sent_after += 1;
        let all = wait_for_records(&log, kept.len() + sent_after).await;
        if all.last().is_some_and(|r| r.account.is_none()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the add-on never read the suppression file: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // From then on every record of jane has no account; joe keeps his.
    for account in [JANE, JOE, JANE, JANE, JOE] {
        request(addr, account).await;
    }
    let total = kept.len() + sent_after + 5;
    let all = wait_for_records(&log, total).await;
    addon.terminate();
    let (status, addon) = tokio::task::spawn_blocking(move || (addon.wait(), addon))
        .await
        .unwrap();
    let stderr = addon.stderr();
    assert!(status.success(), "{stderr}");

    let all_after: Vec<&Record> = all.iter().skip(kept.len()).collect();
    let suppressed_from = all_after
        .iter()
        .position(|r| is_jane(r) && r.account.is_none())
        .unwrap();
    let late = &all_after[suppressed_from..];
    let late_jane: Vec<&&Record> = late.iter().filter(|r| is_jane(r)).collect();
    assert_eq!(late_jane.len(), 4);
    for r in &late_jane {
        assert_eq!((r.account.as_deref(), r.account_src), (None, None), "{r:?}");
        assert!(r.tenant.is_some(), "only the account is left out: {r:?}");
    }
    for r in late.iter().filter(|r| !is_jane(r)) {
        assert_eq!(
            r.account.as_deref(),
            Some(pseudonym(JOE, r.ts).as_str()),
            "joe is not suppressed"
        );
    }
    let suppressed = all_after.iter().filter(|r| is_jane(r) && r.account.is_none()).count();
    // Every request made a record (the 2 erased were written, then erased).
    let created = before.len() + sent_after + 5;
    assert!(
        stderr.contains(&format!(
            "{created} records created, {created} written to {}, {suppressed} without their account (suppression list)",
            log.display()
        )),
        "the suppressed counter counts jane's later requests: {stderr}"
    );

    // The file holds keyed marks only.
    let file = std::fs::read_to_string(&list).unwrap();
    assert!(!file.contains(JANE) && !file.contains("0c7b7d4e"), "{file}");
    for r in before.iter().chain(&all) {
        for p in [&r.account, &r.tenant].into_iter().flatten() {
            assert!(!file.contains(p.as_str()), "a record pseudonym in the list: {file}");
        }
    }
    assert!(!file.contains(&jane_pseudonym));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&list).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
