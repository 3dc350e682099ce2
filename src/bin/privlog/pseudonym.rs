//! `privlog pseudonym` (not built yet).

/// Arguments of `privlog pseudonym`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> crate::CliResult {
    Err("`privlog pseudonym` is not available in this build".into())
}
