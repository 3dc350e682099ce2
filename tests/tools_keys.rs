//! Forward-secure keys and the client key of the day, over the real binary,
//! real key files and a real service on a socket:
//!
//! - after `privlog keys advance`, nothing in the key directory holds the
//!   destroyed states or the keys derived from them, `privlog pseudonym`
//!   refuses the destroyed epochs and gives the same values as before for
//!   the others, and `privlog keys status` shows the new oldest epoch;
//! - `privlog subject export` still finds the records of a retained epoch
//!   that the service wrote, and names the epochs it can no longer search;
//! - client pseudonyms of the day: the same address gives the same value all
//!   day and another the next day, and no key is written anywhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::response::IntoResponse as _;
use axum::routing::get;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use privlog::policy::{RatchetKey, write_ratchet_key_file};
use privlog::sink::FileSink;
use privlog::{IpPolicy, Policy, Rotation};
use support::files::TempDir;
use time::OffsetDateTime;

const DAY: i64 = 86_400;

/// A key directory only its owner can write (a key ring's rule).
fn key_dir(tag: &str) -> TempDir {
    let d = TempDir::new(tag);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    d
}

fn privlog(args: &[&str]) -> Output {
    Command::new(support::cli::bin())
        .args(args)
        .env_clear()
        .output()
        .expect("run privlog")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Today's day number (UTC).
fn today() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp().div_euclid(DAY)
}

fn day_label(day: i64) -> String {
    Rotation::Daily.epoch_at(day).expect("epoch").as_str().to_owned()
}

/// A daily ratchet key whose oldest epoch is `first` (a day number), with a
/// known first state, written to `dir/ratchet.key`.
fn ratchet_file(dir: &Path, first: i64, seed: [u8; 32]) -> (PathBuf, RatchetKey) {
    let key = RatchetKey::from_first_state(Rotation::Daily, &Rotation::Daily.epoch_at(first).expect("epoch"), seed)
        .expect("key");
    let file = dir.join("ratchet.key");
    write_ratchet_key_file(&file, &key).expect("write");
    (file, key)
}

/// The state of day `first + n`, ratcheted as the file format documents.
fn state_after(seed: [u8; 32], n: i64) -> [u8; 32] {
    let mut s = seed;
    for _ in 0..n {
        s = blake3::derive_key("privlog ratchet v1", &s);
    }
    s
}

/// The account key of the epoch whose state is `state`.
fn account_key(state: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key("privlog 2026-12 ratchet epoch key v1 account", state)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Every byte of every file under `dir` (hidden ones included).
fn every_byte(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            all.extend(every_byte(&p));
        } else {
            all.extend(std::fs::read(&p).expect("read"));
        }
    }
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `kid epoch account` rows of `privlog pseudonym` output.
fn rows(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1].to_owned(), f[2].to_owned())
        })
        .collect()
}

