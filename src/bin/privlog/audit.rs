//! `privlog audit`: scan log files for personal data and secrets.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use privlog::audit::{AuditOptions, AuditReport, AuditRules, Kind, audit_files};

/// How the report is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// `kind: count` and masked examples with `file:line`.
    Text,
    /// One JSON document: files, lines, bytes, per kind the count and masked examples.
    Json,
}

/// Arguments of `privlog audit`.
#[derive(clap::Args)]
#[command(after_help = crate::EXIT_CODES)]
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
    /// A TOML file whose `[policy]` table holds operator rules (`[[policy.rules]]`
    /// name/pattern/placeholder) and `safe_words`: a rule match is a `rule:<name>` finding.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Exit status 1 when something was found, 0 when the files are clean, 2 on errors
/// ([`crate::EXIT_CODES`]).
pub(crate) fn run(args: Args) -> crate::CliResult {
    let mut options = AuditOptions::default();
    options.examples = args.examples;
    if let Some(t) = args.threads {
        options.threads = t.max(1);
    }
    if let Some(path) = &args.rules {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the rules file {}: {e}; check the path", path.display()))?;
        options.rules = AuditRules::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let started = Instant::now();
    let report = audit_files(&args.files, &options)?;
    let secs = started.elapsed().as_secs_f64();
    let mut out = crate::output::stdout();
    match args.format {
        Format::Text => text(&mut out, &report)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &json(&report))?;
            writeln!(out)?;
        }
    }
    out.flush()?;
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

/// The kinds found, in report order: built-in kinds, then the rules.
fn kinds(report: &AuditReport) -> impl Iterator<Item = (Kind, u64)> + '_ {
    report.counts.iter().filter(|(_, n)| **n > 0).map(|(k, n)| (*k, *n))
}

fn text(out: &mut impl std::io::Write, report: &AuditReport) -> std::io::Result<()> {
    for (kind, n) in kinds(report) {
        writeln!(out, "{}: {n}", report.kind_name(kind))?;
        for e in report.examples.get(&kind).map(Vec::as_slice).unwrap_or_default() {
            writeln!(out, "  {}:{}  {}", e.path.display(), e.line, e.masked)?;
        }
    }
    Ok(())
}

/// `{"clean", "findings", "files", "lines", "bytes", "kinds": {name: {"count", "examples": [{"file", "line", "masked"}]}}}`
fn json(report: &AuditReport) -> serde_json::Value {
    let mut by_kind = serde_json::Map::new();
    for (kind, n) in kinds(report) {
        let examples: Vec<serde_json::Value> = report
            .examples
            .get(&kind)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|e| {
                serde_json::json!({
                    "file": e.path.display().to_string(),
                    "line": e.line,
                    "masked": e.masked,
                })
            })
            .collect();
        by_kind.insert(
            report.kind_name(kind),
            serde_json::json!({ "count": n, "examples": examples }),
        );
    }
    serde_json::json!({
        "clean": report.is_clean(),
        "findings": report.total(),
        "files": report.files,
        "lines": report.lines,
        "bytes": report.bytes,
        "kinds": by_kind,
    })
}
