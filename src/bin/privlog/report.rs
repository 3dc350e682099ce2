//! `privlog report` (not built yet).

/// Arguments of `privlog report`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> crate::CliResult {
    Err("`privlog report` is not available in this build".into())
}