#[test]
fn advance_destroys_old_epoch_states_everywhere_in_the_key_directory() {
    let dir = key_dir("keys-advance");
    let seed = [0x5a; 32];
    let first = today() - 10;
    let (file, key) = ratchet_file(&dir, first, seed);
    let kid = key.id().as_str().to_owned();
    let file_arg = dir.to_str().expect("utf-8");
    let (from, to) = (day_label(first), day_label(today()));
    let range = [
        "pseudonym",
        "--account",
        "557058:jane",
        "--from",
        &from,
        "--to",
        &to,
        "--key-file",
        file_arg,
    ];

    let before = privlog(&range);
    assert!(before.status.success(), "{}", text(&before.stderr));
    let before = rows(&text(&before.stdout));
    assert_eq!(before.len(), 11, "one row per day");
    // The states this test computes are the ones the key uses.
    let pseudo = |state: &[u8; 32]| {
        use base64::Engine as _;
        let h = blake3::keyed_hash(&account_key(state), b"557058:jane");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&h.as_bytes()[..16])
    };
    assert_eq!(before[0].1, pseudo(&state_after(seed, 0)));
    assert_eq!(before[10].1, pseudo(&state_after(seed, 10)));

    // Another name of the old file, outside the key directory: its bytes
    // (the old inode's) are overwritten too, not only unlinked.
    let elsewhere = TempDir::new("keys-advance-link");
    let link = elsewhere.join("old-name");
    std::fs::hard_link(&file, &link).expect("hard link");

    let adv = privlog(&["keys", "advance", "--keep", "3d", "--key-file", file_arg]);
    assert!(adv.status.success(), "{}", text(&adv.stderr));
    assert_eq!(std::fs::read(&link).expect("read"), b"", "the old inode is emptied");
    let oldest = day_label(today() - 3);
    assert!(
        text(&adv.stdout).contains(&format!("advanced from {from} to {oldest}")),
        "{}",
        text(&adv.stdout)
    );

    // Nothing in the directory holds a destroyed state or its keys, in raw
    // bytes or in hex; the retained oldest state is there.
    let all = every_byte(&dir);
    for n in 0..7 {
        let state = state_after(seed, n);
        for secret in [state, account_key(&state)] {
            assert!(!contains(&all, &secret), "day {n}'s secret bytes remain");
            assert!(!contains(&all, hex(&secret).as_bytes()), "day {n}'s secret hex remains");
        }
    }
    assert!(contains(&all, hex(&state_after(seed, 7)).as_bytes()));
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 1, "no other file left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // The destroyed days get no pseudonym, with the reason and a distinct
    // exit status; the others keep theirs.
    let after = privlog(&range);
    assert_eq!(after.status.code(), Some(3), "{}", text(&after.stderr));
    let err = text(&after.stderr);
    assert_eq!(err.matches("can no longer be computed").count(), 7, "{err}");
    assert!(err.contains(&from) && err.contains(&oldest), "{err}");
    assert_eq!(rows(&text(&after.stdout)), before[7..].to_vec());

    let status = privlog(&["keys", "status", "--key-file", file_arg]);
    assert!(status.status.success());
    let line = format!("{kid}\tratchet\tdaily\t{oldest}\t{to}");
    assert!(
        text(&status.stdout).lines().any(|l| l == line),
        "{}",
        text(&status.stdout)
    );

    // Advancing again within the period changes nothing.
    let again = privlog(&["keys", "advance", "--keep", "3d", "--key-file", file_arg]);
    assert!(again.status.success());
    assert!(text(&again.stdout).contains("unchanged"));
}

