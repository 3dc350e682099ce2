//! Operator tools end to end: keys made with `privlog keygen`, real traffic
//! through the real layer over sockets (several accounts, three monthly
//! epochs, a key rotation), then `privlog pseudonym`, `subject export`,
//! `subject erase`, `audit` and `retention` run as the real binary.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use privlog::sink::FileSink;
use privlog::{MasterKey, Policy};
use support::files::{TempDir, lines, read_text};
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const JANE: &str = "557058:0c7b7d4e-6a4b-4c6b-9b7e-1f2e3d4c5b6a";
const JOE: &str = "557058:1d8c8e5f-7b5c-4d7c-8c8f-2a3b4c5d6e7f";
const ANN: &str = "5b10ac8d82e05b22cc7d4ef5";
const TENANTS: [&str; 2] = ["client-key-acme-0001", "client-key-globex-0002"];

fn privlog(args: &[&str], key_env: Option<&str>) -> Output {
    let mut cmd = Command::new(support::cli::bin());
    cmd.args(args).env_remove("PRIVLOG_KEY");
    if let Some(k) = key_env {
        cmd.env("PRIVLOG_KEY", k);
    }
    cmd.output().expect("run privlog")
}

fn connect_jwt(sub: &str, iss: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"{sub}","iss":"{iss}","qsh":"x"}}"#));
    format!("{header}.{payload}.c2lnbmF0dXJlLW5vdC1jaGVja2Vk")
}

async fn http_get(addr: SocketAddr, path: &str, jwt: Option<&str>) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = jwt.map(|j| format!("Authorization: JWT {j}\r\n")).unwrap_or_default();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-Forwarded-For: 198.51.100.9\r\nCookie: session=s3cr3tS3ss10nValue123456\r\n{auth}Connection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("send");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.expect("read");
    String::from_utf8_lossy(&resp).into_owned()
}

/// Serves one day of traffic under `key` with the clock set to `day`, writing
/// records to `file`; returns how many requests each account made.
async fn serve_day(key: &MasterKey, day: OffsetDateTime, file: &Path) -> BTreeMap<&'static str, usize> {
    let now = SystemTime::from(day);
    let (layer, guard) = privlog::builder()
        .key(key.clone())
        .policy(Policy::atlassian_connect())
        .sink(FileSink::open(file).expect("file sink"))
        .clock(move || now)
        .build()
        .expect("layer");
    let app = Router::new()
        .route(
            "/rest/items/{id}",
            get(|UrlPath(id): UrlPath<String>| async move { format!("item {id}") }),
        )
        .route("/rest/users/{user}/profile", get(|| async { "profile" }))
        .route("/health", get(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    let mut made = BTreeMap::new();
    for (n, account) in [JANE, JOE, ANN].into_iter().enumerate() {
        let jwt = connect_jwt(account, TENANTS[n % 2]);
        // Personal data and secrets the policy must keep out of the records.
        let paths = [
            "/rest/items/42?lic=active".to_owned(),
            format!("/rest/users/jane.doe@example.com/profile?jwt={jwt}&api_key=AKIAIOSFODNN7EXAMPLE9"),
            format!("/rest/items/{account}?token=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2Q"),
        ];
        for p in &paths {
            let resp = http_get(addr, p, Some(&jwt)).await;
            assert!(resp.starts_with("HTTP/1.1 200"), "{p}: {resp}");
        }
        made.insert(account, paths.len());
    }
    let resp = http_get(addr, "/health", None).await;
    assert!(resp.starts_with("HTTP/1.1 200"));
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
    let report = tokio::task::spawn_blocking(move || guard.shutdown())
        .await
        .expect("shutdown");
    assert!(report.complete && report.stats.is_balanced(), "{:?}", report.stats);
    made
}

fn gzip_in_place(path: &Path) -> PathBuf {
    let data = std::fs::read(path).expect("read");
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).expect("create"), Default::default());
    enc.write_all(&data).expect("gzip");
    enc.finish().expect("finish");
    std::fs::remove_file(path).expect("remove");
    gz
}

