//! Erasing an account's records from a ClickHouse table the HTTP sink's
//! ClickHouse encoding fills, over ClickHouse's HTTP interface.
//!
//! The table holds, like record files, only pseudonyms: the erase first asks
//! which keys (`kid`) and epochs the table holds records of, derives the
//! accounts' pseudonyms for each with [`account_pseudonyms`], counts the rows
//! to delete, deletes them in batches and counts again. The erase is
//! complete when no row of the accounts is left and no row was made with a
//! key the ring does not hold.
//!
//! Deleting uses what the server supports: a lightweight
//! `DELETE FROM … WHERE …` on ClickHouse 23.3 and later, otherwise (or when
//! the table refuses it) a mutation, `ALTER TABLE … DELETE WHERE …`, waited
//! for with `mutations_sync = 2` where the server knows that setting and by
//! watching `system.mutations` where it does not.
//!
//! ```no_run
//! use std::path::Path;
//! use privlog::policy::KeyRing;
//! use privlog::subject::clickhouse::{ClickHouseTarget, erase};
//!
//! let ring = KeyRing::load(Path::new("/etc/privlog/keys"))?;
//! let target = ClickHouseTarget::new("http://127.0.0.1:8123/", "privlog_requests")?
//!     .user("privlog_eraser")
//!     .password("…");
//! let report = erase(&target, &ring, &["557058:f00d".to_owned()], false)?;
//! assert!(report.complete());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use zeroize::Zeroizing;

use super::account_pseudonyms;
use crate::policy::KeyRing;
use crate::sink::http::{check_url, shown};

/// The most pseudonyms one statement names, unless [`ClickHouseTarget::batch`]
/// says otherwise: about 30 KiB of SQL, far below ClickHouse's
/// `max_query_size` (256 KiB).
pub const DEFAULT_BATCH: usize = 1000;

/// How long an erase waits for the server, unless
/// [`ClickHouseTarget::wait`] says otherwise.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(600);

/// Where to erase: a ClickHouse server's HTTP interface, a table, and the
/// credentials to use. `Debug` never shows the password.
#[derive(Clone)]
pub struct ClickHouseTarget {
    url: String,
    table: String,
    database: Option<String>,
    user: Option<String>,
    password: Option<Zeroizing<String>>,
    wait: Duration,
    batch: usize,
}

impl fmt::Debug for ClickHouseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseTarget")
            .field("url", &shown(&self.url))
            .field("table", &self.table)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("wait", &self.wait)
            .field("batch", &self.batch)
            .finish()
    }
}

impl ClickHouseTarget {
    /// The server at `url` (`http://host:8123/` or `https://…`) and `table`
    /// (`name` or `database.name`).
    ///
    /// # Errors
    /// When the URL is not an http(s) URL or holds credentials (they belong
    /// in [`user`](Self::user) and [`password`](Self::password); the URL is
    /// then not shown), or the table is not a plain name.
    pub fn new(url: &str, table: &str) -> Result<Self, ClickHouseError> {
        check_url(url).map_err(|reason| ClickHouseError::Url {
            reason: reason.replace("collector url", "clickhouse url"),
        })?;
        let ident = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let (database, name) = match table.split_once('.') {
            Some((db, t)) => (Some(db), t),
            None => (None, table),
        };
        if !ident(name) || !database.is_none_or(ident) {
            return Err(ClickHouseError::Table {
                table: table.chars().take(100).collect(),
            });
        }
        Ok(ClickHouseTarget {
            url: url.to_owned(),
            table: table.to_owned(),
            database: database.map(str::to_owned),
            user: None,
            password: None,
            wait: DEFAULT_WAIT,
            batch: DEFAULT_BATCH,
        })
    }

    /// Sign in as `user` (HTTP basic authentication).
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_owned());
        self
    }

    /// Sign in with `password` (for [`user`](Self::user), or for ClickHouse's
    /// `default` user when none is set).
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(Zeroizing::new(password.to_owned()));
        self
    }

    /// How long to wait for the server: for one answer, and for the
    /// deletions to be carried out. Default [`DEFAULT_WAIT`].
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The most pseudonyms one statement names (at least 1). Default
    /// [`DEFAULT_BATCH`].
    pub fn batch(mut self, pseudonyms: usize) -> Self {
        self.batch = pseudonyms.max(1);
        self
    }

    /// The URL as messages show it: scheme, host and port.
    pub fn shown_url(&self) -> String {
        shown(&self.url)
    }

    /// The table, as given.
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// How rows were deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteMethod {
    /// Nothing was deleted: a dry run, or no row to delete.
    None,
    /// `DELETE FROM … WHERE …` (ClickHouse 23.3 and later): the rows are
    /// hidden at once and removed from disk when parts merge.
    Lightweight,
    /// `ALTER TABLE … DELETE WHERE …`: a mutation that rewrites the parts
    /// holding the rows, waited for.
    Mutation,
}

