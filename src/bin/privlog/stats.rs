//! `privlog stats`: anonymized usage statistics from record files.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use privlog::usage::{
    Aggregator, DEFAULT_K, Dimension, EXACT_LIMIT, Filter, MAX_KEY_PERIOD_COUNTS, MAX_KEY_PERIODS, Scan, ScanReport,
    Summaries, Summary,
};

/// Arguments of `privlog stats`.
#[derive(clap::Args)]
#[command(after_help = "\
Examples:
  privlog stats --by day records-*.ndjson.gz
  privlog stats --period month --k 10 records-*.ndjson.gz
  privlog stats --by day,route --format csv --from 2026-11-01 --to 2026-12-01 records.ndjson > nov.csv
  cat records.ndjson | privlog stats --by hour,status --status 5xx -

Only accounts the application vouched for (account_src \"app\", its AccountId) count
toward k, within one key period (kid and epoch: a person's pseudonym changes with them);
accounts a request only claims (JWT read without verification, header, query, path)
never do. Groups with accounts but fewer than k vouched ones are folded into an (other)
row per period; an (other) row that still has fewer than k vouched accounts is withheld:
its requests are counted in a (withheld) row per period (figures other than requests
show as \"–\", empty in CSV, null in JSON), so every period's requests add up.
Requests without any account identify nobody and never count toward k: they are
shown even where the same route's signed-in requests are folded or withheld. Totals of what was folded or withheld are printed
on standard error. A tenant groups on its own only on records whose account is vouched
for; any other tenant is only claimed and groups as (unverified).

Distinct accounts are counted over each row's own period: a month's count is not the
sum of its days' (one person active on five days is one account in the month, one in
each of five daily rows). Pseudonyms change with the key period, so a row spanning
several key periods (a month of records under daily or weekly rotation) shows the busiest
key period's vouched accounts: group by a period no longer than the rotation's epoch.

\"vouched\" (vouched_accounts) is the count to publish as accounts. \"all accounts\"
(distinct_accounts) also counts accounts that requests only claimed, which anyone can
inflate.

Memory is bounded whatever the input: at most --max-groups groups of known routes and
--max-unmatched-groups groups of unmatched paths are kept; requests of further groups
count under (other) (every total stays exact), and standard error says so.")]
pub(crate) struct Args {
    /// Record files: NDJSON, plain or .gz; `-` reads standard input.
    #[arg(required = true, value_name = "FILES")]
    pub(crate) files: Vec<PathBuf>,
    /// Group by a comma list of hour, day, week, month, route, method, status, tenant.
    #[arg(long, default_value = "day", value_name = "KEYS")]
    pub(crate) by: String,
    /// The time period of each row, first column: hour, day, week (ISO, from Monday 00:00
    /// UTC) or month (UTC); replaces a period in --by, whose other keys stay.
    #[arg(long, value_name = "P")]
    pub(crate) period: Option<Dimension>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// k-anonymity: hide groups with fewer than k vouched accounts (1 turns it off).
    #[arg(long, default_value_t = DEFAULT_K, value_name = "N")]
    pub(crate) k: u64,
    /// Only requests that started at or after this time (2026-11-22 or RFC 3339); above --k 1, the start of a whole hour, day, week or month as grouped by (a day by default).
    #[arg(long, value_name = "T")]
    pub(crate) from: Option<String>,
    /// Only requests that started before this time (2026-11-22 or RFC 3339); above --k 1, the start of a whole hour, day, week or month as grouped by (a day by default).
    #[arg(long, value_name = "T")]
    pub(crate) to: Option<String>,
    /// Only this route template (or scrubbed path); end with `*` for a prefix.
    #[arg(long, value_name = "R")]
    pub(crate) route: Option<String>,
    /// Only this status: a code (404), a class (4xx) or `none`.
    #[arg(long, value_name = "S")]
    pub(crate) status: Option<String>,
    /// Only this tenant pseudonym.
    #[arg(long, value_name = "T")]
    pub(crate) tenant: Option<String>,
    /// Parsing threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Keep at most N groups of known routes; requests of further ones count under (other).
    #[arg(long, default_value_t = DEFAULT_MAX_GROUPS, value_name = "N")]
    pub(crate) max_groups: usize,
    /// Keep at most N groups of unmatched paths (no route template: scanners,
    /// typos); requests of further ones count under (other).
    #[arg(long, default_value_t = DEFAULT_MAX_UNMATCHED_GROUPS, value_name = "N")]
    pub(crate) max_unmatched_groups: usize,
}

/// Groups of known routes `stats` and `report` keep per grouping before
/// further ones count under `(other)`: room for every route of an
/// application over many periods.
pub(crate) const DEFAULT_MAX_GROUPS: usize = 100_000;

/// Groups of unmatched paths `stats` and `report` keep per grouping: a flood
/// of distinct scanner paths costs a bounded amount of memory (about 30 MiB
/// at this cap) and never takes the room of known routes.
pub(crate) const DEFAULT_MAX_UNMATCHED_GROUPS: usize = 20_000;

/// How `privlog stats` prints its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for reading.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// The filter and validated k described by the common arguments.
pub(crate) fn filter_from(
    from: Option<&str>,
    to: Option<&str>,
    route: Option<&str>,
    status: Option<&str>,
    tenant: Option<&str>,
) -> Result<Filter, Box<dyn std::error::Error + Send + Sync>> {
    let mut f = Filter::default();
    f.from_ms = from.map(Filter::parse_time).transpose()?;
    f.to_ms = to.map(Filter::parse_time).transpose()?;
    f.route = route.map(str::to_owned);
    f.status = status.map(str::parse).transpose()?;
    f.tenant = tenant.map(str::to_owned);
    Ok(f)
}

/// With k-anonymity on, `--from`/`--to` must fall on whole periods of the
/// coarsest time key grouped by (a day when there is none), so two ranges
/// cannot be subtracted to reveal what k withheld.
pub(crate) fn check_published_range(
    filter: &Filter,
    k: u64,
    dims: &[Dimension],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if k <= 1 {
        return Ok(());
    }
    let unit = [Dimension::Month, Dimension::Week, Dimension::Day, Dimension::Hour]
        .into_iter()
        .find(|d| dims.contains(d))
        .unwrap_or(Dimension::Day);
    filter
        .check_whole_periods(unit)
        .map_err(|e| format!("invalid --from/--to: {e} (--k 1 allows any bound, for figures not published)").into())
}

pub(crate) fn check_k(k: u64) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if k == 0 || k > EXACT_LIMIT as u64 {
        return Err(format!("invalid --k {k}: use 1 (no suppression) to {EXACT_LIMIT}").into());
    }
    Ok(())
}

pub(crate) fn check_max_groups(known: usize, unmatched: usize) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if known == 0 {
        return Err(format!("invalid --max-groups 0: use 1 or more (default {DEFAULT_MAX_GROUPS})").into());
    }
    if unmatched == 0 {
        return Err(format!(
            "invalid --max-unmatched-groups 0: use 1 or more (default {DEFAULT_MAX_UNMATCHED_GROUPS})"
        )
        .into());
    }
    Ok(())
}

