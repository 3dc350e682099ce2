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

/// The exit status of an error: the command could not do its work.
pub(crate) const EXIT_ERROR: u8 = 2;

/// The exit status of a usage error (bad or missing arguments): `EX_USAGE`
/// of sysexits.h, so it never reads as one of the commands' own statuses.
const EXIT_USAGE: u8 = 64;

/// The exit statuses, as every `--help` lists them.
pub(crate) const EXIT_CODES: &str = "Exit status:
  0   done; nothing found (check: the configuration is valid; audit: the files are clean)
  1   findings (audit: personal data or secrets found; subject: records made with a key missing from \
the ring, or rows left in ClickHouse)
  2   error: the command could not do its work (check: the configuration is invalid; a file that cannot be \
read or written; retention, subject: some files could not be processed)
  3   pseudonym: some of the epochs asked for have no pseudonym
  64  usage error: bad or missing arguments";

#[derive(Parser)]
#[command(
    name = "privlog",
    version,
    about = "Privacy-preserving request logs: statistics, reports, keys, data-subject requests, audits",
    after_help = EXIT_CODES
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` print to standard output and succeed.
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
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
            ExitCode::from(EXIT_ERROR)
        }
    }
}
