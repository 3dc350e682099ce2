//! `privlog subject erase --clickhouse`: an account's rows deleted from a
//! real ClickHouse server (scripts/peers/clickhouse.sh, on loopback) that the
//! real HTTP sink filled, over two keys and two epochs; refusals named.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use privlog::sink::http::{BatchConfig, ClickHouse, HttpSink};
use privlog::sink::{Ledger, Sink};
use privlog::{MasterKey, Pseudonymizer, Purpose, Record, Rotation};
use support::cli::{bin, text};
use support::files::TempDir;
use time::macros::datetime;

const PASSWORD: &str = "eraser-Pa55-on-loopback";
const TABLE: &str = "privlog_requests";
const DDL: &str = "CREATE TABLE privlog_requests (
    v UInt8, ts DateTime, client Nullable(String), method String, route Nullable(String),
    path String, query Nullable(String), status Nullable(UInt16), req_bytes UInt64,
    resp_bytes UInt64, ttfb_us Nullable(UInt64), duration_us UInt64, outcome String,
    proto String, account Nullable(String), tenant Nullable(String), epoch String, kid String
) ENGINE = MergeTree ORDER BY ts";

/// A private ClickHouse server with the user `privlog_eraser`, stopped when dropped.
struct Server {
    dir: TempDir,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let dir = TempDir::new("subject-clickhouse");
        let out = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/peers/clickhouse.sh"))
            .arg("start")
            .arg(&*dir)
            .env("CLICKHOUSE_ERASER_PASSWORD", PASSWORD)
            .output()
            .expect("run clickhouse.sh");
        assert!(
            out.status.success(),
            "ClickHouse did not start ({}): install it with scripts/install-peers.sh (Debian package clickhouse-server)",
            text(&out.stderr).trim()
        );
        let port = text(&out.stdout)
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http_port="))
            .and_then(|p| p.parse().ok())
            .expect("clickhouse.sh prints http_port=N");
        Server { dir, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Runs one statement as `default`; the body, failing the test on an error.
    fn sql(&self, q: &str) -> String {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut resp = agent.post(&self.url()).send(q).expect("clickhouse answers");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().expect("body");
        assert_eq!(status, 200, "{q}: {body}");
        body
    }

    /// Every row as a TSV line, in a stable order.
    fn dump(&self) -> Vec<String> {
        self.sql(&format!(
            "SELECT * FROM {TABLE} ORDER BY ts, path, kid, epoch, account FORMAT TSV"
        ))
        .lines()
        .map(str::to_owned)
        .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/peers/clickhouse.sh"))
            .arg("stop")
            .arg(&*self.dir)
            .status();
    }
}

const ACCOUNTS: [&str; 3] = ["557058:jane", "557058:joe", "5b10:ann"];

fn keys() -> [MasterKey; 2] {
    [MasterKey::from_bytes([21; 32]), MasterKey::from_bytes([42; 32])]
}

/// Records of every account (and some of none) under both keys in two
/// monthly epochs: `(key, month)` slots, three records of each account in each.
fn records() -> Vec<Record> {
    let mut out = Vec::new();
    for key in &keys() {
        for start in [datetime!(2026-10-03 8:00 UTC), datetime!(2026-11-05 8:00 UTC)] {
            let epoch = Rotation::Monthly.epoch_of(start);
            for i in 0..12i64 {
                let ts = start + time::Duration::minutes(i);
                let mut r = Record::new(ts, "GET", format!("/items/{i}"));
                r.account = ACCOUNTS.get(i as usize % 4).map(|a| {
                    Pseudonymizer::new(key)
                        .pseudonym(Purpose::Account, &epoch, a)
                        .into_string()
                });
                r.epoch = epoch.as_str().to_owned();
                r.kid = key.id().as_str().to_owned();
                out.push(r);
            }
        }
    }
    out
}

/// The records inserted by the HTTP sink (as user `privlog_eraser`), waited
/// for until every one is delivered.
fn fill(server: &Server, records: &[Record]) {
    server.sql(DDL);
    let mut sink = HttpSink::builder(server.url())
        .encoder(ClickHouse::new(TABLE).expect("table"))
        .basic_auth("privlog_eraser", PASSWORD)
        .batch(BatchConfig::new().max_records(10))
        .build()
        .expect("sink");
    let ledger = Ledger::detached("clickhouse");
    sink.attach(ledger.clone());
    sink.write(records).expect("write");
    let limit = Instant::now() + support::PATIENCE;
    while ledger.stats().delivered < records.len() as u64 {
        assert!(Instant::now() < limit, "{:?}", ledger.stats());
        sink.tick().expect("tick");
        std::thread::sleep(Duration::from_millis(10));
    }
    sink.close(Instant::now() + Duration::from_secs(5)).expect("close");
    assert_eq!(
        server.sql(&format!("SELECT count() FROM {TABLE}")).trim(),
        records.len().to_string()
    );
}

fn ring_env() -> String {
    keys()
        .iter()
        .map(|k| k.to_hex().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `privlog` with `args`, the key ring in PRIVLOG_KEY and `vars` set.
fn privlog(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("PRIVLOG_CLICKHOUSE_PASSWORD")
        .env_remove("PRIVLOG_CLICKHOUSE_USER")
        .env("PRIVLOG_KEY", ring_env())
        .envs(vars.iter().copied())
        .output()
        .expect("run privlog")
}

/// The `kid  epoch  before  after` rows the erase printed.
fn printed_slots(stdout: &str) -> BTreeMap<(String, String), (u64, u64)> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("kid\tepoch\tbefore\tafter"))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            match f[..] {
                [kid, epoch, before, after] => Some((
                    (kid.to_owned(), epoch.to_owned()),
                    (before.parse().ok()?, after.parse().ok()?),
                )),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn erase_deletes_the_accounts_rows_under_every_key_and_epoch_and_keeps_every_other_row() {
    let server = Server::start();
    let records = records();
    fill(&server, &records);
    let dir = TempDir::new("subject-clickhouse-files");
    let file = dir.join("privlog.ndjson");
    std::fs::write(&file, records.iter().map(Record::to_ndjson).collect::<String>()).expect("write");

    // What `subject export` finds locally, per key and epoch.
    let export = privlog(
        &[
            "subject",
            "export",
            "--account",
            ACCOUNTS[0],
            file.to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(export.status.success(), "{}", text(&export.stderr));
    let mut local: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for line in text(&export.stdout).lines() {
        let r = privlog::record::parse_line(line.as_bytes()).expect("a record");
        local.entry((r.kid, r.epoch)).or_insert((0, 0)).0 += 1;
    }
    assert_eq!(local.len(), 4, "two keys times two epochs: {local:?}");
    let others_before: Vec<String> = server
        .dump()
        .into_iter()
        .filter(|row| !local_pseudonyms().iter().any(|p| row.contains(p.as_str())))
        .collect();

    let url = server.url();
    let args = [
        "subject",
        "erase",
        "--account",
        ACCOUNTS[0],
        "--clickhouse",
        &url,
        "--table",
        TABLE,
        "--user",
        "privlog_eraser",
        "--batch",
        "3",
    ];
    let out = privlog(&args, &[("PRIVLOG_CLICKHOUSE_PASSWORD", PASSWORD)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    // ClickHouse 18.16 has no lightweight delete and no mutations_sync: the
    // mutation path, its fallback and its wait are what run here.
    assert!(stdout.contains("2 delete statements, mutation"), "{stdout}");
    let printed = printed_slots(&stdout);
    let expected: BTreeMap<_, _> = local.iter().map(|(k, (n, _))| (k.clone(), (*n, 0))).collect();
    assert_eq!(printed, expected, "{stdout}");

    // None of the account's rows is left, in any key and epoch.
    for p in local_pseudonyms() {
        assert_eq!(
            server
                .sql(&format!("SELECT count() FROM {TABLE} WHERE account = '{p}'"))
                .trim(),
            "0"
        );
    }
    // Every other row is there, unchanged.
    assert_eq!(server.dump(), others_before);
    assert_eq!(others_before.len(), records.len() - 4 * 3);

    // `privlog pseudonym --format json` lists the very pseudonyms deleted,
    // for stores privlog does not erase in itself.
    let listed = privlog(
        &[
            "pseudonym",
            "--account",
            ACCOUNTS[0],
            "--from",
            "2026-10-01",
            "--to",
            "2026-11-30",
            "--format",
            "json",
        ],
        &[],
    );
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).expect("a json array");
    let mut listed: Vec<String> = rows
        .iter()
        .map(|r| r["account"].as_str().expect("account").to_owned())
        .collect();
    let mut deleted = local_pseudonyms();
    listed.sort();
    deleted.sort();
    assert_eq!(listed, deleted);

    // Nothing left: a second run finds nothing and says the erase is complete.
    let again = privlog(&args, &[("PRIVLOG_CLICKHOUSE_PASSWORD", PASSWORD)]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("0 rows of the accounts found, 0 deleted, 0 left"),
        "{}",
        text(&again.stderr)
    );
}

/// The first account's pseudonyms under both keys in both epochs.
fn local_pseudonyms() -> Vec<String> {
    let mut out = Vec::new();
    for key in &keys() {
        for ts in [datetime!(2026-10-03 8:00 UTC), datetime!(2026-11-05 8:00 UTC)] {
            let epoch = Rotation::Monthly.epoch_of(ts);
            out.push(
                Pseudonymizer::new(key)
                    .pseudonym(Purpose::Account, &epoch, ACCOUNTS[0])
                    .into_string(),
            );
        }
    }
    out
}

#[test]
fn refusals_are_named_exit_2_and_delete_nothing() {
    let server = Server::start();
    let records = records();
    fill(&server, &records);
    let before = server.dump();
    let url = server.url();
    let shown = format!("http://127.0.0.1:{}/", server.port);
    let erase = |table: &str, vars: &[(&str, &str)]| {
        privlog(
            &[
                "subject",
                "erase",
                "--account",
                ACCOUNTS[0],
                "--clickhouse",
                &url,
                "--table",
                table,
                "--user",
                "privlog_eraser",
            ],
            vars,
        )
    };

    // A wrong password: the URL named, the password never shown.
    let wrong = "not-the-Pa55word";
    let out = erase(TABLE, &[("PRIVLOG_CLICKHOUSE_PASSWORD", wrong)]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!("clickhouse at {shown} refused user \"privlog_eraser\"")),
        "{all}"
    );
    assert!(all.contains("PRIVLOG_CLICKHOUSE_PASSWORD or --password-file"), "{all}");
    assert!(!all.contains(wrong), "{all}");

    // The right password from a file, but a table that does not exist.
    let dir = TempDir::new("subject-clickhouse-pw");
    let pw = dir.join("password");
    std::fs::write(&pw, format!("{PASSWORD}\n")).expect("write");
    let out = privlog(
        &[
            "subject",
            "erase",
            "--account",
            ACCOUNTS[0],
            "--clickhouse",
            &url,
            "--table",
            "no_such_table",
            "--user",
            "privlog_eraser",
            "--password-file",
            pw.to_str().expect("utf-8"),
        ],
        &[],
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!("clickhouse at {shown} has no table no_such_table")),
        "{all}"
    );
    assert!(!all.contains(PASSWORD), "{all}");

    // Credentials in the URL are refused before anything is sent, and not shown.
    let with_creds = format!("http://privlog_eraser:{PASSWORD}@127.0.0.1:{}/", server.port);
    let out = privlog(
        &[
            "subject",
            "erase",
            "--account",
            ACCOUNTS[0],
            "--clickhouse",
            &with_creds,
            "--table",
            TABLE,
        ],
        &[],
    );
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("clickhouse url contains credentials"), "{all}");
    assert!(!all.contains(PASSWORD), "{all}");

    assert_eq!(server.dump(), before, "nothing was deleted");
}

#[test]
fn rows_under_a_key_missing_from_the_ring_make_the_erase_incomplete() {
    let server = Server::start();
    let records = records();
    fill(&server, &records);
    let url = server.url();
    // Only the second key: the first key's rows cannot be attributed.
    let only_new = keys()[1].to_hex().to_string();
    let out = privlog(
        &[
            "subject",
            "erase",
            "--account",
            ACCOUNTS[0],
            "--clickhouse",
            &url,
            "--table",
            TABLE,
        ],
        &[("PRIVLOG_KEY", only_new.as_str())],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let old_kid = keys()[0].id().as_str().to_owned();
    // 9 rows with an account per epoch under the old key, two epochs.
    assert!(
        stderr.contains(&format!("warning: 18 clickhouse rows were made with key {old_kid}")),
        "{stderr}"
    );
    // What the ring can attribute is deleted all the same.
    let new_kid = keys()[1].id().as_str().to_owned();
    let printed = printed_slots(&text(&out.stdout));
    assert_eq!(printed.len(), 2, "{printed:?}");
    assert!(
        printed
            .iter()
            .all(|((k, _), (b, a))| *k == new_kid && *b == 3 && *a == 0)
    );
}
