//! Reading record files on several threads into an [`Accumulator`].

use std::fmt;
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use super::aggregate::Accumulator;
use super::filter::Filter;
use super::observation::Observation;
use crate::read::ReadCounts;
use crate::read::blocks::{Block, BlockReader, Lines};

/// Bytes handed to a parsing thread at a time, cut at a line end.
const CHUNK: usize = 1 << 20;
/// A parsing thread whose partial result holds this many groups merges it
/// into the shared result and starts a new one, so memory is bounded by the
/// shared result's group cap, not by the cap times the number of threads.
const HAND_OVER_GROUPS: usize = 4096;

/// What a scan read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanReport {
    /// Records read, lines skipped as torn or damaged, blank lines.
    pub read: ReadCounts,
    /// Records that passed the filter and were counted.
    pub matched: u64,
}

/// A record file that could not be opened.
#[derive(Debug)]
pub struct ScanError {
    path: PathBuf,
    source: io::Error,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read record file {}", self.path.display())
    }
}

impl std::error::Error for ScanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Reads record files (plain, gzip, or `-` for standard input) with one
/// reading thread and several parsing threads, in memory bounded by the
/// number of groups, not of records or files.
///
/// One thread opens the files one at a time, in order, reads (and
/// decompresses) each and cuts it into 1 MiB chunks at line ends; `threads`
/// workers parse the chunks, each into its own accumulator, and merge it
/// into one shared result at the end, or as soon as it holds 4096 groups or
/// reaches a group cap (then starting a new one). With an
/// [`Aggregator`](super::Aggregator) capped by
/// [`max_groups`](super::Aggregator::max_groups) and
/// [`max_unmatched_groups`](super::Aggregator::max_unmatched_groups), memory
/// is bounded by the caps whatever the number of threads or distinct groups,
/// and a group past a cap is counted under `(other)` in full. Torn and
/// damaged lines are skipped and counted; a line longer than any record can
/// be ([`MAX_LINE_LEN`](crate::record::MAX_LINE_LEN)) is read past without
/// being held and counted once.
///
/// ```no_run
/// use privlog::usage::{Aggregator, Dimension, Scan};
///
/// let (agg, report) = Scan::new(vec!["records.ndjson.gz".into()])
///     .run(|| Aggregator::new(vec![Dimension::Day]))?;
/// eprintln!("{} records, {} damaged lines skipped", report.read.records, report.read.skipped);
/// # Ok::<(), privlog::usage::ScanError>(())
/// ```
#[derive(Debug)]
pub struct Scan {
    paths: Vec<PathBuf>,
    threads: usize,
    filter: Filter,
    progress: Arc<AtomicU64>,
    chunk: usize,
    hand_over_groups: usize,
}

impl Scan {
    /// A scan of `paths` in order (`-` is standard input).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Scan {
            paths,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            filter: Filter::default(),
            progress: Arc::new(AtomicU64::new(0)),
            chunk: CHUNK,
            hand_over_groups: HAND_OVER_GROUPS,
        }
    }

    /// Parsing threads. Defaults to the number of CPUs.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Counts only observations that pass `filter`. Defaults to everything.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// A counter of the file bytes read so far (compressed bytes for gzip
    /// files), for a progress display.
    pub fn progress(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.progress)
    }

    /// Reads everything, counting each observation that passes the filter
    /// into an accumulator made by `make` (one per thread).
    ///
    /// # Errors
    /// A file that cannot be opened: checked for every file before anything
    /// is read (and again when its turn comes). A read error in the middle
    /// of a file (a truncated gzip member) is counted as one skipped line and
    /// the scan goes on with the next file.
    pub fn run<A: Accumulator>(self, make: impl Fn() -> A + Sync) -> Result<(A, ScanReport), ScanError> {
        // Each file is opened and closed again here, so a missing or
        // unreadable one stops the scan before it starts, however many files
        // there are; the reading thread then holds one file open at a time.
        for p in self.paths.iter().filter(|p| p.as_os_str() != "-") {
            File::open(p).map_err(|source| ScanError {
                path: p.clone(),
                source,
            })?;
        }
        let shared: Mutex<Option<A>> = Mutex::new(None);
        let no_filter = self.filter == Filter::default();
        let blocks = BlockReader {
            paths: &self.paths,
            threads: self.threads,
            block_bytes: self.chunk,
            lines: Lines::Records,
            progress: Some(&*self.progress),
        };
        let parse = |(acc, report): &mut (A, ScanReport), block: &Block| {
            parse_block(&block.data, &self.filter, no_filter, report, |o| {
                acc.add(o);
                if acc.hand_over_due(self.hand_over_groups) {
                    hand_over(&shared, std::mem::replace(acc, make()));
                }
            });
        };
        let (parts, read) = blocks
            .run(|| (make(), ScanReport::default()), parse)
            .map_err(|e| ScanError {
                path: self.paths.get(e.file).cloned().unwrap_or_default(),
                source: e.source,
            })?;
        let mut report = ScanReport::default();
        for (acc, r) in parts {
            hand_over(&shared, acc);
            report.read.records += r.read.records;
            report.read.skipped += r.read.skipped;
            report.read.blank += r.read.blank;
            report.matched += r.matched;
        }
        report.read.skipped += read.damaged;
        let acc = shared.into_inner().unwrap_or_else(PoisonError::into_inner);
        Ok((acc.unwrap_or_else(make), report))
    }
}

/// Merges a partial result into the shared one.
fn hand_over<A: Accumulator>(shared: &Mutex<Option<A>>, part: A) {
    let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
    match guard.as_mut() {
        Some(acc) => acc.merge(part),
        None => *guard = Some(part),
    }
}

