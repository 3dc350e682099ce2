//! `privlog retention`: delete record files older than a limit.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use time::OffsetDateTime;

/// Arguments of `privlog retention`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Delete record files older than this: a number and a unit, `30d`, `12h`, `4w`.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    max_age: Duration,
    /// Only list what would be deleted.
    #[arg(long)]
    dry_run: bool,
    /// Directories holding record files (`<prefix>.YYYY-MM-DD[.N].ndjson[.gz]`);
    /// other files are never touched.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
}

fn parse_age(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not an age; write a number and a unit: 30d, 12h, 4w");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

pub(crate) fn run(args: Args) -> crate::CliResult {
    let now = OffsetDateTime::now_utc();
    let mut out = std::io::stdout().lock();
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