impl fmt::Display for DeleteMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeleteMethod::None => "none",
            DeleteMethod::Lightweight => "lightweight delete",
            DeleteMethod::Mutation => "mutation (alter table delete)",
        })
    }
}

/// The rows of one key and epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotReport {
    /// The key's fingerprint.
    pub kid: String,
    /// The epoch label.
    pub epoch: String,
    /// Rows of the accounts before the erase.
    pub before: u64,
    /// Rows of the accounts after it (0 when the erase is complete; equal to
    /// `before` in a dry run).
    pub after: u64,
}

/// What an erase found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EraseReport {
    /// The server's version (`SELECT version()`).
    pub server_version: String,
    /// How rows were deleted.
    pub method: DeleteMethod,
    /// Delete statements sent.
    pub statements: u64,
    /// Per key and epoch the table holds rows of the accounts in: rows
    /// before and after.
    pub slots: Vec<SlotReport>,
    /// Rows with an account made with a key the ring does not hold, per key
    /// fingerprint: they may belong to the accounts.
    pub unknown_keys: BTreeMap<String, u64>,
    /// Rows with an account under an epoch label no rotation writes (not
    /// records privlog wrote; they cannot be attributed).
    pub unreadable: u64,
    /// Whether this was a dry run (counted, nothing deleted).
    pub dry_run: bool,
}

impl EraseReport {
    /// Rows of the accounts found before the erase.
    pub fn before(&self) -> u64 {
        self.slots.iter().map(|s| s.before).sum()
    }

    /// Rows of the accounts left after the erase.
    pub fn remaining(&self) -> u64 {
        self.slots.iter().map(|s| s.after).sum()
    }

    /// Whether the accounts have no row left in the table (not after a dry
    /// run that found some) and every row's key is in the ring.
    pub fn complete(&self) -> bool {
        self.remaining() == 0 && self.unknown_keys.is_empty()
    }
}

/// Why an erase in ClickHouse failed. Messages show the URL only as scheme,
/// host and port, never credentials.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClickHouseError {
    /// The URL is not usable.
    Url {
        /// Why (without the URL when it may hold a secret).
        reason: String,
    },
    /// The table name is not a plain name.
    Table {
        /// The name (at most 100 characters).
        table: String,
    },
    /// The server refused the user name or password.
    Auth {
        /// The URL as shown.
        url: String,
        /// The user signed in as.
        user: String,
    },
    /// The table (or its database) does not exist.
    NoTable {
        /// The URL as shown.
        url: String,
        /// The table.
        table: String,
    },
    /// The server could not be reached or did not answer in time.
    Unreachable {
        /// The URL as shown.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with an error.
    Server {
        /// The URL as shown.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The first line of the server's message (at most 300 characters).
        message: String,
    },
}

impl fmt::Display for ClickHouseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClickHouseError::Url { reason } => f.write_str(reason),
            ClickHouseError::Table { table } => write!(
                f,
                "invalid clickhouse table name {table:?}: use letters, digits and `_`, optionally `database.table`"
            ),
            ClickHouseError::Auth { url, user } => write!(
                f,
                "clickhouse at {url} refused user {user:?} and its password: check the user name and the \
                 password (PRIVLOG_CLICKHOUSE_PASSWORD or --password-file); nothing was deleted"
            ),
            ClickHouseError::NoTable { url, table } => write!(
                f,
                "clickhouse at {url} has no table {table}: name the table the http sink inserts into \
                 (--table, `database.table` for another database); nothing was deleted"
            ),
            ClickHouseError::Unreachable { url, reason } => write!(
                f,
                "cannot reach clickhouse at {url}: {reason}; check the url and that the server runs, then run \
                 again (what was deleted stays deleted)"
            ),
            ClickHouseError::Server { url, status, message } => write!(
                f,
                "clickhouse at {url} answered {status}: {message}; run again once it is fixed (what was \
                 deleted stays deleted)"
            ),
        }
    }
}

impl std::error::Error for ClickHouseError {}