/// `(kid, epoch, pseudonym)` rows printed by `privlog pseudonym`.
fn pseudonyms(account: &str, keys: &Path) -> HashSet<(String, String, String)> {
    let keys = keys.to_str().expect("utf-8");
    let out = privlog(
        &[
            "pseudonym",
            "--account",
            account,
            "--from",
            "2026-10-01",
            "--to",
            "2026-12-31",
            "--key-file",
            keys,
        ],
        None,
    );
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    support::cli::text(&out.stdout)
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

struct Fixture {
    dir: TempDir,
    keys: PathBuf,
    files: Vec<PathBuf>,
    /// Original (decompressed) content of each file.
    originals: Vec<Vec<u8>>,
    jane_requests: usize,
}

/// Two keys from `privlog keygen` (rotated on 1 December) and five days of
/// traffic over three monthly epochs; two of the five files gzip-compressed.
async fn fixture(tag: &str) -> Fixture {
    let dir = TempDir::new(tag);
    let keys = dir.join("keys");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&keys).expect("keys dir");
    std::fs::create_dir_all(&logs).expect("logs dir");
    // Only its owner may write a key directory, whatever the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let mut ring = Vec::new();
    for name in ["2026-10.key", "2026-12.key"] {
        let p = keys.join(name);
        let out = privlog(&["keygen", "-o", p.to_str().expect("utf-8")], None);
        assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
        let key = MasterKey::from_hex(&std::fs::read_to_string(&p).expect("key file")).expect("key");
        assert_eq!(
            support::cli::text(&out.stdout).trim(),
            key.id().as_str(),
            "keygen prints the fingerprint"
        );
        ring.push(key);
    }
    let days = [
        (0, datetime!(2026-10-05 09:30 UTC)),
        (0, datetime!(2026-10-20 14:00 UTC)),
        (0, datetime!(2026-11-03 08:15 UTC)),
        (1, datetime!(2026-12-01 00:05 UTC)),
        (1, datetime!(2026-12-15 23:50 UTC)),
    ];
    let mut files = Vec::new();
    let mut jane_requests = 0;
    for (k, day) in days {
        let file = logs.join(format!("privlog.{}.0000.ndjson", day.date()));
        let made = serve_day(&ring[k], day, &file).await;
        jane_requests += made[JANE];
        files.push(file);
    }
    files[1] = gzip_in_place(&files[1]);
    files[4] = gzip_in_place(&files[4]);
    let originals = files.iter().map(|f| read_text(f)).collect();
    Fixture {
        dir,
        keys,
        files,
        originals,
        jane_requests,
    }
}

