//! `privlog subject erase --clickhouse URL --table NAME`: erasure in the
//! ClickHouse table the HTTP sink inserts into (needs the `http` feature).

use std::path::PathBuf;

use privlog::policy::KeyRing;

/// Where ClickHouse erasure goes.
#[derive(clap::Args)]
pub(crate) struct ClickHouseArgs {
    /// Also delete the accounts' rows from ClickHouse: its HTTP interface
    /// (`http://host:8123/`), without credentials in it. Needs privlog built
    /// with the `http` feature (`--features cli,http`).
    #[arg(long, value_name = "URL", requires = "table")]
    clickhouse: Option<String>,
    /// The ClickHouse table (`name` or `database.name`).
    #[arg(long, value_name = "NAME", requires = "clickhouse")]
    table: Option<String>,
    /// The ClickHouse user (else PRIVLOG_CLICKHOUSE_USER, else `default`).
    #[arg(long, value_name = "NAME", requires = "clickhouse")]
    user: Option<String>,
    /// A file holding the ClickHouse password (its first line). Without it
    /// the password is read from PRIVLOG_CLICKHOUSE_PASSWORD; never give it
    /// on the command line.
    #[arg(long, value_name = "FILE", requires = "clickhouse")]
    password_file: Option<PathBuf>,
    /// Seconds to wait for ClickHouse to answer and to carry out the
    /// deletions.
    #[arg(long, value_name = "SECONDS", default_value_t = 600, requires = "clickhouse")]
    wait: u64,
    /// The most pseudonyms one delete statement names.
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "clickhouse")]
    batch: usize,
}

impl ClickHouseArgs {
    /// Whether a ClickHouse erase was asked for.
    pub(crate) fn given(&self) -> bool {
        self.clickhouse.is_some()
    }
}

/// Erases `accounts` from the table; the exit code: 0 done, 1 rows left or
/// rows under keys missing from the ring (or found in a dry run).
#[cfg(feature = "http")]
pub(crate) fn erase(args: &ClickHouseArgs, ring: &KeyRing, accounts: &[String], dry_run: bool) -> crate::CliResult {
    use std::io::Write as _;
    use std::process::ExitCode;

    use privlog::subject::clickhouse::{ClickHouseTarget, erase};

    let (Some(url), Some(table)) = (&args.clickhouse, &args.table) else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut target = ClickHouseTarget::new(url, table)?
        .wait(std::time::Duration::from_secs(args.wait.max(1)))
        .batch(args.batch);
    let user = args
        .user
        .clone()
        .or_else(|| std::env::var("PRIVLOG_CLICKHOUSE_USER").ok());
    if let Some(user) = &user {
        target = target.user(user);
    }
    if let Some(path) = &args.password_file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
        target = target.password(text.lines().next().unwrap_or(""));
    } else if let Ok(p) = std::env::var("PRIVLOG_CLICKHOUSE_PASSWORD") {
        let p = zeroize::Zeroizing::new(p);
        target = target.password(&p);
    }
    let report = erase(&target, ring, accounts, dry_run)?;
    let mut out = crate::output::stdout();
    let shown = target.shown_url();
    writeln!(
        out,
        "clickhouse {shown} table {} (server {}): {}",
        target.table(),
        report.server_version,
        if dry_run {
            "dry run, nothing deleted".to_owned()
        } else {
            format!("{} delete statements, {}", report.statements, report.method)
        }
    )?;
    writeln!(out, "kid\tepoch\tbefore\tafter")?;
    for s in &report.slots {
        writeln!(out, "{}\t{}\t{}\t{}", s.kid, s.epoch, s.before, s.after)?;
    }
    let mut err = std::io::stderr().lock();
    let verb = if dry_run { "to delete" } else { "deleted" };
    writeln!(
        err,
        "clickhouse: {} rows of the accounts found, {} {verb}, {} left",
        report.before(),
        report.before() - report.remaining(),
        report.remaining()
    )?;
    for (kid, n) in &report.unknown_keys {
        writeln!(
            err,
            "warning: {n} clickhouse rows were made with key {kid}, which is not in the key ring; they may belong \
             to the account. Add that key (--key-file DIR with every key) and run again."
        )?;
    }
    if report.unreadable > 0 {
        writeln!(
            err,
            "warning: {} clickhouse rows have an epoch label privlog never writes; they were not searched",
            report.unreadable
        )?;
    }
    if !report.unknown_keys.is_empty() || (!dry_run && !report.complete()) {
        if !dry_run && report.remaining() > 0 {
            writeln!(
                err,
                "the deletion is not complete: {} rows are left (a mutation may still be running: see \
                 system.mutations); run again",
                report.remaining()
            )?;
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Without the `http` feature: says how to get it.
#[cfg(not(feature = "http"))]
pub(crate) fn erase(_: &ClickHouseArgs, _: &KeyRing, _: &[String], _: bool) -> crate::CliResult {
    Err(
        "this privlog was built without the `http` feature, which --clickhouse needs; build it with \
         `cargo install privlog --features cli,http`"
            .into(),
    )
}
