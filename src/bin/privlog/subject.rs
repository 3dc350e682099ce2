//! `privlog subject`: data-subject requests — export (right of access) or
//! erase (right to erasure) the records of one or more accounts.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use privlog::subject::{FileReport, SubjectMatcher, erase_file, export_file};

use crate::keygen::KeyArgs;

/// Data-subject requests.
#[derive(clap::Subcommand)]
pub(crate) enum Command {
    /// Every record of an account (right of access), as NDJSON or CSV.
    Export(ExportArgs),
    /// Rewrite record files without an account's records (right to erasure),
    /// and delete its rows from ClickHouse with --clickhouse (`http` feature).
    Erase(EraseArgs),
}

/// Which accounts a request is about.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).multiple(true).args(["account", "accounts_file"])))]
pub(crate) struct Accounts {
    /// An account ID (e.g. an Atlassian accountId); repeat for several.
    #[arg(long, value_name = "ID")]
    account: Vec<String>,
    /// A file of account IDs: one per line (`#` comments), or the JSON of a
    /// personal-data report (every `accountId` whose `status` is `closed`).
    #[arg(long, value_name = "FILE")]
    accounts_file: Option<PathBuf>,
}

impl Accounts {
    fn list(&self) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
        let mut ids = self.account.clone();
        if let Some(path) = &self.accounts_file {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            ids.extend(parse_accounts(&text).map_err(|e| format!("{}: {e}", path.display()))?);
        }
        let mut seen = std::collections::HashSet::new();
        ids.retain(|s| !s.is_empty() && seen.insert(s.clone()));
        if ids.is_empty() {
            return Err("no account ID given".into());
        }
        Ok(ids)
    }
}

/// Account IDs from a list (one per line) or from JSON (every `accountId` string).
fn parse_accounts(text: &str) -> Result<Vec<String>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: serde_json::Value = serde_json::from_str(trimmed).map_err(|e| format!("not valid JSON: {e}"))?;
        let mut out = Vec::new();
        collect_account_ids(&value, &mut out);
        if out.is_empty() {
            return Err("the JSON holds no `accountId` with status `closed`".into());
        }
        return Ok(out);
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// Every `accountId` in a personal-data report. Entries with a `status` other
/// than `closed` (`updated`: the person changed their profile) are not erasure
/// requests and are skipped.
fn collect_account_ids(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            let closed = map.get("status").is_none_or(|s| s.as_str() == Some("closed"));
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) if k == "accountId" => {
                        if closed {
                            out.push(s.clone());
                        }
                    }
                    other => collect_account_ids(other, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_account_ids(i, out)),
        _ => {}
    }
}

/// Output formats of an export.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// The records' original lines.
    Ndjson,
    /// One row per record with a header row.
    Csv,
}

/// Arguments of `privlog subject export`.
#[derive(clap::Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    accounts: Accounts,
    /// Output format.
    #[arg(long, value_enum, default_value = "ndjson")]
    format: Format,
    /// Write to this file instead of standard output (one account only).
    #[arg(short, long, value_name = "FILE", conflicts_with = "out_dir")]
    output: Option<PathBuf>,
    /// Write one file per account into this directory (required for several accounts).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    #[command(flatten)]
    keys: KeyArgs,
    /// Record files (NDJSON, plain or .gz).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Arguments of `privlog subject erase`.
#[derive(clap::Args)]
pub(crate) struct EraseArgs {
    #[command(flatten)]
    accounts: Accounts,
    /// Count what would be erased; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also add the accounts to this suppression file (created when
    /// missing, mode 0600, replaced atomically): a privlog configured with
    /// it writes their later records without an account. Holds one keyed
    /// mark per account and key, never an account ID or a pseudonym.
    #[arg(long, value_name = "FILE")]
    suppress: Option<PathBuf>,
    #[command(flatten)]
    keys: KeyArgs,
    /// Record files (NDJSON, plain or .gz). Each is rewritten atomically,
    /// keeping its owner, group and permissions; a file a running privlog
    /// sink appends to is rewritten under its lock, without losing the
    /// records appended meanwhile. A symbolic link is followed (the file it
    /// points to is rewritten); a file with other names (hard links) is
    /// refused. A rolling log file compressed meanwhile is erased in its
    /// `.gz`; compression's own `.gz.tmp` files are skipped.
    #[arg(required_unless_present = "clickhouse", value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    clickhouse: crate::subject_clickhouse::ClickHouseArgs,
}

pub(crate) fn run(cmd: Command) -> crate::CliResult {
    match cmd {
        Command::Export(a) => export(a),
        Command::Erase(a) => erase(a),
    }
}

/// Where one account's export goes.
enum Out {
    Ndjson(Box<dyn Write>),
    /// With whether each row goes out at once (to standard output, so that
    /// a write the file-size limit refuses is one whole row).
    Csv(Box<csv::Writer<Box<dyn Write>>>, bool),
}

impl Out {
    fn new(format: Format, w: Box<dyn Write>, row_by_row: bool) -> Out {
        match format {
            Format::Ndjson => Out::Ndjson(w),
            Format::Csv => Out::Csv(Box::new(csv::Writer::from_writer(w)), row_by_row),
        }
    }

