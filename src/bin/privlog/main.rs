//! `privlog`: tools for analysts and operators over privlog record files.
//!
//! ```sh
//! cargo run --features cli --bin privlog -- --help
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod audit;
mod check;
mod keygen;
mod keys;
mod output;
mod pseudonym;
mod report;
mod retention;
mod schema;
mod stats;
mod subject;
mod subject_clickhouse;

/// What a subcommand returns: its exit code, or an error printed as
/// `error: …` with its causes.
pub(crate) type CliResult = Result<ExitCode, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(
    name = "privlog",
    version,
    about = "Privacy-preserving request logs: statistics, reports, keys, data-subject requests, audits"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a configuration file as starting the service would, creating nothing, and print the effective policy (never the key).
    Check(check::Args),
    /// Anonymized usage statistics from record files, with k-anonymity.
    Stats(stats::Args),
    /// A self-contained HTML report with charts.
    Report(report::Args),
    /// SQL that creates `privlog_records` for DuckDB or ClickHouse.
    Schema(schema::Args),
    /// Generate a new random key.
    Keygen(keygen::Args),
    /// Key upkeep: destroy ratchet key states older than the retention period, list what each key can link.
    #[command(subcommand)]
    Keys(keys::Command),
    /// An account's pseudonyms over a range of epochs.
    Pseudonym(pseudonym::Args),
    /// Data-subject requests: export or erase one account's records.
    #[command(subcommand)]
    Subject(subject::Command),
    /// Delete record files older than a limit.
    Retention(retention::Args),
    /// Scan log files for personal data and secrets.
    Audit(audit::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(a) => check::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Report(a) => report::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Keygen(a) => keygen::run(a),
        Command::Keys(c) => keys::run(c),
        Command::Pseudonym(a) => pseudonym::run(a),
        Command::Subject(c) => subject::run(c),
        Command::Retention(a) => retention::run(a),
        Command::Audit(a) => audit::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                msg.push_str(&format!("\n  caused by: {s}"));
                source = s.source();
            }
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
