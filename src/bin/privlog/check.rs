//! `privlog check CONFIG`: validate a configuration file as starting the
//! service would, without starting or creating anything, and print the
//! effective policy (never the key).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use privlog::config::{Config, ConfigError};

/// How the result is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// The effective policy and sinks, then `CONFIG: ok`; a problem as `error: …` on standard error.
    Text,
    /// One JSON document on standard output: `ok`, the `problems` (field, reason, message), the sinks
    /// (name, type, description) and the description; as `privlog audit --format json`, `ok` is its verdict.
    Json,
}

/// Arguments of `privlog check`.
#[derive(clap::Args)]
#[command(after_help = crate::EXIT_CODES)]
pub(crate) struct Args {
    /// The TOML configuration file. `PRIVLOG__…` environment variables override its fields
    /// (`PRIVLOG__SINKS__<NAME>__FIELD` for a sink's field).
    config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub(crate) fn run(args: Args) -> crate::CliResult {
    match args.format {
        Format::Text => {
            let cfg = load(&args)?;
            let mut out = crate::output::stdout();
            write!(out, "{}", cfg.describe()?)?;
            writeln!(out, "{}: ok", args.config.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Format::Json => {
            let (doc, code) = match load(&args).and_then(|cfg| Ok((cfg.describe()?, cfg))) {
                Ok((description, cfg)) => {
                    let sinks: Vec<serde_json::Value> = cfg
                        .sinks
                        .iter()
                        .zip(cfg.sink_names())
                        .map(|(s, name)| {
                            serde_json::json!({ "name": name, "type": s.kind(), "description": s.describe() })
                        })
                        .collect();
                    let doc = serde_json::json!({
                        "config": args.config.display().to_string(),
                        "ok": true,
                        "problems": [],
                        "sinks": sinks,
                        "description": description,
                    });
                    (doc, ExitCode::SUCCESS)
                }
                Err(e) => {
                    let (field, reason) = match &e {
                        ConfigError::Invalid { field, reason } => (Some(field.clone()), reason.clone()),
                        other => (None, other.to_string()),
                    };
                    let doc = serde_json::json!({
                        "config": args.config.display().to_string(),
                        "ok": false,
                        "problems": [{ "field": field, "reason": reason, "message": e.to_string() }],
                        "sinks": [],
                    });
                    (doc, ExitCode::from(crate::EXIT_ERROR))
                }
            };
            let mut out = crate::output::stdout();
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
            out.flush()?;
            Ok(code)
        }
    }
}

/// The configuration, loaded and checked as `Config::build` checks it
/// before it opens a sink, in the same code.
fn load(args: &Args) -> Result<Config, ConfigError> {
    let cfg = Config::load_os(&args.config, std::env::vars_os())?;
    cfg.validate()?;
    Ok(cfg)
}