/// Parses the lines of a block, counting them in `report` and handing each
/// observation that passes `filter` to `add`.
fn parse_block(
    block: &[u8],
    filter: &Filter,
    no_filter: bool,
    report: &mut ScanReport,
    mut add: impl FnMut(&Observation<'_>),
) {
    let body = block.strip_suffix(b"\n").unwrap_or(block);
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    for end in ends {
        let line = body[start..end].trim_ascii();
        start = end + 1;
        if line.is_empty() {
            report.read.blank += 1;
            continue;
        }
        match Observation::parse(line) {
            Some(o) => {
                report.read.records += 1;
                if no_filter || filter.matches(&o) {
                    report.matched += 1;
                    add(&o);
                }
            }
            None => report.read.skipped += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Record;
    use crate::usage::{Aggregator, Dimension};
    use proptest::prelude::*;

    fn lines(n: usize, torn_every: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            let mut r = Record::new(
                time::OffsetDateTime::from_unix_timestamp(1_795_000_000 + i as i64 * 4000).expect("valid"),
                "GET",
                format!("/r{}", i % 7),
            );
            r.status = Some([200, 404, 500][i % 3]);
            r.duration_us = (i * 37 % 5000) as u64;
            r.account = Some(format!("acc_{}", i % 11));
            let line = r.to_ndjson();
            if torn_every > 0 && i % torn_every == torn_every - 1 {
                // A torn record followed by the next one on the same line.
                out.extend_from_slice(&line.as_bytes()[..line.len() / 2]);
            } else {
                out.extend_from_slice(line.as_bytes());
            }
        }
        out
    }

    fn sequential(data: &[u8]) -> (Aggregator, u64, u64) {
        let mut agg = Aggregator::new(vec![Dimension::Day, Dimension::Route, Dimension::Status]);
        let (mut ok, mut bad) = (0, 0);
        for line in data
            .split(|&b| b == b'\n')
            .map(<[u8]>::trim_ascii)
            .filter(|l| !l.is_empty())
        {
            match Observation::parse(line) {
                Some(o) => {
                    ok += 1;
                    agg.add(&o);
                }
                None => bad += 1,
            }
        }
        (agg, ok, bad)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn chunked_parallel_scan_equals_a_sequential_read(n in 0usize..300, torn in 0usize..9, chunk in 16usize..3000, threads in 1usize..4) {
            let data = lines(n, torn);
            let dir = std::env::temp_dir().join(format!("privlog-scan-{}-{n}-{torn}-{chunk}-{threads}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("dir");
            let path = dir.join("r.ndjson");
            std::fs::write(&path, &data).expect("write");
            let mut scan = Scan::new(vec![path]).threads(threads);
            scan.chunk = chunk;
            let (agg, report) = scan
                .run(|| Aggregator::new(vec![Dimension::Day, Dimension::Route, Dimension::Status]))
                .expect("scan");
            let (want, ok, bad) = sequential(&data);
            prop_assert_eq!(report.read.records, ok);
            prop_assert_eq!(report.read.skipped, bad);
            prop_assert_eq!(agg.summaries(1), want.summaries(1));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn a_capped_scan_keeps_totals_exact_and_each_kept_group_whole(
            routes in prop::collection::vec((0usize..40, 0i64..3), 1..400),
            cap in 1usize..30,
            hand_over in 1usize..10,
            threads in 1usize..4,
            chunk in 64usize..2000,
        ) {
            let mut data = Vec::new();
            let mut exact: std::collections::HashMap<(String, String), u64> = Default::default();
            for (route, day) in &routes {
                let ts = time::OffsetDateTime::from_unix_timestamp(1_795_132_800 + day * 86_400).expect("valid");
                let path = format!("/scan/{route}");
                data.extend_from_slice(Record::new(ts, "GET", path.clone()).to_ndjson().as_bytes());
                let day = format!("2026-11-{}", 20 + day);
                *exact.entry((day, path)).or_default() += 1;
            }
            let dir = std::env::temp_dir().join(format!("privlog-scan-cap-{}-{cap}-{hand_over}-{threads}-{chunk}-{}", std::process::id(), routes.len()));
            std::fs::create_dir_all(&dir).expect("dir");
            let path = dir.join("r.ndjson");
            std::fs::write(&path, &data).expect("write");
            let mut scan = Scan::new(vec![path]).threads(threads);
            scan.chunk = chunk;
            scan.hand_over_groups = hand_over;
            let (agg, report) = scan
                .run(|| Aggregator::new(vec![Dimension::Day, Dimension::Route]).max_groups(cap))
                .expect("scan");
            let _ = std::fs::remove_dir_all(&dir);
            prop_assert_eq!(report.read.records, routes.len() as u64);
            // At most `cap` groups, plus one (other) group per day.
            prop_assert!(agg.len() <= cap + 3, "{} groups", agg.len());
            let rows = agg.summaries(1).rows;
            prop_assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), routes.len() as u64);
            for r in rows.iter().filter(|r| r.route.as_deref() != Some(crate::usage::OTHER)) {
                let key = (r.day.clone().unwrap_or_default(), r.route.clone().unwrap_or_default());
                prop_assert_eq!(Some(&r.requests), exact.get(&key), "{:?}", key);
            }
            if exact.len() <= cap {
                prop_assert_eq!(rows.len(), exact.len(), "nothing folds below the cap");
            }
        }
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let err = Scan::new(vec!["/nonexistent/privlog.ndjson".into()])
            .run(|| Aggregator::new(vec![]))
            .expect_err("missing file");
        assert_eq!(err.to_string(), "cannot read record file /nonexistent/privlog.ndjson");
    }
}
