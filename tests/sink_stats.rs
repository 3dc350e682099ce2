//! The statistics sink behind the real layer: summaries per day emitted as
//! each simulated day ends and at shutdown, matching the records exactly,
//! with every record accounted for.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use privlog::usage::{Period, Summaries, UsageSink};
use support::files::TempDir;
use support::records::read_records;
use support::traffic::{sim_clock, traffic_with};

/// Day, route, method, status class.
type GroupKey = (String, String, String, String);

#[test]
fn daily_summaries_from_the_layer_match_the_records_and_balance() {
    let dir = TempDir::new("stats-sink");
    let batches: Arc<Mutex<Vec<Summaries>>> = Arc::default();
    let seen = Arc::clone(&batches);
    let tick = Arc::new(AtomicU64::new(0));
    let sink = UsageSink::to_callback(move |s: &Summaries| {
        seen.lock().expect("lock").push(s.clone());
        Ok(())
    })
    .period(Period::Day)
    .k(1)
    .clock(sim_clock(&tick));
    let (file, report) = traffic_with(&dir, 600, tick, Some(Box::new(sink)));
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    let stats_sink = report
        .stats
        .sinks
        .iter()
        .find(|s| s.name == "stats")
        .expect("stats sink");
    assert_eq!(stats_sink.delivered, 600);
    assert_eq!(stats_sink.buffered, 0);

    let batches = batches.lock().expect("lock");
    assert!(
        batches.len() >= 2,
        "days were emitted as they ended, not only at shutdown"
    );
    let mut got: BTreeMap<GroupKey, (u64, u64)> = BTreeMap::new();
    for row in batches.iter().flat_map(|b| &b.rows) {
        let key = (
            row.day.clone().expect("day"),
            row.route.clone().expect("route"),
            row.method.clone().expect("method"),
            row.status.clone().expect("status"),
        );
        assert!(
            got.insert(key, (row.requests, row.distinct_accounts)).is_none(),
            "each group emitted once"
        );
    }

    let mut want: BTreeMap<GroupKey, (u64, BTreeSet<String>)> = BTreeMap::new();
    for r in read_records(&file) {
        let day = format!("{:04}-{:02}-{:02}", r.ts.year(), u8::from(r.ts.month()), r.ts.day());
        let route = r.route.clone().unwrap_or_else(|| r.path.clone());
        let status = r.status.map_or("(none)".to_owned(), |s| format!("{}xx", s / 100));
        let e = want.entry((day, route, r.method.clone(), status)).or_default();
        e.0 += 1;
        e.1.extend(r.account.clone());
    }
    let want: BTreeMap<_, _> = want.into_iter().map(|(k, (n, a))| (k, (n, a.len() as u64))).collect();
    assert_eq!(got, want);
}
