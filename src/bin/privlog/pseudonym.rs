//! `privlog pseudonym`: an account's (and tenant's) pseudonyms for every epoch
//! of a date range, under every key of the ring. A ratchet key gives none for
//! the epochs whose state was destroyed, says so, and the exit status is 3.

use std::io::Write as _;
use std::process::ExitCode;

use privlog::{Pseudonymizer, Purpose, Rotation};
use time::Date;

use crate::keygen::KeyArgs;

/// Arguments of `privlog pseudonym`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The account ID (e.g. an Atlassian accountId).
    #[arg(long, value_name = "ID")]
    account: String,
    /// A tenant ID (Connect clientKey) to show the pseudonyms of too.
    #[arg(long, value_name = "ID")]
    tenant: Option<String>,
    /// First day of the range (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    from: Date,
    /// Last day of the range (YYYY-MM-DD, UTC), included.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    to: Date,
    /// The rotation the records were written with: none, daily, weekly, monthly (master keys;
    /// a ratchet key's epochs follow its own rotation).
    #[arg(long, default_value = "monthly")]
    rotation: Rotation,
    /// Output: `tsv` (a header row, then kid, epoch, account[, tenant]) or
    /// `json` (one array of objects, for feeding other stores' delete queries).
    #[arg(long, value_enum, default_value = "tsv")]
    format: Format,
    #[command(flatten)]
    keys: KeyArgs,
}

/// Output formats of `privlog pseudonym`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Tab-separated lines with a header row.
    Tsv,
    /// A JSON array of `{"kid", "epoch", "account"[, "tenant"]}` objects.
    Json,
}

pub(crate) fn parse_date(s: &str) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &format).map_err(|_| format!("{s:?} is not a date; write it as YYYY-MM-DD"))
}

/// Every epoch label of `rotation` from `from` to `to`, in order.
pub(crate) fn epochs(rotation: Rotation, from: Date, to: Date) -> Vec<privlog::Epoch> {
    let mut out: Vec<privlog::Epoch> = Vec::new();
    let mut day = from;
    while day <= to {
        let e = rotation.epoch_of(day.midnight().assume_utc());
        if out.last() != Some(&e) {
            out.push(e);
        }
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    out
}

pub(crate) fn run(args: Args) -> crate::CliResult {
    if args.from > args.to {
        return Err(format!("--from {} is after --to {}", args.from, args.to).into());
    }
    if (args.to - args.from).whole_days() > 366 * 20 {
        return Err("the range is longer than 20 years; choose a shorter one".into());
    }
    let ring = args.keys.ring()?;
    let mut out = crate::output::stdout();
    if args.format == Format::Json {
        let mut rows = Vec::new();
        for key in ring.iter() {
            let p = Pseudonymizer::new(key);
            for epoch in epochs(args.rotation, args.from, args.to) {
                let keys = p.epoch_keys(&epoch);
                let mut row = serde_json::json!({
                    "kid": key.id().as_str(),
                    "epoch": epoch.as_str(),
                    "account": keys.pseudonym(Purpose::Account, &args.account).into_string(),
                });
                if let Some(t) = &args.tenant {
                    row["tenant"] = keys.pseudonym(Purpose::Tenant, t).into_string().into();
                }
                rows.push(row);
            }
        }
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "kid\tepoch\taccount{}",
        if args.tenant.is_some() { "\ttenant" } else { "" }
    )?;
    for key in ring.iter() {
        let p = Pseudonymizer::new(key);
        for epoch in epochs(args.rotation, args.from, args.to) {
            let keys = p.epoch_keys(&epoch);
            write!(
                out,
                "{}\t{}\t{}",
                key.id(),
                epoch,
                keys.pseudonym(Purpose::Account, &args.account)
            )?;
            if let Some(t) = &args.tenant {
                write!(out, "\t{}", keys.pseudonym(Purpose::Tenant, t))?;
            }
            writeln!(out)?;
        }
    }
    let mut destroyed = 0u64;
    for key in ring.ratchets() {
        for epoch in epochs(key.rotation(), args.from, args.to) {
            match key.epoch_keys(&epoch) {
                Ok(keys) => {
                    write!(
                        out,
                        "{}\t{}\t{}",
                        key.id(),
                        epoch,
                        keys.pseudonym(Purpose::Account, &args.account)
                    )?;
                    if let Some(t) = &args.tenant {
                        write!(out, "\t{}", keys.pseudonym(Purpose::Tenant, t))?;
                    }
                    writeln!(out)?;
                }
                Err(e) => {
                    destroyed += 1;
                    writeln!(std::io::stderr().lock(), "{}: no pseudonym: {e}", key.id())?;
                }
            }
        }
    }
    if destroyed > 0 {
        // Distinct from success: some asked-for epochs have no pseudonym.
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}
