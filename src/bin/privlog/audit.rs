//! `privlog audit`: scan log files for personal data and secrets.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use privlog::audit::{AuditOptions, Kind, audit_files};

/// Arguments of `privlog audit`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Log files to scan: privlog records or any access log (plain or .gz; `-` is standard input).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Masked examples shown per kind.
    #[arg(long, default_value_t = 5, value_name = "N")]
    examples: usize,
    /// Scanning threads (defaults to the number of cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Exit status 1 when something was found, 0 when the files are clean, 2 on errors.
pub(crate) fn run(args: Args) -> crate::CliResult {
    let mut options = AuditOptions::default();
    options.examples = args.examples;
    if let Some(t) = args.threads {
        options.threads = t.max(1);
    }
    let started = Instant::now();
    let report = audit_files(&args.files, &options)?;
    let secs = started.elapsed().as_secs_f64();
    let mut out = crate::output::stdout();
    for kind in Kind::ALL {
        let n = report.counts.get(&kind).copied().unwrap_or(0);
        if n == 0 {
            continue;
        }
        writeln!(out, "{kind}: {n}")?;
        for e in report.examples.get(&kind).map(Vec::as_slice).unwrap_or_default() {
            writeln!(out, "  {}:{}  {}", e.path.display(), e.line, e.masked)?;
        }
    }
    let mb = report.bytes as f64 / 1e6;
    writeln!(
        std::io::stderr().lock(),
        "audit: {} findings in {} files, {} lines, {mb:.1} MB scanned in {secs:.2} s ({:.0} MB/s)",
        report.total(),
        report.files,
        report.lines,
        if secs > 0.0 { mb / secs } else { 0.0 }
    )?;
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
