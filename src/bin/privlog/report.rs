//! `privlog report`: one self-contained HTML file with charts of
//! anonymized usage statistics — no network, no scripts, inline SVG only.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use privlog::usage::{Aggregator, DEFAULT_K, Dimension, NONE, OTHER, Summaries, Summary, WITHHELD};

use crate::stats::{
    DEFAULT_MAX_GROUPS, DEFAULT_MAX_UNMATCHED_GROUPS, cap_note, capped, check_k, check_max_groups,
    check_published_range, filter_from, footer, scan_with_progress,
};

/// Arguments of `privlog report`.
#[derive(clap::Args)]
#[command(after_help = "\
Example:
  privlog report logs/*.ndjson.gz -o report.html --title 'My app, November'

The report shows requests and distinct accounts per day, latency percentiles,
the status mix and the top routes, with k-anonymity applied to every figure.")]
pub(crate) struct Args {
    /// Record files: NDJSON, plain or .gz; `-` reads standard input.
    #[arg(required = true, value_name = "FILES")]
    pub(crate) files: Vec<PathBuf>,
    /// Where to write the HTML report.
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
    /// The report's title.
    #[arg(long, default_value = "Usage report")]
    pub(crate) title: String,
    /// k-anonymity: hide groups with fewer than k vouched accounts (1 turns it off).
    #[arg(long, default_value_t = DEFAULT_K, value_name = "N")]
    pub(crate) k: u64,
    /// Only requests that started at or after this time (2026-11-22 or RFC 3339); above --k 1, a whole UTC day.
    #[arg(long, value_name = "T")]
    pub(crate) from: Option<String>,
    /// Only requests that started before this time (2026-11-22 or RFC 3339); above --k 1, a whole UTC day.
    #[arg(long, value_name = "T")]
    pub(crate) to: Option<String>,
    /// Parsing threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Keep at most N groups of known routes per chart; requests of further ones count under (other).
    #[arg(long, default_value_t = DEFAULT_MAX_GROUPS, value_name = "N")]
    pub(crate) max_groups: usize,
    /// Keep at most N groups of unmatched paths per chart; requests of further ones count under (other).
    #[arg(long, default_value_t = DEFAULT_MAX_UNMATCHED_GROUPS, value_name = "N")]
    pub(crate) max_unmatched_groups: usize,
}

pub(crate) fn run(args: Args) -> crate::CliResult {
    check_k(args.k)?;
    check_max_groups(args.max_groups, args.max_unmatched_groups)?;
    let filter = filter_from(args.from.as_deref(), args.to.as_deref(), None, None, None)?;
    check_published_range(&filter, args.k, &[Dimension::Day])?;
    let nfiles = args.files.len();
    let groupings = [
        vec![Dimension::Day],
        vec![Dimension::Day, Dimension::Status],
        vec![Dimension::Route],
        vec![],
        vec![Dimension::Status],
    ];
    let (aggs, scan) = scan_with_progress(args.files, args.threads, filter, || {
        groupings
            .iter()
            .map(|d| capped(d.clone(), args.max_groups, args.max_unmatched_groups))
            .collect::<Vec<_>>()
    })?;
    let [by_day, by_day_status, by_route, total, by_status] =
        <[Aggregator; 5]>::try_from(aggs).map_err(|_| "internal error: the report's groupings were lost")?;
    let data = ReportData {
        title: args.title,
        k: args.k,
        by_day: by_day.summaries(args.k),
        by_day_status: by_day_status.summaries(args.k),
        by_route: by_route.summaries(args.k),
        total: total.summaries(args.k),
        by_status: by_status.summaries(args.k),
        records: scan.read.records,
        matched: scan.matched,
        skipped: scan.read.skipped,
    };
    let cap = cap_note(&[&by_day, &by_day_status, &by_route, &total, &by_status]);
    let html = render(&data);
    crate::output::write_file(&args.output, html.as_bytes())
        .map_err(|e| format!("cannot write the report to {}: {e}", args.output.display()))?;
    eprintln!("{}{cap}", footer(nfiles, &scan, &data.by_day));
    eprintln!("privlog report: wrote {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

struct ReportData {
    title: String,
    k: u64,
    by_day: Summaries,
    by_day_status: Summaries,
    by_route: Summaries,
    total: Summaries,
    by_status: Summaries,
    records: u64,
    matched: u64,
    skipped: u64,
}

const BLUE: &str = "#2563eb";
const TEAL: &str = "#0d9488";
const STATUS_COLORS: [(&str, &str); 8] = [
    ("2xx", "#16a34a"),
    ("3xx", "#0ea5e9"),
    ("4xx", "#f59e0b"),
    ("5xx", "#dc2626"),
    (NONE, "#6b7280"),
    ("1xx", "#a855f7"),
    (OTHER, "#d1d5db"),
    (WITHHELD, GREY),
];

/// The colour of what k-anonymity withheld: shown as such, never as zero.
const GREY: &str = "#9ca3af";

fn render(d: &ReportData) -> String {
    // Every day with requests has a row in the daily table: shown, withheld or both.
    let mut labels: Vec<String> = Vec::new();
    for r in d.by_day.table() {
        if let Some(day) = &r.day
            && labels.last() != Some(day)
        {
            labels.push(day.clone());
        }
    }
    let day_of =
        |rows: &'_ [Summary], l: &str| -> Option<usize> { rows.iter().position(|r| r.day.as_deref() == Some(l)) };
    let days: Vec<Option<&Summary>> = labels
        .iter()
        .map(|l| day_of(&d.by_day.rows, l).map(|i| &d.by_day.rows[i]))
        .collect();
    let withheld: Vec<u64> = labels
        .iter()
        .map(|l| day_of(&d.by_day.withheld, l).map_or(0, |i| d.by_day.withheld[i].requests))
        .collect();
    let mut body = String::new();

    // Headline figures.
    let total = d.total.rows.first();
    let requests: u64 = d.total.table().iter().map(|t| t.requests).sum();
    let accounts_withheld = !d.total.withheld.is_empty();
    let errors: u64 = d
        .by_status
        .rows
        .iter()
        .filter(|s| matches!(s.status.as_deref(), Some("5xx") | Some(NONE)))
        .map(|s| s.requests)
        .sum();
    let period = match (labels.first(), labels.last()) {
        (Some(a), Some(b)) if a != b => format!("{a} to {b} (UTC)"),
        (Some(a), _) => format!("{a} (UTC)"),
        _ => "no data".to_owned(),
    };
    let _ = write!(
        body,
        r#"<header><h1>{}</h1><p class="sub">{} · {} days · generated by privlog from {} request records</p></header>
<section class="cards">
<div class="card" id="requests"><div class="num">{}</div><div class="lbl">requests</div></div>
<div class="card" id="accounts"><div class="num">{}</div><div class="lbl">signed-in accounts</div></div>
<div class="card"><div class="num">{}</div><div class="lbl">median response time</div></div>
<div class="card"><div class="num">{}</div><div class="lbl">server errors or no response{}</div></div>
</section>
"#,
        esc(&d.title),
        esc(&period),
        labels.len(),
        group_digits(d.records),
        group_digits(requests),
        // Only accounts the app vouched for: anyone can claim more.
        match total {
            _ if accounts_withheld => format!("fewer than {}", d.k),
            Some(t) => group_digits(t.vouched_accounts),
            None => "–".to_owned(),
        },
        total.map_or("–".to_owned(), |t| human_ms(t.p50_us)),
        if requests == 0 {
            "–".to_owned()
        } else {
            format!("{:.2} %", 100.0 * errors as f64 / requests as f64)
        },
        if d.by_status.rows.iter().any(Summary::is_other) || d.by_status.suppressed_requests > 0 {
            " (outcomes of fewer than k accounts not counted)"
        } else {
            ""
        },
    );

    // 1. Requests per day.
    let values: Vec<Option<f64>> = days.iter().map(|s| Some(s.map_or(0, |s| s.requests) as f64)).collect();
    chart(
        &mut body,
        "requests-per-day",
        "Requests per day",
        "How many requests the app served each day (all users, all routes); in grey, requests of groups with fewer than k accounts, counted but not broken down.",
        &bar_chart(&labels, &values, &withheld, BLUE, "requests", &|v| compact(v)),
    );

    // 2. Signed-in accounts per day: only those the app vouched for, so
    // identities a request merely claims cannot inflate it.
    // A day whose accounts were withheld has no figure, not zero.
    let values: Vec<Option<f64>> = days
        .iter()
        .zip(&withheld)
        .map(|(s, w)| {
            if *w > 0 {
                None
            } else {
                s.map(|s| s.vouched_accounts as f64)
            }
        })
        .collect();
    let marks: Vec<u64> = withheld.iter().map(|w| u64::from(*w > 0)).collect();
    chart(
        &mut body,
        "accounts-per-day",
        "Active accounts per day",
        "How many different signed-in user accounts (identified by the app itself) made at least one request that day. Accounts are counted by pseudonym; no person is identified. Days marked “< k” had too few accounts to show.",
        &bar_chart(&labels, &values, &marks, TEAL, "accounts", &|v| compact(v)),
    );

    // 3. Latency percentiles.
    let series = [
        (
            "median (p50)",
            "#16a34a",
            days.iter()
                .map(|s| s.map(|s| s.p50_us as f64 / 1000.0))
                .collect::<Vec<_>>(),
        ),
        (
            "p95",
            "#f59e0b",
            days.iter().map(|s| s.map(|s| s.p95_us as f64 / 1000.0)).collect(),
        ),
        (
            "p99",
            "#dc2626",
            days.iter().map(|s| s.map(|s| s.p99_us as f64 / 1000.0)).collect(),
        ),
    ];
    chart(
        &mut body,
        "latency",
        "Response time per day",
        "How long the requests shown took (not those withheld), in milliseconds: half of them were faster than the median, 95 % faster than p95, 99 % faster than p99.",
        &line_chart(&labels, &series, "milliseconds"),
    );

    // 4. Status mix.
    chart(
        &mut body,
        "status-mix",
        "Outcome of requests per day",
        "Share of requests per day by result: 2xx succeeded, 3xx redirected or cached, 4xx rejected (bad request, not found, not allowed), 5xx failed on the server, none: no response (client gone or error), withheld: requests of outcomes with fewer than k accounts, counted but not broken down.",
        &status_chart(&labels, &d.by_day_status),
    );

    // 5. Top routes.
    let mut routes: Vec<&Summary> = d.by_route.table();
    routes.sort_by_key(|r| std::cmp::Reverse(r.requests));
    routes.truncate(12);
    chart(
        &mut body,
        "top-routes",
        "Most used pages and API routes",
        "Requests per route over the whole period, most used first. A route is the page or API address with IDs replaced by placeholders like {id}.",
        &hbar_chart(&routes),
    );

    // Each grouping leaves out its own requests, and one request can be left
    // out of several: each count is given for its charts, never added up.
    let left_out = match (d.by_day.suppressed_requests, d.by_route.suppressed_requests) {
        (0, 0) => String::new(),
        (day, route) => format!(
            " (left out: {} of the daily figures, {} of the route figures)",
            requests_n(day),
            requests_n(route)
        ),
    };
    let _ = write!(
        body,
        r#"<footer><p><b>Privacy.</b> This report contains only aggregated counts. Every figure about signed-in use covers at least {k} different accounts that the app itself identified, within one key period (k-anonymity, k = {k}): days, routes or outcomes with fewer are combined into an “other” group or left out{left_out}. Account figures count only accounts the app identified, within one key period: pseudonyms change when the key or its period changes, so a figure over several key periods shows the busiest one. Accounts are identified only by keyed pseudonyms, never by name, e-mail or IP address.</p>
<p>Read {records} records ({matched} in range){skipped}. Times are UTC. Percentiles are accurate to about 2 %; distinct counts above 1024 are estimates accurate to about 2 %.</p></footer>"#,
        k = d.k,
        records = group_digits(d.records),
        matched = group_digits(d.matched),
        skipped = if d.skipped > 0 {
            format!("; {} damaged lines were skipped", d.skipped)
        } else {
            String::new()
        },
    );

    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{CSS}</style></head>
<body><main>
{body}
</main></body></html>
"#,
        title = esc(&d.title)
    )
}

const CSS: &str = "
body{margin:0;background:#f3f4f6;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#111827}
main{max-width:980px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:28px}
h2{margin:0 0 2px;font-size:19px}
.sub{margin:0;color:#4b5563}
.cards{display:flex;gap:12px;margin:18px 0}
.card{flex:1;background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 2px #0001}
.num{font-size:24px;font-weight:650}
.lbl{color:#4b5563;font-size:13px}
section.chart{background:#fff;border-radius:10px;padding:16px 18px;margin:14px 0;box-shadow:0 1px 2px #0001}
.explain{margin:0 0 8px;color:#4b5563;font-size:14px}
svg{display:block;width:100%;height:auto}
svg text{font-family:inherit;font-size:12px;fill:#374151}
svg .axis{stroke:#9ca3af;stroke-width:1}
svg .grid{stroke:#e5e7eb;stroke-width:1}
.empty{fill:#6b7280;font-size:14px}
footer{color:#4b5563;font-size:13px;margin-top:18px}
.legend{display:flex;gap:16px;justify-content:flex-end;font-size:13px;color:#374151;margin:-4px 0 2px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
";

fn chart(out: &mut String, id: &str, title: &str, explain: &str, svg: &str) {
    let _ = writeln!(
        out,
        r#"<section class="chart" id="{id}"><h2>{}</h2><p class="explain">{}</p>{}</section>"#,
        esc(title),
        esc(explain),
        svg.replacen("<svg ", &format!(r#"<svg data-chart="{id}" "#), 1)
    );
}

/// A colour key above a chart: (label, colour) pairs.
fn legend(items: &[(&str, &str)]) -> String {
    let mut s = String::from(r#"<div class="legend">"#);
    for (label, color) in items {
        let _ = write!(s, r#"<span><i style="background:{color}"></i>{}</span>"#, esc(label));
    }
    s.push_str("</div>");
    s
}

const W: f64 = 940.0;
const H: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 48.0;

/// A rounded axis maximum and tick step: 1, 2 or 5 times a power of ten.
fn nice_scale(max: f64) -> (f64, f64) {
    if max.is_nan() || max <= 0.0 {
        return (1.0, 0.25);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn frame(out: &mut String, labels: &[String], ymax: f64, step: f64, unit: &str, fmt: &dyn Fn(f64) -> String) {
    let ph = H - TOP - BOTTOM;
    let mut t = 0.0;
    while t <= ymax + step / 2.0 {
        let y = TOP + ph - t / ymax * ph;
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&fmt(t))
        );
        t += step;
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        W - RIGHT,
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        esc(unit),
        y = TOP + ph
    );
    let n = labels.len().max(1);
    let slot = (W - LEFT - RIGHT) / n as f64;
    let every = (n as f64 / 12.0).ceil().max(1.0) as usize;
    for (i, l) in labels.iter().enumerate() {
        if i % every == 0 {
            let x = LEFT + slot * (i as f64 + 0.5);
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                H - BOTTOM + 18.0,
                esc(short_day(l))
            );
        }
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">day (UTC)</text>"#,
        LEFT + (W - LEFT - RIGHT) / 2.0,
        H - 6.0
    );
}

fn short_day(day: &str) -> &str {
    // 2026-11-22 → 11-22; the title shows the year.
    day.get(5..).unwrap_or(day)
}

fn empty_svg(msg: &str) -> String {
    format!(
        r#"<svg viewBox="0 0 {W} 80" role="img"><text class="empty" x="{}" y="44" text-anchor="middle">{}</text></svg>"#,
        W / 2.0,
        esc(msg)
    )
}

/// Bars of `values`; where `withheld` is above 0, the requests k withheld
/// that day are stacked on the bar in grey (or, for a day without a value,
/// a "< k" mark stands where its bar would be).
fn bar_chart(
    labels: &[String],
    values: &[Option<f64>],
    withheld: &[u64],
    color: &str,
    unit: &str,
    fmt: &dyn Fn(f64) -> String,
) -> String {
    if values.iter().all(Option::is_none) && withheld.iter().all(|w| *w == 0) {
        return empty_svg("No data in this period");
    }
    let max = values
        .iter()
        .zip(withheld.iter().chain(std::iter::repeat(&0)))
        .map(|(v, w)| v.map_or(0.0, |v| v + *w as f64))
        .fold(0.0, f64::max);
    let (ymax, step) = nice_scale(max);
    let mut s = format!(r#"<svg viewBox="0 0 {W} {H}" role="img" aria-label="{}">"#, esc(unit));
    frame(&mut s, labels, ymax, step, unit, fmt);
    let ph = H - TOP - BOTTOM;
    let slot = (W - LEFT - RIGHT) / labels.len().max(1) as f64;
    let bw = (slot * 0.72).max(1.0);
    for (i, (l, v)) in labels.iter().zip(values).enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bw) / 2.0;
        let w = withheld.get(i).copied().unwrap_or(0);
        let Some(v) = v else {
            if w > 0 {
                let _ = write!(
                    s,
                    r#"<text class="withheld" x="{:.1}" y="{:.1}" text-anchor="middle" fill="{GREY}"><title>{}: fewer than k accounts, withheld</title>&lt; k</text>"#,
                    x + bw / 2.0,
                    TOP + ph - 6.0,
                    esc(l)
                );
            }
            continue;
        };
        let h = (v / ymax * ph).max(if *v > 0.0 { 1.0 } else { 0.0 });
        if w > 0 {
            let wh = (w as f64 / ymax * ph).max(1.0);
            let _ = write!(
                s,
                r#"<rect class="withheld" x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{wh:.1}" rx="2" fill="{GREY}"><title>{}: {} {} withheld (fewer than k accounts)</title></rect>"#,
                TOP + ph - h - wh,
                esc(l),
                group_digits(w),
                esc(unit)
            );
        }
        let _ = write!(
            s,
            r#"<rect class="mark" x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{h:.1}" rx="2" fill="{color}"><title>{}: {} {}</title></rect>"#,
            TOP + ph - h,
            esc(l),
            group_digits(*v as u64),
            esc(unit)
        );
    }
    s.push_str("</svg>");
    s
}

fn line_chart(labels: &[String], series: &[(&str, &str, Vec<Option<f64>>)], unit: &str) -> String {
    let max = series
        .iter()
        .flat_map(|(_, _, v)| v.iter().flatten())
        .cloned()
        .fold(0.0, f64::max);
    if labels.is_empty() {
        return empty_svg("No data in this period");
    }
    let (ymax, step) = nice_scale(max);
    let mut s = format!(r#"<svg viewBox="0 0 {W} {H}" role="img" aria-label="{}">"#, esc(unit));
    frame(&mut s, labels, ymax, step, unit, &|v| trim_num(v));
    let ph = H - TOP - BOTTOM;
    let slot = (W - LEFT - RIGHT) / labels.len() as f64;
    for (name, color, values) in series {
        let pts: Vec<(f64, f64, f64, &String)> = values
            .iter()
            .zip(labels)
            .enumerate()
            .filter_map(|(i, (v, l))| v.map(|v| (LEFT + slot * (i as f64 + 0.5), TOP + ph - v / ymax * ph, v, l)))
            .collect();
        let path: Vec<String> = pts.iter().map(|(x, y, _, _)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(
            s,
            r#"<polyline class="mark" fill="none" stroke="{color}" stroke-width="2.5" points="{}"/>"#,
            path.join(" ")
        );
        for (x, y, v, l) in &pts {
            let _ = write!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}"><title>{}: {} {} ms</title></circle>"#,
                esc(l),
                name,
                trim_num(*v)
            );
        }
    }
    s.push_str("</svg>");
    let keys: Vec<(&str, &str)> = series.iter().map(|(n, c, _)| (*n, *c)).collect();
    legend(&keys) + &s
}

fn status_chart(labels: &[String], by_day_status: &Summaries) -> String {
    if labels.is_empty() {
        return empty_svg("No data in this period");
    }
    let mut s = format!(r#"<svg viewBox="0 0 {W} {H}" role="img" aria-label="share of requests">"#);
    frame(&mut s, labels, 100.0, 25.0, "% of requests", &|v| format!("{v:.0} %"));
    let ph = H - TOP - BOTTOM;
    let slot = (W - LEFT - RIGHT) / labels.len() as f64;
    let bw = (slot * 0.72).max(1.0);
    let mut present: Vec<&str> = Vec::new();
    for (i, day) in labels.iter().enumerate() {
        // Withheld outcomes are a share of their own, so no other share grows.
        let rows: Vec<&Summary> = by_day_status
            .table()
            .into_iter()
            .filter(|r| r.day.as_deref() == Some(day))
            .collect();
        let total: u64 = rows.iter().map(|r| r.requests).sum();
        if total == 0 {
            continue;
        }
        let mut y = TOP + ph;
        for (class, color) in STATUS_COLORS {
            let n: u64 = rows
                .iter()
                .filter(|r| r.status.as_deref() == Some(class))
                .map(|r| r.requests)
                .sum();
            if n == 0 {
                continue;
            }
            if !present.contains(&class) {
                present.push(class);
            }
            let h = n as f64 / total as f64 * ph;
            y -= h;
            let x = LEFT + slot * i as f64 + (slot - bw) / 2.0;
            let _ = write!(
                s,
                r#"<rect class="mark" x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{h:.1}" fill="{color}"><title>{}: {} {} ({:.1} %)</title></rect>"#,
                esc(day),
                group_digits(n),
                esc(class),
                100.0 * n as f64 / total as f64
            );
        }
    }
    s.push_str("</svg>");
    let keys: Vec<(&str, &str)> = STATUS_COLORS
        .iter()
        .filter(|(c, _)| present.contains(c))
        .map(|(c, color)| {
            let label = match *c {
                NONE => "no response",
                OTHER => "other (few accounts)",
                WITHHELD => "withheld (fewer than k accounts)",
                c => c,
            };
            (label, *color)
        })
        .collect();
    legend(&keys) + &s
}

fn hbar_chart(routes: &[&Summary]) -> String {
    if routes.is_empty() {
        return empty_svg("No route has enough distinct accounts to be shown");
    }
    let row_h = 26.0;
    let label_w = 330.0;
    let h = TOP + routes.len() as f64 * row_h + 34.0;
    let max = routes.iter().map(|r| r.requests).max().unwrap_or(1) as f64;
    let (xmax, step) = nice_scale(max);
    let pw = W - label_w - RIGHT - 10.0;
    let mut s = format!(r#"<svg viewBox="0 0 {W} {h}" role="img" aria-label="requests per route">"#);
    let mut t = 0.0;
    while t <= xmax + step / 2.0 {
        let x = label_w + t / xmax * pw;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{:.1}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            h - 30.0,
            h - 16.0,
            compact(t)
        );
        t += step;
    }
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">requests</text>"#,
        label_w + pw / 2.0,
        h - 2.0
    );
    for (i, r) in routes.iter().enumerate() {
        let y = TOP + i as f64 * row_h;
        let name = match r.route.as_deref() {
            Some(OTHER) | None => "other routes (few users each)".to_owned(),
            Some(WITHHELD) if r.withheld => "withheld (fewer than k accounts)".to_owned(),
            Some(x) => x.to_owned(),
        };
        let shown = if name.chars().count() > 46 {
            format!("{}…", name.chars().take(45).collect::<String>())
        } else {
            name.clone()
        };
        let w = (r.requests as f64 / xmax * pw).max(1.0);
        let (fill, accounts) = if r.withheld {
            (GREY, "accounts not shown".to_owned())
        } else {
            (BLUE, format!("{} signed-in accounts", group_digits(r.vouched_accounts)))
        };
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="mark" x="{label_w}" y="{:.1}" width="{w:.1}" height="{:.1}" rx="2" fill="{fill}"><title>{}: {} requests, {accounts}</title></rect><text x="{:.1}" y="{:.1}">{}</text>"#,
            label_w - 8.0,
            y + row_h * 0.62,
            esc(&shown),
            y + 3.0,
            row_h - 6.0,
            esc(&name),
            group_digits(r.requests),
            label_w + w + 6.0,
            y + row_h * 0.62,
            compact(r.requests as f64)
        );
    }
    s.push_str("</svg>");
    s
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 request`, `2,000 requests`.
fn requests_n(n: u64) -> String {
    format!("{} request{}", group_digits(n), if n == 1 { "" } else { "s" })
}

fn trim_num(v: f64) -> String {
    let s = if v >= 100.0 {
        return format!("{v:.0}");
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn compact(v: f64) -> String {
    if v >= 1e9 {
        format!("{}G", trim_num(v / 1e9))
    } else if v >= 1e6 {
        format!("{}M", trim_num(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim_num(v / 1e3))
    } else {
        trim_num(v)
    }
}

fn human_ms(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else {
        format!("{} ms", trim_num(us as f64 / 1000.0))
    }
}
