//! `privlog check CONFIG`: validate a configuration file as starting the
//! service would, without starting or creating anything, and print the
//! effective policy (never the key).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use privlog::config::Config;

/// Arguments of `privlog check`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The TOML configuration file. `PRIVLOG__…` environment variables override its fields.
    config: PathBuf,
}

pub(crate) fn run(args: Args) -> crate::CliResult {
    let cfg = Config::load_os(&args.config, std::env::vars_os())?;
    // The checks `Config::build` runs before it opens a sink, in the same code.
    cfg.validate()?;
    let mut out = crate::output::stdout();
    write!(out, "{}", cfg.describe()?)?;
    writeln!(out, "{}: ok", args.config.display())?;
    Ok(ExitCode::SUCCESS)
}