/// An aggregator grouping by `dims` with the command's group caps.
pub(crate) fn capped(dims: Vec<Dimension>, known: usize, unmatched: usize) -> Aggregator {
    Aggregator::new(dims).max_groups(known).max_unmatched_groups(unmatched)
}

/// Scans `files` with a progress bar on a terminal (nothing on a pipe).
pub(crate) fn scan_with_progress<A: privlog::usage::Accumulator>(
    files: Vec<PathBuf>,
    threads: Option<usize>,
    filter: Filter,
    make: impl Fn() -> A + Sync,
) -> Result<(A, ScanReport), Box<dyn std::error::Error + Send + Sync>> {
    let total: u64 = files
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let mut scan = Scan::new(files).filter(filter);
    if let Some(n) = threads {
        scan = scan.threads(n);
    }
    let progress = scan.progress();
    let done = Arc::new(AtomicBool::new(false));
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {wide_bar}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let (bar2, done2, progress2) = (bar.clone(), Arc::clone(&done), Arc::clone(&progress));
        std::thread::spawn(move || poll_progress(&bar2, &done2, &progress2));
        bar
    });
    let result = scan.run(make);
    done.store(true, Ordering::SeqCst);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(result?)
}

fn poll_progress(bar: &indicatif::ProgressBar, done: &AtomicBool, progress: &AtomicU64) {
    while !done.load(Ordering::SeqCst) {
        bar.set_position(progress.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The grouping keys of `--by`, with `--period` (when given) as the only
/// time period, first.
pub(crate) fn dims_with_period(
    by: &str,
    period: Option<Dimension>,
) -> Result<Vec<Dimension>, Box<dyn std::error::Error + Send + Sync>> {
    let mut dims = Dimension::parse_list(by)?;
    if let Some(p) = period {
        if !p.is_period() {
            return Err(format!("invalid --period {p}: use hour, day, week or month").into());
        }
        dims.retain(|d| !d.is_period());
        dims.insert(0, p);
    }
    Ok(dims)
}

pub(crate) fn run(args: Args) -> crate::CliResult {
    let dims = dims_with_period(&args.by, args.period)?;
    check_k(args.k)?;
    check_max_groups(args.max_groups, args.max_unmatched_groups)?;
    let filter = filter_from(
        args.from.as_deref(),
        args.to.as_deref(),
        args.route.as_deref(),
        args.status.as_deref(),
        args.tenant.as_deref(),
    )?;
    check_published_range(&filter, args.k, &dims)?;
    let nfiles = args.files.len();
    let (agg, report) = scan_with_progress(args.files, args.threads, filter, || {
        capped(dims.clone(), args.max_groups, args.max_unmatched_groups)
    })?;
    let out = agg.summaries(args.k);
    let written = print_rows(args.format, &dims, &out.table());
    let mut footer = footer(nfiles, &report, &out);
    footer.push_str(&cap_note(&[&agg]));
    eprintln!("{footer}");
    match written {
        // The reader went away (`| head`): not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(format!("cannot write the statistics to standard output: {e}").into()),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}

/// Prints the rows whole or not at all: where standard output is a file
/// they would take past the file-size limit, nothing is written.
fn print_rows(format: Format, dims: &[Dimension], rows: &[&Summary]) -> std::io::Result<()> {
    let mut w = Vec::new();
    match format {
        Format::Table => write_table(&mut w, dims, rows)?,
        Format::Csv => write_csv(&mut w, dims, rows)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut w, &json_rows(rows))?;
            writeln!(w)?;
        }
    }
    let mut out = crate::output::stdout();
    out.write_all(&w)?;
    out.flush()
}

pub(crate) fn footer(nfiles: usize, report: &ScanReport, out: &Summaries) -> String {
    let mut s = format!(
        "privlog stats: {} records from {} file{}, {} counted",
        report.read.records,
        nfiles,
        if nfiles == 1 { "" } else { "s" },
        report.matched
    );
    if report.read.skipped > 0 {
        s.push_str(&format!(
            "; {} damaged or torn line{} skipped",
            report.read.skipped,
            if report.read.skipped == 1 { "" } else { "s" }
        ));
    }
    if out.k > 1 {
        s.push_str(&format!(
            "; k={}: {} small group{} folded into (other), {} withheld ({} requests)",
            out.k,
            out.folded_groups,
            if out.folded_groups == 1 { "" } else { "s" },
            out.suppressed_groups,
            out.suppressed_requests
        ));
        if out.too_many_key_periods > 0 {
            s.push_str(&format!(
                ", {} of them because their accounts span more key periods than are kept apart ({MAX_KEY_PERIODS} per group, {MAX_KEY_PERIOD_COUNTS} in all; group by month, week or day too)",
                out.too_many_key_periods
            ));
        }
    } else {
        s.push_str("; k-anonymity off (--k 1)");
    }
    s
}

/// A note naming the group caps the aggregators reached, so that requests
/// of later groups were counted under `(other)`; empty when none was.
pub(crate) fn cap_note(aggs: &[&Aggregator]) -> String {
    let (known, unmatched) = aggs.iter().fold((false, false), |(k, u), a| {
        let (ak, au) = a.caps_reached();
        (k || ak, u || au)
    });
    let options = match (known, unmatched) {
        (false, false) => return String::new(),
        (true, false) => "--max-groups",
        (false, true) => "--max-unmatched-groups",
        (true, true) => "--max-groups and --max-unmatched-groups",
    };
    format!("; group cap reached ({options}): requests of further groups are counted under (other), totals exact")
}

const METRICS: [&str; 9] = [
    "requests",
    "distinct_accounts",
    "vouched_accounts",
    "distinct_tenants",
    "p50_us",
    "p95_us",
    "p99_us",
    "req_bytes",
    "resp_bytes",
];

fn metrics(s: &Summary) -> [u64; 9] {
    [
        s.requests,
        s.distinct_accounts,
        s.vouched_accounts,
        s.distinct_tenants,
        s.p50_us,
        s.p95_us,
        s.p99_us,
        s.req_bytes,
        s.resp_bytes,
    ]
}

/// The rows as JSON objects; a withheld row's figures other than
/// `requests` are `null` (not shown), never 0.
fn json_rows(rows: &[&Summary]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or(serde_json::Value::Null);
            if r.withheld
                && let Some(o) = v.as_object_mut()
            {
                for m in METRICS.iter().filter(|m| **m != "requests") {
                    o.insert((*m).to_owned(), serde_json::Value::Null);
                }
            }
            v
        })
        .collect()
}

fn write_csv(w: &mut impl Write, dims: &[Dimension], rows: &[&Summary]) -> std::io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    let header: Vec<&str> = dims.iter().map(|d| d.as_str()).chain(METRICS).collect();
    out.write_record(&header)?;
    for r in rows {
        let mut cells: Vec<String> = dims.iter().map(|d| r.key(*d).unwrap_or("").to_owned()).collect();
        // A withheld row's figures but requests are not shown: empty cells.
        cells.extend(metrics(r).iter().enumerate().map(|(i, v)| {
            if r.withheld && i > 0 {
                String::new()
            } else {
                v.to_string()
            }
        }));
        out.write_record(&cells)?;
    }
    out.flush()
}

