//! `privlog retention`: delete record files older than a limit.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use time::OffsetDateTime;

/// Arguments of `privlog retention`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Delete record files older than this: a number and a unit (`30d`, `12h`, `4w`).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    max_age: Duration,
    /// Only list what would be deleted.
    #[arg(long)]
    dry_run: bool,
    /// Directories holding record files (`<prefix>.YYYY-MM-DD.NNNN.ndjson[.gz]`, as the
    /// rolling file sink names them); other files are never touched, except the
    /// temporary copies of record files a killed `privlog subject erase` left
    /// (`.<file>.erase.tmp`), which are removed whatever their age.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
}

/// A duration with an explicit unit: a bare number would be seconds, which
/// would delete far more than an operator meant.
pub(crate) fn parse_age(s: &str) -> Result<Duration, String> {
    if !s.trim().ends_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!("{s:?} has no unit; write 30d, 12h or 4w"));
    }
    privlog::config::parse_duration(s)
}

pub(crate) fn run(args: Args) -> crate::CliResult {
    let now = OffsetDateTime::now_utc();
    let mut out = crate::output::stdout();
    let (mut files, mut bytes, mut failed) = (0u64, 0u64, 0u64);
    for dir in &args.dirs {
        let plan = privlog::retention::plan(dir, args.max_age, now)?;
        for f in &plan.expired {
            if args.dry_run {
                writeln!(out, "would delete {} ({}, {} bytes)", f.path.display(), f.day, f.bytes)?;
            } else if let Err(e) = std::fs::remove_file(&f.path) {
                writeln!(
                    std::io::stderr().lock(),
                    "error: cannot delete {}: {e}",
                    f.path.display()
                )?;
                failed += 1;
                continue;
            } else {
                writeln!(out, "deleted {} ({}, {} bytes)", f.path.display(), f.day, f.bytes)?;
            }
            files += 1;
            bytes += f.bytes;
        }
        for path in &plan.leftovers {
            if args.dry_run {
                writeln!(out, "would remove {} (left by an interrupted erase)", path.display())?;
                continue;
            }
            match privlog::retention::remove_leftover(path) {
                Ok(true) => writeln!(out, "removed {} (left by an interrupted erase)", path.display())?,
                Ok(false) => writeln!(
                    std::io::stderr().lock(),
                    "{}: kept, an erase is working on it",
                    path.display()
                )?,
                Err(e) => {
                    writeln!(std::io::stderr().lock(), "error: cannot remove {}: {e}", path.display())?;
                    failed += 1;
                }
            }
        }
        writeln!(
            std::io::stderr().lock(),
            "{}: {} expired, {} kept, {} other entries left alone",
            dir.display(),
            plan.expired.len(),
            plan.kept,
            plan.ignored
        )?;
    }
    let verb = if args.dry_run { "would delete" } else { "deleted" };
    writeln!(
        std::io::stderr().lock(),
        "retention: {verb} {files} files, {bytes} bytes"
    )?;
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
