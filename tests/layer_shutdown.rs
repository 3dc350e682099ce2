//! The quickstart example run as a real child process: stopped by SIGINT
//! (Ctrl-C) or SIGTERM after N requests, it writes all N records before it
//! exits (axum's graceful shutdown, then the guard's async shutdown).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod support;

use std::process::Command;

use privlog::Outcome;
use support::client::{empty, get, send};
use support::process::Example;

/// Requests sent before the signal.
const N: usize = 50;

fn signal(ex: &Example, name: &str) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{name} {}", ex.child.id())])
        .status()
        .expect("run sh -c kill");
    assert!(status.success());
}

async fn n_requests_then(signal_name: &str) {
    let mut ex = Example::start("quickstart", &["--addr".as_ref(), "127.0.0.1:0".as_ref()]);
    let addr = ex.addr;
    for i in 0..N {
        let path = if i % 2 == 0 {
            "/".to_owned()
        } else {
            format!("/users/u{i}")
        };
        let (res, _) = send(addr, get(addr, &path).body(empty()).unwrap()).await;
        assert_eq!(res.status(), 200);
    }
    signal(&ex, signal_name);
    let (status, ex) = tokio::task::spawn_blocking(move || (ex.wait(), ex)).await.unwrap();
    assert!(status.success(), "exit {status:?}: {}", ex.stderr());
    let records = support::records::parse_file(&ex.stdout());
    assert_eq!(records.len(), N, "every request's record was written: {}", ex.stderr());
    assert!(
        records
            .iter()
            .all(|r| r.outcome == Outcome::Completed && r.status == Some(200))
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r.route.as_deref() == Some("/users/{id}"))
            .count(),
        N / 2
    );
    assert!(
        ex.stderr()
            .contains(&format!("quickstart: {N} records created, {N} written")),
        "{}",
        ex.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_after_n_requests_writes_all_n_records() {
    n_requests_then("INT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_after_n_requests_writes_all_n_records() {
    n_requests_then("TERM").await;
}
