//! `privlog keygen` (not built yet).

/// Arguments of `privlog keygen`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> crate::CliResult {
    Err("`privlog keygen` is not available in this build".into())
}