fn human_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn write_table(w: &mut impl Write, dims: &[Dimension], rows: &[&Summary]) -> std::io::Result<()> {
    let header: Vec<String> = dims
        .iter()
        .map(|d| d.as_str().to_owned())
        .chain(
            [
                "requests",
                "all accounts",
                "vouched",
                "tenants",
                "p50",
                "p95",
                "p99",
                "bytes in",
                "bytes out",
            ]
            .iter()
            .map(|s| (*s).to_owned()),
        )
        .collect();
    let mut table: Vec<Vec<String>> = vec![header];
    for r in rows {
        let mut line: Vec<String> = dims
            .iter()
            .map(|d| r.key(*d).unwrap_or("").chars().filter(|c| !c.is_control()).collect())
            .collect();
        if r.withheld {
            // Only the requests of withheld groups are counted; the rest
            // is not shown, which is not zero.
            line.push(r.requests.to_string());
            line.extend(std::iter::repeat_n("–".to_owned(), 8));
            table.push(line);
            continue;
        }
        line.extend([
            r.requests.to_string(),
            r.distinct_accounts.to_string(),
            r.vouched_accounts.to_string(),
            r.distinct_tenants.to_string(),
            human_us(r.p50_us),
            human_us(r.p95_us),
            human_us(r.p99_us),
            human_bytes(r.req_bytes),
            human_bytes(r.resp_bytes),
        ]);
        table.push(line);
    }
    let cols = table[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| table.iter().map(|row| row[c].chars().count()).max().unwrap_or(0))
        .collect();
    for (i, row) in table.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c > 0 {
                line.push_str("  ");
            }
            if c < dims.len() {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        writeln!(w, "{}", line.trim_end())?;
        if i == 0 {
            writeln!(w, "{}", "-".repeat(widths.iter().sum::<usize>() + 2 * (cols - 1)))?;
        }
    }
    if rows.is_empty() {
        writeln!(w, "(no rows)")?;
    }
    Ok(())
}
