//! `privlog report` rendered in headless Chromium: every chart draws, the
//! page is self-contained and shows no pseudonym.

mod support;

use std::path::Path;
use std::process::Command;

use support::cli::privlog;
use support::files::TempDir;
use support::records::read_records;
use support::traffic::traffic;

const CHARTS: [&str; 5] = [
    "requests-per-day",
    "accounts-per-day",
    "latency",
    "status-mix",
    "top-routes",
];

fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output();
    match out {
        Ok(o) => o,
        Err(e) => {
            panic!("chromium cannot run ({e}): install it with scripts/install-peers.sh (Debian package chromium)")
        }
    }
}

/// The marks drawn inside the chart's `<svg data-chart=…>` in the DOM Chromium built.
fn marks_in(dom: &str, chart: &str) -> usize {
    let start = dom
        .find(&format!("data-chart=\"{chart}\""))
        .unwrap_or_else(|| panic!("chart {chart} missing from the DOM"));
    let end = dom[start..].find("</svg>").map_or(dom.len(), |e| start + e);
    dom[start..end].matches("class=\"mark\"").count()
}

#[test]
fn every_chart_draws_in_chromium_from_a_self_contained_page() {
    let dir = TempDir::new("report");
    let file = traffic(&dir, 600);
    let html_path = dir.join("report.html");
    let (_, stderr) = privlog(&[
        "report",
        file.to_str().expect("path"),
        "-o",
        html_path.to_str().expect("path"),
        "--title",
        "Test app <November>",
    ]);
    assert!(stderr.contains("wrote"), "{stderr}");
    let html = std::fs::read_to_string(&html_path).expect("report written");

    // Self-contained: nothing is fetched, nothing runs.
    for needle in ["http://", "https://", "<script", "src=", "url(", "<link", "@import"] {
        assert!(!html.contains(needle), "the report references {needle}");
    }
    assert!(html.contains("Test app &lt;November&gt;"), "the title is escaped");
    // Aggregates only: no pseudonym of any account or tenant appears.
    for r in read_records(&file) {
        for p in [r.account, r.tenant].into_iter().flatten() {
            assert!(!html.contains(&p), "pseudonym {p} leaked into the report");
        }
    }

    let url = format!("file://{}", html_path.display());
    let dom = chromium(&dir.join("profile-dom"), &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("Requests per day"), "chromium rendered the page");
    for chart in CHARTS {
        assert!(marks_in(&dom, chart) > 0, "chart {chart} drew nothing");
    }
    // One bar per day: the traffic spans whole days.
    let days: std::collections::BTreeSet<_> = read_records(&file).iter().map(|r| r.ts.date()).collect();
    assert_eq!(marks_in(&dom, "requests-per-day"), days.len());

    // The screenshot is not blank: far more detail than an empty page.
    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").expect("blank page");
    let shot = |page: &Path, png: &Path, profile: &str| {
        chromium(
            &dir.join(profile),
            &[
                "--window-size=1000,2900",
                &format!("--screenshot={}", png.display()),
                &format!("file://{}", page.display()),
            ],
        );
        std::fs::metadata(png).map(|m| m.len()).unwrap_or(0)
    };
    let blank_size = shot(&blank, &dir.join("blank.png"), "profile-blank");
    let report_size = shot(&html_path, &dir.join("report.png"), "profile-shot");
    assert!(blank_size > 0, "chromium took a screenshot");
    assert!(
        report_size > 10 * blank_size,
        "report screenshot ({report_size} bytes) looks blank next to an empty page ({blank_size} bytes)"
    );
}

fn record(ts: time::OffsetDateTime, route: &str, status: u16, account: Option<&str>) -> privlog::Record {
    let mut r = privlog::Record::new(ts, "GET", route);
    r.route = Some(route.to_owned());
    r.status = Some(status);
    r.duration_us = 1500;
    r.account = account.map(str::to_owned);
    // The application vouched for every account here.
    r.account_src = account.map(|_| privlog::AccountSource::App);
    r
}

/// The `<title>` texts of the marks inside one chart of the DOM.
fn titles_in(dom: &str, chart: &str) -> Vec<String> {
    let start = dom
        .find(&format!("data-chart=\"{chart}\""))
        .unwrap_or_else(|| panic!("chart {chart} missing from the DOM"));
    let end = dom[start..].find("</svg>").map_or(dom.len(), |e| start + e);
    dom[start..end]
        .split("<title>")
        .skip(1)
        .filter_map(|t| t.split("</title>").next())
        .map(str::to_owned)
        .collect()
}

/// Ten days of traffic where, on even days, one account's 95 rejected
/// requests are withheld by k: Chromium's outcome chart shows them as a
/// withheld share, never as 100 % successful; anonymous rejected requests
/// are shown whatever the accounts of their group.
#[test]
fn a_withheld_outcome_is_drawn_as_withheld_not_as_success() {
    let dir = TempDir::new("report-withheld");
    let mut records = Vec::new();
    for day in 0..10i64 {
        let ts = time::macros::datetime!(2026-11-02 10:00 UTC) + time::Duration::days(day);
        for i in 0..20 {
            records.push(record(ts, "/page", 200, Some(&format!("acc_{}", i % 6))));
        }
        if day % 2 == 0 {
            for _ in 0..95 {
                records.push(record(ts, "/export", 403, Some("acc_lone")));
            }
        } else {
            // Nobody signed in: identifies no one, so never withheld.
            for _ in 0..7 {
                records.push(record(ts, "/missing", 404, None));
            }
        }
    }
    let file = dir.join("records.ndjson");
    std::fs::write(
        &file,
        records.iter().map(privlog::Record::to_ndjson).collect::<String>(),
    )
    .expect("write");
    let html_path = dir.join("report.html");
    privlog(&[
        "report",
        file.to_str().expect("path"),
        "-o",
        html_path.to_str().expect("path"),
    ]);

    let url = format!("file://{}", html_path.display());
    let dom = chromium(&dir.join("profile-dom"), &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let status = titles_in(&dom, "status-mix");
    for day in 0..10 {
        let label = format!("2026-11-{:02}", 2 + day);
        let of_day: Vec<_> = status.iter().filter(|t| t.starts_with(&format!("{label}:"))).collect();
        assert!(
            !of_day.iter().any(|t| t.contains("(100.0 %)")),
            "{label} shows one outcome only: {of_day:?}"
        );
        let expect = if day % 2 == 0 {
            format!("{label}: 95 (withheld) (82.6 %)")
        } else {
            format!("{label}: 7 4xx (25.9 %)")
        };
        assert!(of_day.contains(&&expect), "{expect} missing from {of_day:?}");
    }
    assert!(
        dom.contains("withheld (fewer than k accounts)"),
        "the legend names the withheld share"
    );
    // A day as a whole has enough accounts: every request counts on its bar.
    let requests = titles_in(&dom, "requests-per-day");
    assert!(
        requests.contains(&"2026-11-02: 115 requests".to_owned()),
        "{requests:?}"
    );
    assert!(requests.contains(&"2026-11-03: 27 requests".to_owned()), "{requests:?}");
}
