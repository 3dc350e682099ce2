//! `privlog audit` (not built yet).

/// Arguments of `privlog audit`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> crate::CliResult {
    Err("`privlog audit` is not available in this build".into())
}
