//! The statistics sink behind the real layer: summaries per day, ISO week
//! and month emitted as each simulated period ends and at shutdown, matching
//! the records exactly under k-anonymity, with every record accounted for.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use privlog::sink::{Accounting, Ledger, Sink, SinkError};
use privlog::usage::{Period, Summaries, Summary, UsageSink};
use privlog::{AccountSource, Record};
use support::files::TempDir;
use support::records::read_records;
use support::traffic::{STEP_SECS, sim_clock, traffic_with};

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

/// Several statistics sinks over the same records, as one sink: the first
/// keeps the pipeline's accounting, the others their own detached ledgers.
struct Fan(Vec<UsageSink>);

impl Sink for Fan {
    fn name(&self) -> &str {
        "stats"
    }
    fn sees_sampled_out(&self) -> bool {
        true
    }
    fn attach(&mut self, ledger: Ledger) -> Accounting {
        for (i, s) in self.0.iter_mut().enumerate() {
            let l = if i == 0 {
                ledger.clone()
            } else {
                Ledger::detached("stats")
            };
            assert_eq!(s.attach(l), Accounting::Sink);
        }
        Accounting::Sink
    }
    fn write(&mut self, batch: &[Record]) -> Result<(), SinkError> {
        self.0.iter_mut().try_for_each(|s| s.write(batch))
    }
    fn tick(&mut self) -> Result<(), SinkError> {
        self.0.iter_mut().try_for_each(Sink::tick)
    }
    fn close(&mut self, deadline: Instant) -> Result<(), SinkError> {
        self.0.iter_mut().try_for_each(|s| s.close(deadline))
    }
}

/// A sink at k = 5 whose summaries the test reads.
fn collecting(period: Period, tick: &Arc<AtomicU64>) -> (UsageSink, Arc<Mutex<Vec<Summaries>>>) {
    let out: Arc<Mutex<Vec<Summaries>>> = Arc::default();
    let seen = Arc::clone(&out);
    let sink = UsageSink::to_callback(move |s: &Summaries| {
        seen.lock().expect("lock").push(s.clone());
        Ok(())
    })
    .period(period)
    .k(5)
    // Fifty simulated requests of grace: a record still on its way when
    // the clock passes its period's end is counted in its own period.
    .grace(Duration::from_secs(50 * STEP_SECS))
    .clock(sim_clock(tick));
    (sink, out)
}

