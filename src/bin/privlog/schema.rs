//! `privlog schema` (not built yet).

/// Arguments of `privlog schema`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> crate::CliResult {
    Err("`privlog schema` is not available in this build".into())
}
