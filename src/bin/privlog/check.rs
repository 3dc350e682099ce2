//! `privlog check CONFIG`: validate a configuration file without starting
//! anything and print the effective policy (never the key).

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
    let cfg = Config::load(&args.config, std::env::vars())?;
    print!("{}", cfg.describe()?);
    println!("{}: ok", args.config.display());
    Ok(ExitCode::SUCCESS)
}
