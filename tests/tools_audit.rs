//! `privlog audit` over a realistic Confluence/Jira access log in nginx
//! combined format (with X-Forwarded-For and Host columns) mixed with
//! privlog records: every line carrying personal data or a secret is
//! flagged, clean lines are not; `--rules` and `--format json` over a real
//! file with the real binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use privlog::audit::scan_line;

const UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

fn privlog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_privlog"))
        .args(args)
        .output()
        .expect("run privlog")
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("privlog-tools-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
    fn base62(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n).map(|_| char::from(A[self.below(62) as usize])).collect()
    }
    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-8{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }
}

/// Common first and last names (the detectors' test list).
fn names() -> Vec<&'static str> {
    include_str!("../src/policy/detect/testdata/names.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// A Luhn-valid card number: `prefix` then random digits, 16 in all.
fn card(rng: &mut Rng) -> String {
    let prefix = rng.pick(&["4", "51", "52", "55", "6011", "37"]);
    let mut body = format!("{prefix}{}", rng.digits(15 - prefix.len()));
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let t = d * 2;
                if t > 9 { t - 9 } else { t }
            } else {
                d
            }
        })
        .sum();
    body.push(char::from(b'0' + ((10 - sum % 10) % 10) as u8));
    body
}

/// A German IBAN with valid check digits.
fn iban(rng: &mut Rng) -> String {
    let bban = rng.digits(18);
    // DE = 13 14; remainder of BBAN + "131400".
    let rem = format!("{bban}131400")
        .bytes()
        .fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - rem)
}

/// A US SSN that could be issued.
fn ssn(rng: &mut Rng) -> String {
    let area = 1 + rng.below(665);
    let area = if area == 666 { 667 } else { area };
    format!("{area:03}-{:02}-{:04}", 1 + rng.below(99), 1 + rng.below(9999))
}

fn jwt(rng: &mut Rng) -> String {
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ{}.{}",
        rng.base62(40),
        rng.base62(43)
    )
}

/// One access-log line: client, time, request, referer, X-Forwarded-For, Host.
fn access(client: &str, i: u64, target: &str, referer: &str, xff: &str, host: &str) -> String {
    format!(
        "{client} - - [22/Nov/2026:09:{:02}:{:02} +0000] \"GET {target} HTTP/1.1\" 200 {} \"{referer}\" \"{UA}\" \"{xff}\" \"{host}\"",
        (i / 60) % 60,
        i % 60,
        512 + i % 4096
    )
}

