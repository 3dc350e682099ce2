//! `privlog check` (not built yet).

/// Arguments of `privlog check`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> crate::CliResult {
    Err("`privlog check` is not available in this build".into())
}