#[test]
fn a_ratchet_key_file_others_can_read_is_refused() {
    let dir = key_dir("keys-mode");
    let (file, _) = ratchet_file(&dir, today(), [1; 32]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let out = privlog(&["keys", "status", "--key-file", file.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains("chmod 600"), "{}", text(&out.stderr));
    }
}

#[test]
fn keygen_writes_a_private_ratchet_key_that_the_ring_loads() {
    let dir = key_dir("keys-keygen");
    let file = dir.join("r.key");
    let out = privlog(&[
        "keygen",
        "--ratchet",
        "--rotation",
        "weekly",
        "-o",
        file.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let kid = text(&out.stdout).trim().to_owned();
    let ring = privlog::policy::KeyRing::load(&file).expect("loads");
    let key = ring.ratchets().next().expect("a ratchet key");
    assert_eq!(key.id().as_str(), kid);
    assert_eq!(key.rotation(), Rotation::Weekly);
    assert_eq!(key.oldest_epoch(), Rotation::Weekly.epoch_of(OffsetDateTime::now_utc()));
    // Without a file, there is nothing to advance: refused as a usage error.
    let out = privlog(&["keygen", "--ratchet", "--stdout"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
}

/// Serves `requests` (seconds since 1970, account, client address) through
/// the real layer on a real socket, each from its own local address, with
/// the service's clock at the request's time; returns the record file.
fn serve(dir: &Path, builder: privlog::Builder, requests: &[(i64, &str, [u8; 4])]) -> PathBuf {
    let file = dir.join("records.ndjson");
    let now = Arc::new(AtomicU64::new(0));
    let clock = {
        let now = Arc::clone(&now);
        move || UNIX_EPOCH + Duration::from_secs(now.load(Ordering::SeqCst))
    };
    let (layer, guard) = builder
        .sink(FileSink::open(&file).expect("open"))
        .shutdown_timeout(Duration::from_secs(60))
        .clock(clock)
        .build()
        .expect("build");
    let app = Router::new()
        .route(
            "/x",
            get(|headers: http::HeaderMap| async move {
                let mut res = "ok".into_response();
                if let Some(a) = headers.get("x-account").and_then(|v| v.to_str().ok()) {
                    res.extensions_mut().insert(privlog::AccountId::new(a.to_owned()));
                }
                res
            }),
        )
        .layer(layer);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .expect("serve");
        });
        for (secs, account, from) in requests {
            now.store(u64::try_from(*secs).expect("after 1970"), Ordering::SeqCst);
            // Each client its own loopback address, so its peer address differs.
            let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build({
                let mut c = hyper_util::client::legacy::connect::HttpConnector::new();
                c.set_local_address(Some(std::net::IpAddr::from(*from)));
                c
            });
            let req = http::Request::get(format!("http://127.0.0.1:{port}/x"))
                .header("x-account", *account)
                .body(Full::new(bytes::Bytes::new()))
                .expect("request");
            let res = client.request(req).await.expect("response");
            let _ = res.into_body().collect().await.expect("body");
        }
        server.abort();
    });
    let report = guard.shutdown();
    assert!(report.complete, "{report:?}");
    file
}

#[test]
fn a_retained_epoch_still_exports_and_destroyed_epochs_are_named() {
    let keys = key_dir("keys-export");
    let logs = TempDir::new("keys-export-logs");
    let first = today() - 10;
    let (file, _) = ratchet_file(&keys, first, [0x33; 32]);
    // The service, started on the key file, writes records of day -9 (to be
    // destroyed), day -1 (retained) and today.
    let ring = privlog::policy::KeyRing::load(&file).expect("loads");
    let key = ring.ratchets().next().expect("ratchet").clone();
    let at = |day: i64| day * DAY + 3600;
    let records = serve(
        &logs,
        privlog::builder().ratchet_key(key).policy(Policy::new()),
        &[
            (at(first + 1), "557058:jane", [127, 0, 0, 1]),
            (at(first + 1), "557058:joe", [127, 0, 0, 1]),
            (at(today() - 1), "557058:jane", [127, 0, 0, 1]),
            (at(today()), "557058:jane", [127, 0, 0, 1]),
            (at(today()), "557058:joe", [127, 0, 0, 1]),
        ],
    );
    let adv = privlog(&[
        "keys",
        "advance",
        "--keep",
        "3d",
        "--key-file",
        keys.to_str().expect("utf-8"),
    ]);
    assert!(adv.status.success(), "{}", text(&adv.stderr));

    let out = privlog(&[
        "subject",
        "export",
        "--account",
        "557058:jane",
        "--key-file",
        keys.to_str().expect("utf-8"),
        records.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported: Vec<privlog::Record> = support::records::parse_file(&text(&out.stdout));
    let days: Vec<&str> = exported.iter().map(|r| r.epoch.as_str()).collect();
    assert_eq!(days, [day_label(today() - 1), day_label(today())]);
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("epoch {} of key", day_label(first + 1))) && err.contains("(2 records)"),
        "{err}"
    );
}

// The only test of this binary that uses the process's key of the day.
#[test]
fn client_pseudonyms_of_the_day_are_stable_within_the_day_and_never_stored() {
    let logs = TempDir::new("keys-daily-ip");
    let day = today();
    let at = |d: i64, s: i64| d * DAY + s;
    let (a, b) = ([127, 0, 0, 2], [127, 0, 0, 3]);
    let records = serve(
        &logs,
        privlog::builder().policy(Policy::new().ip(IpPolicy::PseudonymizeDaily)),
        &[
            (at(day, 10), "x", a),
            (at(day, 20), "x", b),
            (at(day, 80_000), "x", a),
            (at(day + 1, 10), "x", a),
            (at(day + 1, 20), "x", b),
        ],
    );
    let rec = support::records::read_records(&records);
    let client: Vec<String> = rec.iter().map(|r| r.client.clone().expect("client")).collect();
    assert_eq!(client.len(), 5);
    assert_eq!(client[0], client[2], "same address, same day");
    assert_ne!(client[0], client[1], "another address");
    assert_ne!(client[3], client[0], "next day, unlinkable");
    assert_ne!(client[4], client[1], "next day, unlinkable");
    assert!(client.iter().all(|c| c.len() == 22 && !c.contains("127.")));
    // Nothing but the records was written: the key of the day stays in memory.
    let names: Vec<_> = std::fs::read_dir(&logs)
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("records.ndjson")]);
}

#[test]
fn a_configuration_naming_a_ratchet_key_file_uses_it_and_its_rotation() {
    let dir = key_dir("keys-config");
    let (file, key) = ratchet_file(&dir, today() - 2, [4; 32]);
    let toml = format!(
        "[key]\nfile = {}\n[policy]\nrotation = \"monthly\"\n{}",
        support::cli::quoted(&file),
        support::cli::STDOUT
    );
    let out = support::cli::check(&dir, &toml, &[]);
    assert!(out.status.success(), "{}", support::cli::all_output(&out));
    let shown = support::cli::all_output(&out);
    assert!(
        shown.contains(&format!(
            "{}, ratchet key, rotation daily replaces the policy's",
            key.id()
        )),
        "{shown}"
    );
    let cfg = privlog::config::Config::from_toml(&toml, std::iter::empty()).expect("valid");
    let (_layer, guard) = cfg.build().expect("builds with the ratchet key");
    guard.shutdown();
}