/// What the records say of one group: requests, every account, and the
/// vouched accounts per key period (kid × epoch).
#[derive(Default)]
struct Truth {
    requests: u64,
    accounts: BTreeSet<String>,
    vouched: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Truth {
    fn vouched(&self) -> u64 {
        self.vouched.values().map(|s| s.len() as u64).max().unwrap_or(0)
    }
}

fn month_of(r: &Record) -> String {
    format!("{:04}-{:02}", r.ts.year(), u8::from(r.ts.month()))
}

fn week_of(r: &Record) -> String {
    let (y, w, _) = r.ts.to_iso_week_date();
    format!("{y:04}-W{w:02}")
}

fn day_of(r: &Record) -> String {
    format!("{:04}-{:02}-{:02}", r.ts.year(), u8::from(r.ts.month()), r.ts.day())
}

fn truth(records: &[Record], period: fn(&Record) -> String) -> BTreeMap<GroupKey, Truth> {
    let mut want: BTreeMap<GroupKey, Truth> = BTreeMap::new();
    for r in records {
        let route = r.route.clone().unwrap_or_else(|| r.path.clone());
        let status = r.status.map_or("(none)".to_owned(), |s| format!("{}xx", s / 100));
        let t = want.entry((period(r), route, r.method.clone(), status)).or_default();
        t.requests += 1;
        if let Some(a) = &r.account {
            t.accounts.insert(a.clone());
            if r.account_src == Some(AccountSource::App) {
                t.vouched
                    .entry((r.kid.clone(), r.epoch.clone()))
                    .or_default()
                    .insert(a.clone());
            }
        }
    }
    want
}

fn period_label(row: &Summary) -> String {
    row.month
        .clone()
        .or_else(|| row.week.clone())
        .or_else(|| row.day.clone())
        .expect("a period")
}

/// Checks one period's rows against the records under k = 5: every group
/// with at least 5 vouched accounts (or none at all) has its own exact row,
/// no other group does, and each period's requests add up, withheld
/// included. Returns the rows shown on their own.
fn check_k5(batches: &[Summaries], want: &BTreeMap<GroupKey, Truth>) -> BTreeMap<GroupKey, Summary> {
    let mut shown: BTreeMap<GroupKey, Summary> = BTreeMap::new();
    let mut per_period: BTreeMap<String, u64> = BTreeMap::new();
    for row in batches.iter().flat_map(|b| b.table()) {
        *per_period.entry(period_label(row)).or_default() += row.requests;
        if row.withheld || row.is_other() {
            continue;
        }
        let key = (
            period_label(row),
            row.route.clone().expect("route"),
            row.method.clone().expect("method"),
            row.status.clone().expect("status"),
        );
        assert!(shown.insert(key, row.clone()).is_none(), "each group emitted once");
    }
    let mut want_per_period: BTreeMap<String, u64> = BTreeMap::new();
    for (key, t) in want {
        *want_per_period.entry(key.0.clone()).or_default() += t.requests;
        let visible = t.accounts.is_empty() || t.vouched() >= 5;
        match shown.get(key) {
            Some(row) => {
                assert!(visible, "{key:?} has fewer than 5 vouched accounts but was shown");
                assert_eq!(
                    (row.requests, row.distinct_accounts, row.vouched_accounts),
                    (t.requests, t.accounts.len() as u64, t.vouched()),
                    "{key:?}"
                );
            }
            None => assert!(!visible, "{key:?} meets k but has no row of its own"),
        }
    }
    assert_eq!(
        shown.len(),
        want.iter()
            .filter(|(_, t)| t.accounts.is_empty() || t.vouched() >= 5)
            .count()
    );
    assert_eq!(per_period, want_per_period, "each period's requests add up");
    shown
}

#[test]
fn forty_days_give_exact_monthly_and_weekly_accounts_that_daily_rows_overcount() {
    let dir = TempDir::new("stats-months");
    let tick = Arc::new(AtomicU64::new(0));
    let (month, months) = collecting(Period::Month, &tick);
    let (week, weeks) = collecting(Period::Week, &tick);
    let (day, days) = collecting(Period::Day, &tick);
    // 40 simulated days, 2026-11-20 to 2026-12-29, under the default
    // monthly rotation.
    let n = (40 * 86_400 / STEP_SECS) as usize;
    let (file, report) = traffic_with(&dir, n, tick, Some(Box::new(Fan(vec![month, week, day]))));
    assert!(report.stats.is_balanced(), "{:?}", report.stats);
    let stats_sink = report
        .stats
        .sinks
        .iter()
        .find(|s| s.name == "stats")
        .expect("stats sink");
    assert_eq!((stats_sink.delivered, stats_sink.buffered), (n as u64, 0));

    let records = read_records(&file);
    assert_eq!(records.len(), n);
    assert!(records.iter().all(|r| r.epoch == month_of(r)), "monthly rotation");
    let months = months.lock().expect("lock");
    let weeks = weeks.lock().expect("lock");
    let days = days.lock().expect("lock");
    assert!(
        months.len() >= 2,
        "November was emitted when it ended, not only at shutdown"
    );

    let month_rows = check_k5(&months, &truth(&records, month_of));
    let week_rows = check_k5(&weeks, &truth(&records, week_of));
    let day_rows = check_k5(&days, &truth(&records, day_of));
    let labels: BTreeSet<String> = month_rows.keys().map(|k| k.0.clone()).collect();
    assert_eq!(labels, BTreeSet::from(["2026-11".to_owned(), "2026-12".to_owned()]));
    assert_eq!(week_rows.keys().map(|k| k.0.clone()).collect::<BTreeSet<_>>().len(), 7);

    // The busy route: request i of the traffic (i mod 10 in 0..=4) comes
    // from account 7i mod 30, one of the 15 accounts ending in 0, 1, 4, 7
    // or 8; all use it every month, 12 of them vouched for (24, 27 and 28
    // only claim theirs). Its daily rows, summed, count each of them about
    // once a day.
    let issues = |p: &str| {
        (
            p.to_owned(),
            "/rest/issues/{id}".to_owned(),
            "GET".to_owned(),
            "2xx".to_owned(),
        )
    };
    for m in ["2026-11", "2026-12"] {
        let row = &month_rows[&issues(m)];
        assert_eq!((row.distinct_accounts, row.vouched_accounts), (15, 12), "{m}");
        let daily: u64 = day_rows
            .iter()
            .filter(|(k, _)| k.0.starts_with(m) && k.1 == "/rest/issues/{id}" && k.2 == "GET")
            .map(|(_, r)| r.vouched_accounts)
            .sum();
        assert!(daily > 2 * row.vouched_accounts, "{m}: daily rows sum to {daily}");
        // Requests add up across days; accounts do not.
        let daily_requests: u64 = day_rows
            .iter()
            .filter(|(k, _)| k.0.starts_with(m) && k.1 == "/rest/issues/{id}" && k.2 == "GET")
            .map(|(_, r)| r.requests)
            .sum();
        assert_eq!(daily_requests, row.requests, "{m}");
    }
}
