//! `privlog schema`: SQL that makes record files queryable in DuckDB or ClickHouse.

use std::io::Write as _;
use std::process::ExitCode;

/// Arguments of `privlog schema`.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  privlog schema duckdb --files 'logs/*.ndjson*' > privlog.sql && duckdb -init privlog.sql
  privlog schema clickhouse | clickhouse-client --multiquery
  privlog schema duckdb --queries    # also print the analyst queries")]
pub(crate) struct Args {
    /// The database to write SQL for.
    #[arg(value_enum)]
    pub(crate) database: Database,
    /// The record files the DuckDB view reads (a glob; .gz files are read too).
    /// For ClickHouse, the file named in the load command.
    #[arg(long, default_value = "records/*.ndjson*", value_name = "GLOB")]
    pub(crate) files: String,
    /// Also print the analyst queries: daily active accounts, top routes,
    /// error rate, latency percentiles.
    #[arg(long)]
    pub(crate) queries: bool,
}

/// A database privlog writes SQL for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Database {
    /// A view over `read_json(...)` with explicit column types.
    Duckdb,
    /// A MergeTree table, loaded with JSONEachRow.
    Clickhouse,
}

const DUCKDB: [(&str, &str); 5] = [
    ("schema", include_str!("../../../sql/duckdb/schema.sql")),
    (
        "daily_active_accounts",
        include_str!("../../../sql/duckdb/daily_active_accounts.sql"),
    ),
    ("top_routes", include_str!("../../../sql/duckdb/top_routes.sql")),
    ("error_rate", include_str!("../../../sql/duckdb/error_rate.sql")),
    (
        "latency_percentiles",
        include_str!("../../../sql/duckdb/latency_percentiles.sql"),
    ),
];

const CLICKHOUSE: [(&str, &str); 5] = [
    ("schema", include_str!("../../../sql/clickhouse/schema.sql")),
    (
        "daily_active_accounts",
        include_str!("../../../sql/clickhouse/daily_active_accounts.sql"),
    ),
    ("top_routes", include_str!("../../../sql/clickhouse/top_routes.sql")),
    ("error_rate", include_str!("../../../sql/clickhouse/error_rate.sql")),
    (
        "latency_percentiles",
        include_str!("../../../sql/clickhouse/latency_percentiles.sql"),
    ),
];

pub(crate) fn run(args: Args) -> crate::CliResult {
    let files = &args.files;
    if files.contains(['\n', '\r']) {
        return Err(format!("invalid --files {files:?}: a glob on one line").into());
    }
    let (sql, quoted) = match args.database {
        // A string literal in DuckDB SQL: quotes doubled.
        Database::Duckdb => (&DUCKDB, files.replace('\'', "''")),
        // Shown in a shell comment only.
        Database::Clickhouse => (&CLICKHOUSE, files.clone()),
    };
    let mut out = sql[0].1.replace("{files}", &quoted);
    if args.queries {
        for (name, q) in &sql[1..] {
            out.push_str(&format!("\n-- {name}\n{q}"));
        }
    }
    crate::output::stdout().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
