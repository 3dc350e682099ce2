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
