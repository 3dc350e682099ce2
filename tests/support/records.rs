//! Records read back from files and sinks, and hand-built records of traffic
//! that k-anonymity must withhold.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use privlog::sink::MemorySink;
use privlog::{MasterKey, Record};

use super::PATIENCE;

/// Parses every line of an NDJSON record file, failing on any damaged line.
pub fn parse_file(text: &str) -> Vec<Record> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad record line {l:?}: {e}")))
        .collect()
}

/// Reads back every record of the NDJSON file `file`.
pub fn read_records(file: &Path) -> Vec<Record> {
    parse_file(&std::fs::read_to_string(file).expect("readable"))
}

/// Waits until `mem` holds at least `n` records; returns them all.
pub fn wait_records(mem: &MemorySink, n: usize) -> Vec<Record> {
    let until = Instant::now() + PATIENCE;
    while mem.len() < n && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    mem.records()
}

/// The days of [`k_attack_records`] a query may show: the only day with
/// five vouched accounts in one key period, and the day without accounts.
pub const K_SHOWN_DAYS: [&str; 2] = ["2026-11-20", "2026-11-23"];
/// The routes of [`k_attack_records`] a query may show.
pub const K_SHOWN_ROUTES: [&str; 2] = ["/rest/issues/{id}", "/health"];

/// Records made as the layer makes them (pseudonyms from real keys, per
/// epoch) of traffic that k-anonymity must withhold, next to traffic it
/// must show:
///
/// - 2026-11-20: five signed-in people read issues — shown;
/// - 2026-11-21: one person gets a server error on `/rest/secret`;
/// - 2026-11-22: one person on `/macro` across five restarts without a key
///   (a random key each, so five pseudonyms);
/// - one person downloading `/export/{name}` in five monthly epochs
///   (July to November, five pseudonyms);
/// - 2026-11-23: anonymous health checks only — shown;
/// - 2026-11-24: one signed-in person and 300 forged `?jwt=` identities on
///   `/rest/search`.
pub fn k_attack_records(dir: &Path) -> PathBuf {
    use privlog::{AccountSource, Pseudonymizer, Purpose, Rotation};
    let key = MasterKey::from_bytes([7u8; 32]);
    let at = |s: &str| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("time");
    let record = |ts: &str, route: &str, status: u16, who: Option<(&MasterKey, &str, AccountSource)>| {
        let ts = at(ts);
        let mut r = Record::new(ts, "GET", route);
        r.route = Some(route.to_owned());
        r.status = Some(status);
        r.duration_us = 1_000 + u64::from(status);
        r.resp_bytes = 100;
        let epoch = Rotation::Monthly.epoch_of(ts);
        r.epoch = epoch.as_str().to_owned();
        r.kid = key.id().as_str().to_owned();
        if let Some((k, id, src)) = who {
            r.kid = k.id().as_str().to_owned();
            r.account = Some(
                Pseudonymizer::new(k)
                    .pseudonym(Purpose::Account, &epoch, id)
                    .into_string(),
            );
            r.account_src = Some(src);
        }
        r
    };
    let app = AccountSource::App;
    let mut out = Vec::new();
    for i in 0..5 {
        let id = format!("557058:reader-{i}");
        out.push(record(
            "2026-11-20T09:00:00Z",
            "/rest/issues/{id}",
            200,
            Some((&key, &id, app)),
        ));
    }
    out.push(record(
        "2026-11-21T09:00:00Z",
        "/rest/secret",
        500,
        Some((&key, "557058:lone", app)),
    ));
    for restart in 0..5u8 {
        let random = MasterKey::from_bytes([100 + restart; 32]);
        out.push(record(
            "2026-11-22T09:00:00Z",
            "/macro",
            200,
            Some((&random, "557058:lone", app)),
        ));
    }
    for month in 7..=11 {
        let ts = format!("2026-{month:02}-15T09:00:00Z");
        out.push(record(&ts, "/export/{name}", 200, Some((&key, "557058:lone", app))));
    }
    for _ in 0..3 {
        out.push(record("2026-11-23T09:00:00Z", "/health", 200, None));
    }
    out.push(record(
        "2026-11-24T09:00:00Z",
        "/rest/search",
        200,
        Some((&key, "557058:lone", app)),
    ));
    for i in 0..300 {
        let id = format!("557058:forged-{i}");
        out.push(record(
            "2026-11-24T09:00:00Z",
            "/rest/search",
            200,
            Some((&key, &id, AccountSource::Jwt)),
        ));
    }
    let file = dir.join("k-attacks.ndjson");
    let text: String = out.iter().map(Record::to_ndjson).collect();
    std::fs::write(&file, text).expect("write records");
    file
}
