//! `privlog retention` (not built yet).

/// Arguments of `privlog retention`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> crate::CliResult {
    Err("`privlog retention` is not available in this build".into())
}
