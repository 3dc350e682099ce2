//! `privlog subject` (not built yet).

/// Data-subject requests.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Every record of one account (right of access).
    Export,
    /// Rewrite files without one account's records.
    Erase,
}

pub(crate) fn run(_cmd: Command) -> crate::CliResult {
    Err("`privlog subject` is not available in this build".into())
}