/// A line carrying one planted kind (by its report name), or `None` for a
/// clean line.
fn generate(n: u64, seed: u64) -> Vec<(String, Option<&'static str>)> {
    let mut rng = Rng(seed);
    let names = names();
    let site = "confluence.example.com";
    let own_referer = format!("https://{site}/wiki/spaces/DOC/overview");
    let mut lines = Vec::new();
    for i in 0..n {
        let first = rng.pick(&names);
        let last = rng.pick(&names);
        let id = rng.below(900_000) + 1000;
        let line = match rng.below(24) {
            0 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/rest/api/3/user?accountId=557058:{}", rng.uuid()),
                    "-",
                    "-",
                    site,
                ),
                Some("account_id"),
            ),
            1 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/wiki/people/{}", rng.hex(24)),
                    &own_referer,
                    "-",
                    site,
                ),
                Some("account_id"),
            ),
            2 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/wiki/display/~557058:{}", rng.uuid()),
                    "-",
                    "-",
                    site,
                ),
                Some("account_id"),
            ),
            3 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/rest/api/2/user?username={first}.{last}%40example.org"),
                    "-",
                    "-",
                    site,
                ),
                Some("email"),
            ),
            4 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/export/pdf?sig={}", rng.base62(32)),
                    "-",
                    "-",
                    site,
                ),
                Some("token"),
            ),
            5 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/plugins/servlet/ac/macro?jwt={}", jwt(&mut rng)),
                    "-",
                    "-",
                    site,
                ),
                Some("jwt"),
            ),
            6 => {
                let c = card(&mut rng);
                let grouped = format!("{}-{}-{}-{}", &c[..4], &c[4..8], &c[8..12], &c[12..]);
                (
                    access(
                        "127.0.0.1",
                        i,
                        &format!("/billing/card/{grouped}/verify"),
                        "-",
                        "-",
                        site,
                    ),
                    Some("card"),
                )
            }
            7 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/hr/employees/{}/record", ssn(&mut rng)),
                    "-",
                    "-",
                    site,
                ),
                Some("national_id"),
            ),
            8 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/secure/ViewProfile.jspa?name=JIRAUSER{}", 10000 + rng.below(90000)),
                    "-",
                    "-",
                    site,
                ),
                Some("user_key"),
            ),
            9 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/wiki/spaces/DOC/pages/{id}"),
                    &format!("https://{first}-corp.atlassian.net/wiki/home"),
                    "-",
                    site,
                ),
                Some("host"),
            ),
            10 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/rest/api/2/issue/{id}"),
                    "-",
                    "-",
                    &format!("{last}.atlassian.net"),
                ),
                Some("host"),
            ),
            11 => (
                access("127.0.0.1", i, &format!("/display/~{first}.{last}"), "-", "-", site),
                Some("handle"),
            ),
            12 => {
                let target = match rng.below(5) {
                    0 => format!("/u/{first}-{last}"),
                    1 => format!("/people/{first}/{last}"),
                    2 => format!("/users/{first}/avatar"),
                    3 => format!("/secure/ViewProfile.jspa?name={first}{last}"),
                    _ => format!("/users/viewuserprofile.action?username={first}.{last}"),
                };
                (access("127.0.0.1", i, &target, &own_referer, "-", site), Some("name"))
            }
            13 => (
                access(
                    &format!("198.51.{}.{}", rng.below(256), 1 + rng.below(254)),
                    i,
                    "/wiki/index.action",
                    "-",
                    "-",
                    site,
                ),
                Some("ipv4"),
            ),
            14 => (
                access(
                    "127.0.0.1",
                    i,
                    "/wiki/index.action",
                    "-",
                    &format!("203.0.113.{}, 10.0.0.{}", 1 + rng.below(254), 1 + rng.below(254)),
                    site,
                ),
                Some("ipv4"),
            ),
            15 => (
                access(
                    &format!("2001:db8:{:x}::{:x}", rng.below(0xffff), 1 + rng.below(0xfffe)),
                    i,
                    "/",
                    "-",
                    "-",
                    site,
                ),
                Some("ipv6"),
            ),
            16 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/billing/payout?iban={}", iban(&mut rng)),
                    "-",
                    "-",
                    site,
                ),
                Some("iban"),
            ),
            17 => (
                access(
                    "127.0.0.1",
                    i,
                    &format!("/contact/callback?phone=%2B44207946{}", rng.digits(4)),
                    "-",
                    "-",
                    site,
                ),
                Some("phone"),
            ),
            18 => (privlog_record(&mut rng, i), None),
            _ => {
                let target = match rng.below(12) {
                    0 => format!(
                        "/s/-{}/8804/1bwjmqz/1.0/_/download/resources/com.atlassian.auiplugin:ajs/images/icon.png",
                        rng.base62(6).to_ascii_lowercase()
                    ),
                    1 => "/static/css/app.css".to_owned(),
                    2 => "/images/logo.svg?v=2".to_owned(),
                    3 => format!("/wiki/spaces/DOC/pages/{id}/Getting+Started+Guide"),
                    4 => "/display/DOC/Release+Notes".to_owned(),
                    5 => format!("/wiki/rest/api/content/{id}?expand=body.storage,version"),
                    6 => format!("/rest/api/2/issue/PROJ-{}/comment", id % 9973),
                    7 => format!("/rest/agile/1.0/board/{}/sprint?state=active", id % 500),
                    8 => format!("/wiki/download/attachments/{id}/report-2026.pdf?version=1&api=v2"),
                    9 => "/wiki/rest/api/user/current".to_owned(),
                    10 => "/favicon.ico".to_owned(),
                    _ => format!("/rest/api/3/search?jql=project%3DPROJ&startAt={}", id % 100),
                };
                let referer = if rng.below(2) == 0 { own_referer.as_str() } else { "-" };
                (access("127.0.0.1", i, &target, referer, "-", site), None)
            }
        };
        lines.push(line);
    }
    lines
}

