//! `privlog stats` (not built yet).

/// Arguments of `privlog stats`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> crate::CliResult {
    Err("`privlog stats` is not available in this build".into())
}