/// ClickHouse exception codes: syntax error, unknown table, unknown
/// database, unknown setting, not implemented, support is disabled, unknown
/// user, wrong password, required password, authentication failed.
const SYNTAX_ERROR: u32 = 62;
const UNKNOWN_TABLE: u32 = 60;
const UNKNOWN_DATABASE: u32 = 81;
const UNKNOWN_SETTING: u32 = 115;
const NOT_IMPLEMENTED: u32 = 48;
const SUPPORT_IS_DISABLED: u32 = 344;
const AUTH_ERRORS: &[u32] = &[192, 193, 194, 516];

/// An error answer: HTTP status, exception code, first line of the message.
struct Refusal {
    status: u16,
    code: Option<u32>,
    message: String,
}

/// One HTTP conversation with the server.
struct Conn<'a> {
    target: &'a ClickHouseTarget,
    agent: ureq::Agent,
    auth: Option<Zeroizing<String>>,
}

impl<'a> Conn<'a> {
    fn new(target: &'a ClickHouseTarget) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(target.wait))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("privlog/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let auth = match (&target.user, &target.password) {
            (None, None) => None,
            (user, password) => {
                let creds = Zeroizing::new(format!(
                    "{}:{}",
                    user.as_deref().unwrap_or("default"),
                    password.as_deref().map_or("", |p| p.as_str())
                ));
                Some(Zeroizing::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(creds.as_bytes())
                )))
            }
        };
        Conn { target, agent, auth }
    }

    /// Sends `sql` with the URL parameters `params`; the body, or the refusal.
    fn send(&self, sql: &str, params: &str) -> Result<Result<String, Refusal>, ClickHouseError> {
        let sep = if self.target.url.contains('?') { '&' } else { '?' };
        let url = if params.is_empty() {
            self.target.url.clone()
        } else {
            format!("{}{sep}{params}", self.target.url)
        };
        let mut req = self
            .agent
            .post(&url)
            .header("Content-Type", "text/plain; charset=utf-8");
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth.as_str());
        }
        let mut resp = req.send(sql).map_err(|e| ClickHouseError::Unreachable {
            url: self.target.shown_url(),
            reason: unreachable_reason(&e),
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(16 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| ClickHouseError::Unreachable {
                url: self.target.shown_url(),
                reason: unreachable_reason(&e),
            })?;
        if status == 200 {
            return Ok(Ok(body));
        }
        let first = body.lines().next().unwrap_or("").trim();
        let code = first
            .strip_prefix("Code: ")
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u32>().ok());
        Ok(Err(Refusal {
            status,
            code,
            message: first.chars().take(300).collect(),
        }))
    }

    /// Sends `sql`; a refusal becomes the error it means.
    fn query(&self, sql: &str, params: &str) -> Result<String, ClickHouseError> {
        self.send(sql, params)?.map_err(|r| self.error(r))
    }

    fn error(&self, r: Refusal) -> ClickHouseError {
        let url = self.target.shown_url();
        if r.status == 401 || r.status == 403 || r.code.is_some_and(|c| AUTH_ERRORS.contains(&c)) {
            return ClickHouseError::Auth {
                url,
                user: self.target.user.clone().unwrap_or_else(|| "default".to_owned()),
            };
        }
        if matches!(r.code, Some(UNKNOWN_TABLE | UNKNOWN_DATABASE)) {
            return ClickHouseError::NoTable {
                url,
                table: self.target.table.clone(),
            };
        }
        ClickHouseError::Server {
            url,
            status: r.status,
            message: r.message,
        }
    }
}

fn unreachable_reason(e: &ureq::Error) -> String {
    // ureq's messages can name the URL; keep only its kind of failure.
    match e {
        ureq::Error::Timeout(_) => "no answer within the wait (--wait)".to_owned(),
        ureq::Error::Io(io) => format!("{}", io.kind()).to_lowercase(),
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::Tls(what) => format!("tls failed: {what}").to_lowercase(),
        ureq::Error::Rustls(e) => format!("tls failed: {e}").to_lowercase(),
        _ => "the request failed".to_owned(),
    }
}

/// A ClickHouse string literal.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A value of a `JSONEachRow` row: a string, or a number (64-bit integers
/// come quoted).
fn field_str(row: &serde_json::Value, name: &str) -> String {
    match row.get(name) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

fn field_u64(row: &serde_json::Value, name: &str) -> u64 {
    match row.get(name) {
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        Some(v) => v.as_u64().unwrap_or(0),
        None => 0,
    }
}

/// Rows of a `FORMAT JSONEachRow` answer.
fn rows(conn: &Conn<'_>, body: &str) -> Result<Vec<serde_json::Value>, ClickHouseError> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|_| ClickHouseError::Server {
                url: conn.target.shown_url(),
                status: 200,
                message: "an answer that is not JSONEachRow".to_owned(),
            })
        })
        .collect()
}