/// A privlog record with pseudonyms and allowlisted paths.
fn privlog_record(rng: &mut Rng, i: u64) -> String {
    let path = match rng.below(4) {
        0 => "/u/{text}",
        1 => "/display/{handle}",
        2 => "/rest/api/3/user",
        _ => "/wiki/spaces/{text}/pages/{id}",
    };
    format!(
        "{{\"v\":1,\"ts\":\"2026-11-22T09:30:{:02}.{:03}Z\",\"client\":\"203.0.113.0/24\",\"method\":\"GET\",\"route\":null,\"path\":\"{path}\",\"query\":\"lic=active&cv=1.0\",\"status\":200,\"req_bytes\":0,\"resp_bytes\":{},\"ttfb_us\":840,\"duration_us\":910,\"outcome\":\"completed\",\"proto\":\"HTTP/1.1\",\"account\":\"{}\",\"tenant\":\"{}\",\"epoch\":\"2026-11\",\"kid\":\"k_5d1f0a9c\"}}",
        i % 60,
        i % 1000,
        512 + i % 9000,
        rng.base62(22),
        rng.base62(22)
    )
}

fn kinds_of(line: &str) -> BTreeSet<&'static str> {
    let mut found = BTreeSet::new();
    scan_line(line.as_bytes(), &mut |f| {
        found.insert(f.kind().as_str());
    });
    found
}

#[test]
fn every_line_with_personal_data_is_flagged_and_clean_lines_are_not() {
    let lines = generate(6000, 0x5eed_0001);
    let mut missed = Vec::new();
    let mut false_positives = Vec::new();
    let (mut planted, mut clean) = (BTreeMap::<&str, usize>::new(), 0usize);
    for (line, kind) in &lines {
        let found = kinds_of(line);
        match kind {
            Some(k) => {
                *planted.entry(*k).or_default() += 1;
                if !found.contains(k) {
                    missed.push((k, line.clone(), found));
                }
            }
            None => {
                clean += 1;
                if !found.is_empty() {
                    false_positives.push((line.clone(), found));
                }
            }
        }
    }
    assert!(
        missed.is_empty(),
        "{} planted lines missed: {:#?}",
        missed.len(),
        &missed[..missed.len().min(10)]
    );
    assert!(
        false_positives.is_empty(),
        "{} of {clean} clean lines flagged: {:#?}",
        false_positives.len(),
        &false_positives[..false_positives.len().min(10)]
    );
    // Every kind was planted many times, and a fifth of the lines or more are clean.
    assert!(planted.values().all(|n| *n > 100), "{planted:?}");
    assert!(clean > lines.len() / 5, "{clean}");
}

#[test]
fn findings_are_masked_never_in_full() {
    // What a masked example may show: a kind's fixed parts, the customer
    // site's domain, and runs of at most 4 letters or digits (the first
    // letter of a name, a card's last 4 digits, an IP's first octet, a TLD).
    let fixed = ["atlassian", "JIRAUSER", "557058", "chars", "eyJ"];
    let mut seen = 0;
    for (line, kind) in generate(2000, 0x5eed_0002) {
        if kind.is_none() {
            continue;
        }
        scan_line(line.as_bytes(), &mut |f| {
            let masked = f.masked();
            seen += 1;
            assert!(masked.contains("***"), "{masked}");
            for run in masked.split(|c: char| !c.is_ascii_alphanumeric()) {
                assert!(run.len() <= 4 || fixed.contains(&run), "{line} -> {masked}");
            }
        });
    }
    assert!(seen > 1000, "{seen}");
}

