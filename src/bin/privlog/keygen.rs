//! `privlog keygen`: a new random master key, and the key loading every other
//! key-using subcommand shares (`--key-file` or `PRIVLOG_KEY`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use privlog::policy::{KeyRing, RatchetKey, write_key_file, write_ratchet_key_file};
use privlog::{MasterKey, Rotation};

/// Arguments of `privlog keygen`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("dest").required(true).args(["output", "stdout"])))]
pub(crate) struct Args {
    /// Write the key to this new file (mode 0600; an existing file is never overwritten).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print the key to standard output instead (for a secret store).
    #[arg(long, conflicts_with = "ratchet")]
    stdout: bool,
    /// A forward-secure ratchet key instead of a master key: its state moves
    /// forward with `privlog keys advance`, after which older epochs'
    /// pseudonyms can no longer be computed by anyone. Needs --output.
    #[arg(long)]
    ratchet: bool,
    /// The ratchet key's rotation (daily, weekly, monthly); it replaces the
    /// policy's rotation in the service.
    #[arg(long, default_value = "monthly", requires = "ratchet")]
    rotation: Rotation,
}

pub(crate) fn run(args: Args) -> crate::CliResult {
    if args.ratchet {
        let Some(path) = args.output else {
            return Err("--ratchet needs --output FILE: a ratchet key lives in a file that \
                        `privlog keys advance` rewrites"
                .into());
        };
        let key = RatchetKey::generate(args.rotation, time::OffsetDateTime::now_utc())?;
        write_ratchet_key_file(&path, &key)?;
        let kid = key.id();
        writeln!(crate::output::stdout(), "{kid}")?;
        writeln!(
            std::io::stderr().lock(),
            "wrote {} ratchet key {kid} to {} (readable by its owner only); its oldest epoch is {}",
            args.rotation.as_str(),
            path.display(),
            key.oldest_epoch()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let key = MasterKey::generate()?;
    let kid = key.id();
    if let Some(path) = args.output {
        write_key_file(&path, &key)?;
        writeln!(crate::output::stdout(), "{kid}")?;
        writeln!(
            std::io::stderr().lock(),
            "wrote key {kid} to {} (readable by its owner only)",
            path.display()
        )?;
    } else {
        writeln!(crate::output::stdout(), "{}", key.to_hex().as_str())?;
        writeln!(std::io::stderr().lock(), "key {kid}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Where subcommands take their keys from.
#[derive(clap::Args)]
pub(crate) struct KeyArgs {
    /// A key file (one hex key per line, or a ratchet key) or a key ring directory of `*.key` files.
    /// Without it the key is read from the PRIVLOG_KEY environment variable.
    #[arg(long, value_name = "FILE|DIR")]
    key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The `--key-file` path, when given.
    pub(crate) fn file(&self) -> Option<&Path> {
        self.key_file.as_deref()
    }

    /// The key ring from `--key-file`, else from `PRIVLOG_KEY`.
    pub(crate) fn ring(&self) -> Result<KeyRing, Box<dyn std::error::Error + Send + Sync>> {
        load_ring(self.key_file.as_deref())
    }
}

fn load_ring(file: Option<&Path>) -> Result<KeyRing, Box<dyn std::error::Error + Send + Sync>> {
    if let Some(path) = file {
        return Ok(KeyRing::load(path)?);
    }
    match std::env::var("PRIVLOG_KEY") {
        Ok(text) => {
            let text = zeroize::Zeroizing::new(text);
            KeyRing::parse(&text).map_err(|e| match e {
                privlog::policy::KeyRingError::BadKey { source, .. } => {
                    format!("PRIVLOG_KEY is not a key: {source}").into()
                }
                _ => "PRIVLOG_KEY is empty; set it to the key's 64 hex characters".into(),
            })
        }
        Err(_) => Err(
            "no key given: pass --key-file FILE (a key file or a key ring directory) \
                       or set PRIVLOG_KEY to the key's 64 hex characters"
                .into(),
        ),
    }
}
