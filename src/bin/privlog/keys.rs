//! `privlog keys`: destroy the ratchet key states of epochs older than the
//! retention period, and list which epochs each key can still link.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use privlog::policy::{Advanced, KeyRing};
use time::OffsetDateTime;

use crate::keygen::KeyArgs;

/// `privlog keys` subcommands.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Move every ratchet key forward to the oldest epoch inside the retention period, destroying
    /// the older states in its file (run it daily, with the same period as `privlog retention`).
    Advance(AdvanceArgs),
    /// List each key: kind, rotation, and the epochs whose pseudonyms it can still compute.
    Status(StatusArgs),
}

/// Arguments of `privlog keys advance`.
#[derive(clap::Args)]
pub(crate) struct AdvanceArgs {
    /// The retention period: epochs that ended before now minus this can no longer be linked
    /// afterwards (`30d`, `4w`). The current epoch is always kept.
    #[arg(long, value_name = "AGE", value_parser = crate::retention::parse_age)]
    keep: Duration,
    #[command(flatten)]
    keys: KeyArgs,
}

/// Arguments of `privlog keys status`.
#[derive(clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    keys: KeyArgs,
}

pub(crate) fn run(command: Command) -> crate::CliResult {
    match command {
        Command::Advance(a) => advance(a),
        Command::Status(a) => status(&a.keys.ring()?),
    }
}

fn advance(args: AdvanceArgs) -> crate::CliResult {
    if args.keys.file().is_none() {
        return Err("keys advance needs --key-file FILE|DIR: the states it destroys are in key files".into());
    }
    let mut ring = args.keys.ring()?;
    let keep = time::Duration::try_from(args.keep).map_err(|_| "--keep is too long; choose a shorter period")?;
    let report = ring.advance(keep, OffsetDateTime::now_utc())?;
    let mut out = crate::output::stdout();
    for a in &report {
        match a {
            Advanced::Ratchet { kid, file, was, oldest } => writeln!(
                out,
                "{kid}: advanced from {was} to {oldest} in {}; epochs before {oldest} can no longer be linked",
                file.display()
            )?,
            Advanced::Unchanged { kid, oldest } => {
                writeln!(out, "{kid}: unchanged; its oldest epoch {oldest} is inside the period")?
            }
            Advanced::Master { kid } => writeln!(
                out,
                "{kid}: static master key: it can still compute the pseudonyms of every epoch, also those \
                 older than the period; delete its file once its records are gone (new records should use a \
                 ratchet key: `privlog keygen --ratchet -o FILE`)"
            )?,
            _ => {}
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(ring: &KeyRing) -> crate::CliResult {
    let now = OffsetDateTime::now_utc();
    let mut out = crate::output::stdout();
    writeln!(out, "kid\tkind\trotation\toldest\tnewest")?;
    for key in ring.iter() {
        writeln!(out, "{}\tstatic\t-\tany\tany", key.id())?;
    }
    for key in ring.ratchets() {
        let rotation = key.rotation();
        writeln!(
            out,
            "{}\tratchet\t{}\t{}\t{}",
            key.id(),
            rotation.as_str(),
            key.oldest_epoch(),
            rotation.epoch_of(now)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