fn paths(files: &[PathBuf]) -> Vec<&str> {
    files.iter().map(|f| f.to_str().expect("utf-8")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_erase_one_account_leaves_every_other_line_byte_for_byte() {
    let fx = fixture("erase").await;
    let keys = fx.keys.to_str().expect("utf-8");
    let jane = pseudonyms(JANE, &fx.keys);
    assert_eq!(jane.len(), 6, "two keys × three monthly epochs");

    // What belongs to jane, decided from `privlog pseudonym`'s output alone.
    let mut expected_export = Vec::new();
    let mut expected_after = Vec::new();
    for original in &fx.originals {
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
    assert_eq!(lines(&expected_export).len(), fx.jane_requests);
    // jane's records span both keys
    let kids: HashSet<String> = lines(&expected_export)
        .iter()
        .map(|l| serde_json::from_slice::<serde_json::Value>(l).expect("json")["kid"].to_string())
        .collect();
    assert_eq!(kids.len(), 2);

    // Right of access: NDJSON is the original lines, CSV one row per record.
    let mut args = vec!["subject", "export", "--account", JANE, "--key-file", keys];
    args.extend(paths(&fx.files));
    let out = privlog(&args, None);
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    assert_eq!(out.stdout, expected_export);
    let csv_path = fx.dir.join("jane.csv");
    let mut args = vec![
        "subject",
        "export",
        "--format",
        "csv",
        "-o",
        csv_path.to_str().expect("utf-8"),
    ];
    args.extend(["--account", JANE, "--key-file", keys]);
    args.extend(paths(&fx.files));
    assert!(privlog(&args, None).status.success());
    let csv = std::fs::read_to_string(&csv_path).expect("csv");
    assert_eq!(csv.lines().count(), fx.jane_requests + 1);
    assert!(csv.lines().next().is_some_and(|h| h.starts_with("v,ts,client,method")));

    // A dry run changes nothing.
    let mut args = vec!["subject", "erase", "--dry-run", "--account", JANE, "--key-file", keys];
    args.extend(paths(&fx.files));
    let out = privlog(&args, None);
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    for (f, original) in fx.files.iter().zip(&fx.originals) {
        assert_eq!(&read_text(f), original);
    }

    // Erasing with only the old key: the records under the new key cannot be
    // attributed, the command says so and exits 1.
    let old_key = fx.keys.join("2026-10.key");
    let mut args = vec![
        "subject",
        "erase",
        "--account",
        JANE,
        "--key-file",
        old_key.to_str().expect("utf-8"),
    ];
    args.extend(paths(&fx.files));
    let out = privlog(&args, None);
    assert_eq!(out.status.code(), Some(1), "{}", support::cli::text(&out.stderr));
    let new_kid = MasterKey::from_hex(&std::fs::read_to_string(fx.keys.join("2026-12.key")).expect("key"))
        .expect("key")
        .id();
    assert!(
        support::cli::text(&out.stderr).contains(new_kid.as_str()),
        "{}",
        support::cli::text(&out.stderr)
    );

    // With the whole ring (from PRIVLOG_KEY this time) every record goes.
    let ring_text = ["2026-10.key", "2026-12.key"]
        .map(|n| std::fs::read_to_string(fx.keys.join(n)).expect("key"))
        .concat();
    let mut args = vec!["subject", "erase", "--account", JANE];
    args.extend(paths(&fx.files));
    let out = privlog(&args, Some(&ring_text));
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    for (i, f) in fx.files.iter().enumerate() {
        assert_eq!(read_text(f), expected_after[i], "{}", f.display());
        let gz = f.extension().is_some_and(|e| e == "gz");
        assert_eq!(
            std::fs::read(f).expect("read").starts_with(&[0x1f, 0x8b]),
            gz,
            "{}",
            f.display()
        );
    }
    let leftovers = std::fs::read_dir(fx.files[0].parent().expect("dir"))
        .expect("dir")
        .count();
    assert_eq!(leftovers, fx.files.len(), "no temporary files remain");

    // Nothing of jane is left; joe's records are all still there.
    let mut args = vec!["subject", "export", "--account", JANE, "--key-file", keys];
    args.extend(paths(&fx.files));
    let out = privlog(&args, None);
    assert!(out.status.success() && out.stdout.is_empty());
    let mut args = vec!["subject", "export", "--account", JOE, "--key-file", keys];
    args.extend(paths(&fx.files));
    assert_eq!(lines(&privlog(&args, None).stdout).len(), fx.jane_requests);
    let _ = std::fs::remove_dir_all(&fx.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_takes_accounts_from_a_personal_data_report() {
    let fx = fixture("report").await;
    let report = fx.dir.join("report.json");
    std::fs::write(
        &report,
        format!(
            r#"{{"accounts":[{{"accountId":"{JOE}","status":"closed"}},{{"accountId":"{ANN}","status":"closed"}},{{"accountId":"{JANE}","status":"updated"}}]}}"#
        ),
    )
    .expect("write");
    let keys = fx.keys.to_str().expect("utf-8");
    let mut args = vec![
        "subject",
        "erase",
        "--accounts-file",
        report.to_str().expect("utf-8"),
        "--key-file",
        keys,
    ];
    args.extend(paths(&fx.files));
    let out = privlog(&args, None);
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    // Only jane's records and the anonymous ones remain.
    let jane = pseudonyms(JANE, &fx.keys);
    for f in &fx.files {
        for l in lines(&read_text(f)) {
            let v: serde_json::Value = serde_json::from_slice(l).expect("json");
            assert!(
                v["account"].is_null() || owned_by(l, &jane),
                "{}",
                String::from_utf8_lossy(l)
            );
        }
    }
    // Several accounts exported together need one file each.
    let out_dir = fx.dir.join("exports");
    let mut args = vec![
        "subject",
        "export",
        "--account",
        JANE,
        "--account",
        JOE,
        "--key-file",
        keys,
    ];
    args.extend(["--out-dir", out_dir.to_str().expect("utf-8")]);
    args.extend(paths(&fx.files));
    let out = privlog(&args, None);
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    let jane_file = std::fs::read(out_dir.join("557058_0c7b7d4e-6a4b-4c6b-9b7e-1f2e3d4c5b6a.ndjson")).expect("jane");
    assert_eq!(lines(&jane_file).len(), fx.jane_requests);
    let joe_file = std::fs::read(out_dir.join("557058_1d8c8e5f-7b5c-4d7c-8c8f-2a3b4c5d6e7f.ndjson")).expect("joe");
    assert!(joe_file.is_empty());
    let _ = std::fs::remove_dir_all(&fx.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_finds_nothing_in_privlog_output_of_traffic_full_of_secrets() {
    let fx = fixture("audit-clean").await;
    let mut args = vec!["audit"];
    args.extend(paths(&fx.files));
    let out = privlog(&args, None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        support::cli::text(&out.stdout),
        support::cli::text(&out.stderr)
    );
    assert!(support::cli::text(&out.stdout).is_empty());
    assert!(
        support::cli::text(&out.stderr).contains("0 findings in 5 files, 50 lines"),
        "{}",
        support::cli::text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&fx.dir);
}

const UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// A combined-format access log (with the Authorization header appended, as
/// some servers are configured) with personal data and secrets planted on
/// known lines. Returns the text and, per kind, the lines of each finding.
fn access_log() -> (String, BTreeMap<&'static str, Vec<u64>>) {
    let mut text = String::new();
    let mut planted: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    for i in 1..=400u64 {
        let client = if i % 5 == 0 {
            planted.entry("ipv6").or_default().push(i);
            format!("2001:db8:{i:x}::7")
        } else {
            planted.entry("ipv4").or_default().push(i);
            format!("198.51.100.{}", i % 250 + 1)
        };
        let mut path = format!("/rest/items/{}", i % 97);
        let mut referer = "https://app.example.com/dashboard".to_owned();
        let mut auth = "-".to_owned();
        if i % 23 == 5 {
            path = format!("/rest/accounts/{JOE}/history");
            planted.entry("account_id").or_default().push(i);
        }
        if i % 17 == 3 {
            path.push_str(&format!("/users/jane.doe{i}%40example.com/profile"));
            planted.entry("email").or_default().push(i);
        }
        if i % 19 == 4 {
            path.push_str(&format!("?jwt={}", connect_jwt(JANE, TENANTS[0])));
            planted.entry("jwt").or_default().push(i);
        }
        if i % 29 == 6 {
            auth = format!("Bearer tok{i}x9Qm2LrT");
            planted.entry("credential").or_default().push(i);
        }
        if i % 31 == 7 {
            path.push_str(&format!("?download=1&sig=Q2hhbmdlTWVOb3dQbGVhc2U4Nzg5{i:04}"));
            planted.entry("token").or_default().push(i);
        }
        if i % 37 == 8 {
            referer = "https://admin:hunter2@intranet.example.com/".to_owned();
            planted.entry("credential").or_default().push(i);
        }
        if i % 41 == 9 {
            path.push_str("?user=x&password=correct-horse");
            planted.entry("credential").or_default().push(i);
        }
        text.push_str(&format!(
            "{client} - - [22/Nov/2026:09:{:02}:{:02} +0000] \"GET {path} HTTP/1.1\" 200 {} \"{referer}\" \"{UA}\" \"{auth}\"\n",
            (i / 60) % 60,
            i % 60,
            100 + i
        ));
    }
    for v in planted.values_mut() {
        v.sort_unstable();
    }
    (text, planted)
}

#[test]
fn audit_finds_every_planted_item_in_a_raw_access_log_with_its_line() {
    let dir = TempDir::new("audit-raw");
    let (text, planted) = access_log();
    let log = dir.join("access.log");
    std::fs::write(&log, &text).expect("write");
    let out = privlog(&["audit", "--examples", "1000", log.to_str().expect("utf-8")], None);
    assert_eq!(out.status.code(), Some(1), "{}", support::cli::text(&out.stderr));
    let report = support::cli::text(&out.stdout);
    assert!(!report.contains("jane.doe"), "findings are masked");
    assert!(
        !report.contains("hunter2") && !report.contains("correct-horse"),
        "findings are masked"
    );
    let mut found: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut kind = String::new();
    for l in report.lines() {
        if let Some(example) = l.strip_prefix("  ") {
            let loc = example.split_whitespace().next().expect("location");
            let line: u64 = loc.rsplit(':').next().expect("line").parse().expect("number");
            found.entry(kind.clone()).or_default().push(line);
        } else {
            let (k, n) = l.split_once(": ").expect("kind: count");
            kind = k.to_owned();
            counts.insert(k.to_owned(), n.parse().expect("count"));
        }
    }
    for v in found.values_mut() {
        v.sort_unstable();
    }
    let expected: BTreeMap<String, Vec<u64>> = planted.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    assert_eq!(found, expected);
    let expected_counts: BTreeMap<String, usize> = planted.iter().map(|(k, v)| ((*k).to_owned(), v.len())).collect();
    assert_eq!(counts, expected_counts);

    // The same log gzip-compressed gives the same findings.
    let gz = gzip_in_place(&log);
    let again = privlog(&["audit", "--examples", "1000", gz.to_str().expect("utf-8")], None);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(support::cli::text(&again.stdout).replace(".log.gz:", ".log:"), report);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn audit_of_a_missing_file_exits_2() {
    let out = privlog(&["audit", "/nonexistent/access.log"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(support::cli::text(&out.stderr).contains("/nonexistent/access.log"));
}

#[test]
fn keygen_refuses_to_overwrite_and_readable_key_files_are_refused() {
    let dir = TempDir::new("keygen");
    let key = dir.join("k.key");
    let k = key.to_str().expect("utf-8");
    assert!(privlog(&["keygen", "-o", k], None).status.success());
    let original = std::fs::read(&key).expect("read");
    let again = privlog(&["keygen", "-o", k], None);
    assert_eq!(again.status.code(), Some(2));
    assert!(support::cli::text(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(&key).expect("read"), original);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let out = privlog(
            &[
                "pseudonym",
                "--account",
                "a",
                "--from",
                "2026-11-01",
                "--to",
                "2026-11-02",
                "--key-file",
                k,
            ],
            None,
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(
            support::cli::text(&out.stderr).contains(&format!("chmod 600 {k}")),
            "{}",
            support::cli::text(&out.stderr)
        );
    }
    let printed = privlog(&["keygen", "--stdout"], None);
    let hex = support::cli::text(&printed.stdout);
    let parsed = MasterKey::from_hex(hex.trim()).expect("a key");
    assert!(support::cli::text(&printed.stderr).contains(parsed.id().as_str()));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn pseudonym_lists_each_epoch_of_the_range_for_each_key() {
    let a = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let b = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
    let ring = format!("{a}\n{b}\n");
    let out = privlog(
        &[
            "pseudonym",
            "--account",
            JANE,
            "--tenant",
            TENANTS[0],
            "--from",
            "2026-11-29",
            "--to",
            "2026-12-02",
            "--rotation",
            "daily",
        ],
        Some(&ring),
    );
    assert!(out.status.success(), "{}", support::cli::text(&out.stderr));
    let text = support::cli::text(&out.stdout);
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 8);
    let key = MasterKey::from_hex(b).expect("key");
    let epoch = privlog::Epoch::from_label("2026-12-01").expect("epoch");
    let keys = privlog::Pseudonymizer::new(&key).epoch_keys(&epoch);
    let row = rows
        .iter()
        .find(|r| r[0] == key.id().as_str() && r[1] == "2026-12-01")
        .expect("row");
    assert_eq!(row[2], keys.pseudonym(privlog::Purpose::Account, JANE).as_str());
    assert_eq!(row[3], keys.pseudonym(privlog::Purpose::Tenant, TENANTS[0]).as_str());
}

#[test]
fn retention_deletes_only_old_record_files() {
    let dir = TempDir::new("retention");
    let old = SystemTime::now() - Duration::from_secs(90 * 86_400);
    let today = OffsetDateTime::now_utc().date();
    let long_ago = today - time::Duration::days(60);
    let names = [
        format!("privlog.{long_ago}.0000.ndjson"),
        format!("privlog.{long_ago}.0001.ndjson.gz"),
        format!("privlog.{today}.0000.ndjson"),
        "access.log".to_owned(),
        format!("notes.{long_ago}.txt"),
    ];
    for n in &names {
        let f = std::fs::File::create(dir.join(n)).expect("create");
        f.set_modified(old).expect("mtime");
    }
    let d = dir.to_str().expect("utf-8");
    let dry = privlog(&["retention", "--max-age", "30d", "--dry-run", d], None);
    assert!(dry.status.success(), "{}", support::cli::text(&dry.stderr));
    assert_eq!(support::cli::text(&dry.stdout).lines().count(), 2);
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), names.len());
    let real = privlog(&["retention", "--max-age", "30d", d], None);
    assert!(real.status.success(), "{}", support::cli::text(&real.stderr));
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    left.sort();
    let mut expected = vec![names[2].clone(), names[3].clone(), names[4].clone()];
    expected.sort();
    assert_eq!(left, expected);
    let _ = std::fs::remove_dir_all(dir);
}