    fn write(&mut self, line: &[u8]) -> io::Result<()> {
        match self {
            // One write per line, so the limit refuses lines whole.
            Out::Ndjson(w) if line.ends_with(b"\n") => w.write_all(line),
            Out::Ndjson(w) => w.write_all(&[line, b"\n"].concat()),
            Out::Csv(w, row_by_row) => {
                let record = privlog::record::parse_line(line.trim_ascii()).map_err(io::Error::other)?;
                w.serialize(record).map_err(io::Error::other)?;
                if *row_by_row {
                    w.flush()?;
                }
                Ok(())
            }
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Out::Ndjson(mut w) => w.flush(),
            Out::Csv(mut w, _) => w.flush(),
        }
    }
}

/// A file name for an account's export: the ID with anything but
/// letters, digits, `-`, `_` and `.` replaced.
fn file_stem(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_start_matches('.').chars().take(120).collect()
}

/// Creates the export file `path` (never an existing one), writing no byte
/// past the file-size limit, and notes it in `created`.
fn create(path: &Path, created: &mut Vec<PathBuf>) -> io::Result<Box<dyn Write>> {
    let f = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))?;
    created.push(path.to_owned());
    Ok(Box::new(BufWriter::new(crate::output::new_file(f, path))))
}

fn export(args: ExportArgs) -> crate::CliResult {
    let mut created = Vec::new();
    let result = export_to(args, &mut created);
    if result.is_err() {
        // An export cut short must not pass for a whole one.
        for path in &created {
            let _ = std::fs::remove_file(path);
        }
        if !created.is_empty() {
            let _ = writeln!(io::stderr().lock(), "removed the unfinished export files");
        }
    }
    result
}

fn export_to(args: ExportArgs, created: &mut Vec<PathBuf>) -> crate::CliResult {
    let accounts = args.accounts.list()?;
    let ring = args.keys.ring()?;
    // Every input is a regular file before anything is written: a FIFO
    // would never end, and a partial export is no answer to a request.
    for path in &args.files {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(privlog::subject::SubjectError::not_a_file(path, &meta).into());
        }
    }
    let ext = match args.format {
        Format::Ndjson => "ndjson",
        Format::Csv => "csv",
    };
    let mut outs: Vec<Out> = Vec::with_capacity(accounts.len());
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)?;
        let mut seen = std::collections::HashSet::new();
        for (i, id) in accounts.iter().enumerate() {
            let mut stem = file_stem(id);
            if stem.is_empty() || !seen.insert(stem.clone()) {
                stem = format!("account-{}", i + 1);
            }
            outs.push(Out::new(
                args.format,
                create(&dir.join(format!("{stem}.{ext}")), created)?,
                false,
            ));
        }
    } else if accounts.len() > 1 {
        return Err(
            "several accounts need --out-dir DIR (one export file per account), so one person's \
                    export never holds another's records"
                .into(),
        );
    } else if let Some(path) = &args.output {
        outs.push(Out::new(args.format, create(path, created)?, false));
    } else {
        outs.push(Out::new(args.format, Box::new(crate::output::stdout()), true));
    }
    let mut counts = vec![0u64; accounts.len()];
    let mut matcher = SubjectMatcher::new(ring, accounts.clone());
    let mut reports = Vec::new();
    for path in &args.files {
        let report = export_file(path, &mut matcher, |i, line| {
            counts[i] += 1;
            match outs.get_mut(i) {
                Some(out) => out.write(line),
                None => Ok(()),
            }
        })?;
        reports.push(report);
    }
    for out in outs {
        out.finish()?;
    }
    let mut err = io::stderr().lock();
    for (id, n) in accounts.iter().zip(&counts) {
        writeln!(err, "exported {n} records of account {id}")?;
    }
    let code = summarize(&mut err, &reports, "exported")?;
    report_unsearchable(&mut err, &matcher)?;
    Ok(code)
}