fn write_log(dir: &Path, lines: &[(String, Option<&'static str>)]) -> PathBuf {
    let text: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
    let log = dir.join("access.log");
    std::fs::write(&log, text).expect("write");
    log
}

#[test]
fn json_report_lists_every_flagged_line_with_its_kind_and_exit_code() {
    let dir = tempdir("json");
    let lines = generate(1500, 0x5eed_0003);
    let log = write_log(&dir, &lines);
    let out = privlog(&[
        "audit",
        "--format",
        "json",
        "--examples",
        "100000",
        log.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["files"], 1);
    assert_eq!(doc["lines"], lines.len() as u64);
    assert_eq!(doc["clean"], false);
    let bytes = std::fs::metadata(&log).expect("meta").len();
    assert_eq!(doc["bytes"], bytes);
    let mut flagged: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut total = 0u64;
    for (kind, v) in doc["kinds"].as_object().expect("kinds") {
        let count = v["count"].as_u64().expect("count");
        let examples = v["examples"].as_array().expect("examples");
        assert_eq!(examples.len() as u64, count, "{kind}");
        total += count;
        for e in examples {
            assert_eq!(e["file"], log.to_str().expect("utf-8"));
            let masked = e["masked"].as_str().expect("masked");
            assert!(masked.contains("***"), "{masked}");
            flagged
                .entry(kind.clone())
                .or_default()
                .insert(e["line"].as_u64().expect("line"));
        }
    }
    assert_eq!(doc["findings"], total);
    for (n, (_, kind)) in lines.iter().enumerate() {
        let line_no = n as u64 + 1;
        match kind {
            Some(k) => assert!(
                flagged.get(*k).is_some_and(|s| s.contains(&line_no)),
                "line {line_no} ({k}) not reported"
            ),
            None => assert!(
                flagged.values().all(|s| !s.contains(&line_no)),
                "clean line {line_no} reported"
            ),
        }
    }
    // A clean file: exit 0, an empty `kinds` object.
    let clean: Vec<_> = lines.into_iter().filter(|(_, k)| k.is_none()).collect();
    let log = write_log(&dir, &clean);
    let out = privlog(&["audit", "--format", "json", log.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["clean"], true);
    assert_eq!(doc["findings"], 0);
    assert!(doc["kinds"].as_object().expect("kinds").is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn operator_rules_from_a_file_are_rule_findings_and_a_bad_rule_exits_2() {
    let dir = tempdir("rules");
    let log = dir.join("access.log");
    std::fs::write(
        &log,
        [
            access(
                "127.0.0.1",
                1,
                "/staff/E123456/timesheet",
                "-",
                "-",
                "confluence.example.com",
            ),
            access(
                "127.0.0.1",
                2,
                "/rest/api/2/user/assignable",
                "-",
                "-",
                "confluence.example.com",
            ),
            access("127.0.0.1", 3, "/users/assignable", "-", "-", "confluence.example.com"),
            access("127.0.0.1", 4, "/static/app.css", "-", "-", "confluence.example.com"),
        ]
        .join("\n"),
    )
    .expect("write");
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        r#"
[policy]
safe_words = ["assignable"]

[[policy.rules]]
name = "employee id"
pattern = '^E[0-9]{6}$'
placeholder = "{employee}"
"#,
    )
    .expect("write");
    let log_s = log.to_str().expect("utf-8");
    let out = privlog(&[
        "audit",
        "--rules",
        rules.to_str().expect("utf-8"),
        "--format",
        "json",
        log_s,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let kinds = doc["kinds"].as_object().expect("kinds");
    assert_eq!(kinds.keys().collect::<Vec<_>>(), ["rule:employee id"], "{doc}");
    let rule = &kinds["rule:employee id"];
    assert_eq!(rule["count"], 1);
    assert_eq!(rule["examples"][0]["line"], 1);
    assert_eq!(rule["examples"][0]["masked"], "*** (7 chars)");
    // Without the file, `assignable` after `/users/` is a name, and the
    // employee ID is no finding.
    let out = privlog(&["audit", "--format", "json", log_s]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        doc["kinds"].as_object().expect("kinds").keys().collect::<Vec<_>>(),
        ["name"]
    );
    assert_eq!(doc["kinds"]["name"]["examples"][0]["line"], 3);
    // The text report names the rule too.
    let out = privlog(&["audit", "--rules", rules.to_str().expect("utf-8"), log_s]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("rule:employee id: 1\n"), "{text}");
    assert!(!text.contains("E123456"), "{text}");

    // A bad rule: exit 2, naming the rule and the fix.
    std::fs::write(
        &rules,
        "[[policy.rules]]\nname = \"employee id\"\npattern = \"E[0-9]{6\"\nplaceholder = \"{employee}\"\n",
    )
    .expect("write");
    let out = privlog(&["audit", "--rules", rules.to_str().expect("utf-8"), log_s]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"employee id\"") && err.contains("fix the regular expression"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // A missing rules file: exit 2, naming it.
    let out = privlog(&["audit", "--rules", "/nonexistent/rules.toml", log_s]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/rules.toml"));
    let _ = std::fs::remove_dir_all(dir);
}