/// One key and epoch with its pseudonyms, a part of a statement's condition.
struct Part {
    kid: String,
    epoch: String,
    pseudonyms: Vec<String>,
}

fn condition(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| {
            let list: Vec<String> = p.pseudonyms.iter().map(|s| literal(s)).collect();
            format!(
                "(kid = {} AND epoch = {} AND account IN ({}))",
                literal(&p.kid),
                literal(&p.epoch),
                list.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Parts grouped into batches of at most `batch` pseudonyms.
fn batches(slots: Vec<Part>, batch: usize) -> Vec<Vec<Part>> {
    let mut out: Vec<Vec<Part>> = Vec::new();
    let mut current: Vec<Part> = Vec::new();
    let mut size = 0;
    for slot in slots {
        for chunk in slot.pseudonyms.chunks(batch) {
            if size + chunk.len() > batch && !current.is_empty() {
                out.push(std::mem::take(&mut current));
                size = 0;
            }
            size += chunk.len();
            current.push(Part {
                kid: slot.kid.clone(),
                epoch: slot.epoch.clone(),
                pseudonyms: chunk.to_vec(),
            });
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `(major, minor)` of a version string such as `23.8.2.7`.
fn version_of(v: &str) -> (u32, u32) {
    let mut it = v.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// Deletes the records of `accounts` (raw account IDs) from the target's
/// table: every key of `ring` and every epoch the table holds rows of.
/// With `dry_run`, only counts.
///
/// The returned report says, per key and epoch, how many rows there were
/// before and are after; [`EraseReport::complete`] says whether the erase is
/// done.
///
/// # Errors
/// When the server cannot be reached, refuses the credentials, has no such
/// table, or fails a statement. Statements already carried out stay carried
/// out; running the erase again finishes the work.
pub fn erase(
    target: &ClickHouseTarget,
    ring: &KeyRing,
    accounts: &[String],
    dry_run: bool,
) -> Result<EraseReport, ClickHouseError> {
    let conn = Conn::new(target);
    let server_version = conn.query("SELECT version()", "")?.trim().to_owned();
    let table = &target.table;
    let found = conn.query(
        &format!(
            "SELECT kid, epoch, count() AS n FROM {table} WHERE account IS NOT NULL GROUP BY kid, epoch \
             ORDER BY kid, epoch FORMAT JSONEachRow"
        ),
        "",
    )?;
    let mut unknown_keys = BTreeMap::new();
    let mut unreadable = 0;
    let mut parts = Vec::new();
    for row in rows(&conn, &found)? {
        let (kid, epoch, n) = (field_str(&row, "kid"), field_str(&row, "epoch"), field_u64(&row, "n"));
        match account_pseudonyms(ring, &kid, &epoch, accounts) {
            Some(mut pseudonyms) => {
                pseudonyms.sort();
                pseudonyms.dedup();
                parts.push(Part { kid, epoch, pseudonyms });
            }
            None if ring.get(&kid).is_none() => *unknown_keys.entry(kid).or_insert(0) += n,
            None => unreadable += n,
        }
    }
    let batches = batches(parts, target.batch);
    let mut slots: BTreeMap<(String, String), SlotReport> = BTreeMap::new();
    for batch in &batches {
        for (kid, epoch, n) in count(&conn, table, batch)? {
            slots.insert(
                (kid.clone(), epoch.clone()),
                SlotReport {
                    kid,
                    epoch,
                    before: n,
                    after: n,
                },
            );
        }
    }
    let mut report = EraseReport {
        server_version,
        method: DeleteMethod::None,
        statements: 0,
        slots: Vec::new(),
        unknown_keys,
        unreadable,
        dry_run,
    };
    if !dry_run && !slots.is_empty() {
        let mut lightweight = version_of(&report.server_version) >= (23, 3);
        let mut sync_setting = true;
        for batch in &batches {
            if !batch
                .iter()
                .any(|p| slots.contains_key(&(p.kid.clone(), p.epoch.clone())))
            {
                continue;
            }
            let cond = condition(batch);
            if lightweight {
                match conn.send(&format!("DELETE FROM {table} WHERE {cond}"), "")? {
                    Ok(_) => {
                        report.method = DeleteMethod::Lightweight;
                        report.statements += 1;
                        continue;
                    }
                    // Not for this table (an engine or projection that
                    // refuses it) or switched off: a mutation instead.
                    Err(r) if matches!(r.code, Some(NOT_IMPLEMENTED | SUPPORT_IS_DISABLED | SYNTAX_ERROR)) => {
                        lightweight = false;
                    }
                    Err(r) => return Err(conn.error(r)),
                }
            }
            let alter = format!("ALTER TABLE {table} DELETE WHERE {cond}");
            let sent = if sync_setting {
                match conn.send(&alter, "mutations_sync=2")? {
                    Err(r) if r.code == Some(UNKNOWN_SETTING) => {
                        sync_setting = false;
                        conn.send(&alter, "")?
                    }
                    other => other,
                }
            } else {
                conn.send(&alter, "")?
            };
            sent.map_err(|r| conn.error(r))?;
            report.method = DeleteMethod::Mutation;
            report.statements += 1;
        }
        if report.method == DeleteMethod::Mutation {
            wait_for_mutations(&conn, target)?;
        }
        for slot in slots.values_mut() {
            slot.after = 0;
        }
        for batch in &batches {
            for (kid, epoch, n) in count(&conn, table, batch)? {
                if let Some(slot) = slots.get_mut(&(kid, epoch)) {
                    slot.after = n;
                }
            }
        }
    }
    report.slots = slots.into_values().collect();
    Ok(report)
}

/// Rows per key and epoch matching a batch's condition.
fn count(conn: &Conn<'_>, table: &str, batch: &[Part]) -> Result<Vec<(String, String, u64)>, ClickHouseError> {
    let body = conn.query(
        &format!(
            "SELECT kid, epoch, count() AS n FROM {table} WHERE {} GROUP BY kid, epoch FORMAT JSONEachRow",
            condition(batch)
        ),
        "",
    )?;
    Ok(rows(conn, &body)?
        .iter()
        .map(|r| (field_str(r, "kid"), field_str(r, "epoch"), field_u64(r, "n")))
        .collect())
}

/// Waits until the table has no mutation left to do (a server without
/// `mutations_sync` answers the `ALTER` before the mutation is carried out),
/// at most the target's wait; a mutation still running then shows as rows
/// left in the report.
fn wait_for_mutations(conn: &Conn<'_>, target: &ClickHouseTarget) -> Result<(), ClickHouseError> {
    let (database, name) = match (&target.database, target.table.split_once('.')) {
        (Some(db), Some((_, t))) => (literal(db), literal(t)),
        _ => ("currentDatabase()".to_owned(), literal(&target.table)),
    };
    let sql =
        format!("SELECT count() FROM system.mutations WHERE database = {database} AND table = {name} AND is_done = 0");
    let deadline = Instant::now() + target.wait;
    let mut pause = Duration::from_millis(20);
    loop {
        if conn.query(&sql, "")?.trim() == "0" || Instant::now() >= deadline {
            return Ok(());
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("a'b\\c"), "'a\\'b\\\\c'");
    }

    #[test]
    fn batches_hold_at_most_the_batch_size() {
        let part = |k: &str, n: usize| Part {
            kid: k.to_owned(),
            epoch: "2026-11".to_owned(),
            pseudonyms: (0..n).map(|i| format!("p{i}")).collect(),
        };
        let b = batches(vec![part("a", 5), part("b", 2), part("c", 1)], 3);
        let sizes: Vec<Vec<usize>> = b
            .iter()
            .map(|b| b.iter().map(|p| p.pseudonyms.len()).collect())
            .collect();
        assert_eq!(sizes, vec![vec![3], vec![2], vec![2, 1]]);
    }

    #[test]
    fn credentials_in_the_url_are_refused_and_never_shown() {
        let e = ClickHouseTarget::new("http://writer:s3cretPW@127.0.0.1:8123/", "t").expect_err("refused");
        let msg = e.to_string();
        assert!(!msg.contains("s3cretPW") && !msg.contains("writer"), "{msg}");
        assert!(msg.contains("clickhouse url contains credentials"), "{msg}");
        let t = ClickHouseTarget::new("http://127.0.0.1:8123/", "db.t")
            .expect("valid")
            .password("s3cretPW");
        assert!(!format!("{t:?}").contains("s3cretPW"));
        assert!(ClickHouseTarget::new("http://127.0.0.1:8123/", "t; DROP TABLE x").is_err());
        assert!(ClickHouseTarget::new("http://127.0.0.1:8123/", "a.b.c").is_err());
    }

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert!(version_of("23.3.1.2823") >= (23, 3));
        assert!(version_of("18.16.1") < (23, 3));
        assert!(version_of("24.1") >= (23, 3));
    }
}