fn erase(args: EraseArgs) -> crate::CliResult {
    let accounts = args.accounts.list()?;
    let ring = args.keys.ring()?;
    let clickhouse = match args.clickhouse.given() {
        true => Some((ring.clone(), accounts.clone())),
        false => None,
    };
    let mut out = crate::output::stdout();
    if let Some(file) = args.suppress.as_deref().filter(|_| !args.dry_run) {
        let added = privlog::subject::add_to_suppression_file(file, &ring, &accounts)
            .map_err(|e| format!("cannot update the suppression file {}: {e}", file.display()))?;
        writeln!(out, "{}: {added} entries added", file.display())?;
    }
    let mut matcher = SubjectMatcher::new(ring, accounts);
    let mut reports = Vec::new();
    let mut failed = 0u32;
    for path in &args.files {
        if is_compression_temp(path) {
            writeln!(
                out,
                "{}: skipped (the rolling sink's compression writes it; its records are erased in the \
                 file it compresses, and one left by a crash is removed when the sink starts)",
                path.display()
            )?;
            continue;
        }
        match erase_file(path, &mut matcher, args.dry_run) {
            Ok(r) => {
                let state = match (args.dry_run, r.rewritten) {
                    (true, _) => "dry run, unchanged",
                    (false, true) => "rewritten",
                    (false, false) => "unchanged",
                };
                let shown = match &r.target {
                    Some(t) => format!("{} (read as {})", path.display(), t.display()),
                    None => path.display().to_string(),
                };
                writeln!(
                    out,
                    "{shown}: {} records, {} {}, {} other lines kept{} ({state})",
                    r.records,
                    r.matched,
                    if args.dry_run { "to erase" } else { "erased" },
                    r.records - r.matched + r.not_records,
                    long_note(r.long_lines),
                )?;
                reports.push(r);
            }
            Err(e) => {
                failed += 1;
                let mut msg = format!("error: {e}");
                if let Some(s) = std::error::Error::source(&e) {
                    msg.push_str(&format!("\n  caused by: {s}"));
                }
                writeln!(io::stderr().lock(), "{msg}")?;
            }
        }
    }
    let mut code = ExitCode::SUCCESS;
    if !args.files.is_empty() {
        code = summarize(
            &mut io::stderr().lock(),
            &reports,
            if args.dry_run { "to erase" } else { "erased" },
        )?;
        report_unsearchable(&mut io::stderr().lock(), &matcher)?;
    }
    if let Some((ring, accounts)) = clickhouse {
        let ch = crate::subject_clickhouse::erase(&args.clickhouse, &ring, &accounts, args.dry_run)?;
        if ch != ExitCode::SUCCESS {
            code = ch;
        }
    }
    if failed > 0 {
        writeln!(
            io::stderr().lock(),
            "{failed} files could not be processed and are unchanged"
        )?;
        return Ok(ExitCode::from(2));
    }
    Ok(code)
}

/// Whether `path` is a file the rolling sink's compression is writing
/// (`{log file}.ndjson.gz.tmp`): not a record file of its own.
fn is_compression_temp(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tmp"))
        .and_then(|stem| privlog::sink::LogFile::parse(Path::new(stem)))
        .is_some_and(|f| f.compressed)
}

/// `, including N over-long lines` for a file with lines longer than any
/// record can be; empty otherwise.
fn long_note(n: u64) -> String {
    match n {
        0 => String::new(),
        1 => ", including 1 over-long line (not a record: longer than any record can be)".to_owned(),
        n => format!(", including {n} over-long lines (not records: longer than any record can be)"),
    }
}

/// Names the epochs present in the files that can no longer be searched:
/// their ratchet key's state was destroyed, so nobody can tell whose their
/// records are (they are kept, and counted as others').
fn report_unsearchable(err: &mut impl Write, matcher: &SubjectMatcher) -> io::Result<()> {
    for ((kid, epoch), n) in matcher.unsearchable_epochs() {
        writeln!(
            err,
            "note: epoch {epoch} of key {kid} can no longer be searched ({n} records): its key state was \
             destroyed by `privlog keys advance`, so nobody can compute its pseudonyms; delete these records \
             with `privlog retention` if they are past the retention period"
        )?;
    }
    Ok(())
}

/// Prints the totals and warns about records made with keys missing from the
/// ring; exit status 1 when there are such records (the request is incomplete).
fn summarize(err: &mut impl Write, reports: &[FileReport], verb: &str) -> io::Result<ExitCode> {
    let matched: u64 = reports.iter().map(|r| r.matched).sum();
    let records: u64 = reports.iter().map(|r| r.records).sum();
    let damaged: u64 = reports.iter().map(|r| r.not_records).sum();
    let long: u64 = reports.iter().map(|r| r.long_lines).sum();
    writeln!(
        err,
        "{} files, {records} records, {matched} {verb}, {damaged} lines that are not records{}",
        reports.len(),
        long_note(long)
    )?;
    let mut unknown: BTreeMap<&str, u64> = BTreeMap::new();
    for r in reports {
        for (kid, n) in &r.unknown_keys {
            *unknown.entry(kid).or_default() += n;
        }
    }
    if unknown.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for (kid, n) in &unknown {
        writeln!(
            err,
            "warning: {n} records were made with key {kid}, which is not in the key ring; they may belong to \
             the account. Add that key (--key-file DIR with every key) and run again."
        )?;
    }
    Ok(ExitCode::from(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_come_from_lines_or_from_report_json() {
        assert_eq!(
            parse_accounts("# erase\n a \n\nb\n"),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        let json = r#"{"accounts":[{"accountId":"557058:x","status":"closed"},{"accountId":"5b10","status":"updated"},{"accountId":"5c20"}]}"#;
        assert_eq!(parse_accounts(json), Ok(vec!["557058:x".to_owned(), "5c20".to_owned()]));
        assert!(parse_accounts("{\"nothing\":1}").is_err());
    }

    #[test]
    fn export_file_names_are_safe() {
        assert_eq!(file_stem("557058:0c7b/../x"), "557058_0c7b_.._x");
        assert_eq!(file_stem("../.."), "_..");
    }
}
