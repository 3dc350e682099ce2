//! Reading record files on several threads into an [`Accumulator`].

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use flate2::read::MultiGzDecoder;

use super::aggregate::Accumulator;
use super::filter::Filter;
use super::observation::Observation;
use crate::read::ReadStats;

/// Bytes handed to a parsing thread at a time, cut at a line end.
const CHUNK: usize = 1 << 20;
/// A line longer than this (no record is; a damaged file may be) is cut.
const MAX_LINE: usize = 16 << 20;

/// What a scan read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanReport {
    /// Records read, lines skipped as torn or damaged, blank lines.
    pub read: ReadStats,
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
/// number of groups, not of records.
///
/// One thread reads (and decompresses) the files in order and cuts them into
/// 1 MiB chunks at line ends; `threads` workers parse the chunks, each into
/// its own accumulator, and the partial results are merged at the end. Torn
/// and damaged lines are skipped and counted.
///
/// ```no_run
/// use privlog::stats::{Aggregator, Dimension, Scan};
///
/// let (agg, report) = Scan::new(vec!["records.ndjson.gz".into()])
///     .run(|| Aggregator::new(vec![Dimension::Day]))?;
/// eprintln!("{} records, {} damaged lines skipped", report.read.records, report.read.skipped);
/// # Ok::<(), privlog::stats::ScanError>(())
/// ```
#[derive(Debug)]
pub struct Scan {
    paths: Vec<PathBuf>,
    threads: usize,
    filter: Filter,
    progress: Arc<AtomicU64>,
    chunk: usize,
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
    /// A file that cannot be opened, before anything is read. A read error
    /// in the middle of a file (a truncated gzip member) is counted as one
    /// skipped line and the scan goes on with the next file.
    pub fn run<A: Accumulator>(self, make: impl Fn() -> A + Sync) -> Result<(A, ScanReport), ScanError> {
        let mut inputs: Vec<Box<dyn Read + Send>> = Vec::with_capacity(self.paths.len());
        for p in &self.paths {
            inputs.push(open_counted(p, &self.progress).map_err(|source| ScanError {
                path: p.clone(),
                source,
            })?);
        }
        let (tx, rx) = sync_channel::<Vec<u8>>(self.threads * 2);
        let rx = Mutex::new(rx);
        let (pool_tx, pool_rx) = sync_channel::<Vec<u8>>(self.threads * 3);
        let filter = &self.filter;
        let make = &make;
        std::thread::scope(|s| {
            let chunk = self.chunk;
            let reader = s.spawn(move || read_chunks(inputs, chunk, tx, pool_rx));
            let workers: Vec<_> = (0..self.threads)
                .map(|_| {
                    let rx = &rx;
                    let pool = pool_tx.clone();
                    s.spawn(move || parse_chunks(rx, pool, filter, make()))
                })
                .collect();
            drop(pool_tx);
            let io_errors = reader.join().unwrap_or(1);
            let mut acc: Option<A> = None;
            let mut report = ScanReport::default();
            report.read.skipped += io_errors;
            for w in workers {
                if let Ok((a, r)) = w.join() {
                    report.read.records += r.read.records;
                    report.read.skipped += r.read.skipped;
                    report.read.blank += r.read.blank;
                    report.matched += r.matched;
                    match acc.as_mut() {
                        Some(x) => x.merge(a),
                        None => acc = Some(a),
                    }
                }
            }
            Ok((acc.unwrap_or_else(make), report))
        })
    }
}

struct Counted<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

fn open_counted(path: &std::path::Path, counter: &Arc<AtomicU64>) -> io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    let mut r = BufReader::with_capacity(
        1 << 16,
        Counted {
            inner: raw,
            counter: Arc::clone(counter),
        },
    );
    let head = io::BufRead::fill_buf(&mut r)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(MultiGzDecoder::new(r)))
    } else {
        Ok(Box::new(r))
    }
}

/// Cuts every input into chunks that end at a line end; returns the number
/// of read errors (each ends its file).
fn read_chunks(
    inputs: Vec<Box<dyn Read + Send>>,
    chunk: usize,
    tx: SyncSender<Vec<u8>>,
    pool: Receiver<Vec<u8>>,
) -> u64 {
    let mut errors = 0;
    let mut carry: Vec<u8> = Vec::new();
    for mut input in inputs {
        loop {
            let mut buf = pool.try_recv().unwrap_or_else(|_| Vec::with_capacity(chunk + 4096));
            buf.clear();
            buf.append(&mut carry);
            let mut eof = false;
            // Fill to `chunk` bytes, and further while no line end has been
            // seen yet, so a chunk never ends inside its only line.
            while buf.len() < chunk || (buf.len() < MAX_LINE && !buf.contains(&b'\n')) {
                let start = buf.len();
                buf.resize(start + chunk.saturating_sub(start).max(4096), 0);
                match input.read(&mut buf[start..]) {
                    Ok(0) => {
                        buf.truncate(start);
                        eof = true;
                        break;
                    }
                    Ok(n) => buf.truncate(start + n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(start),
                    Err(_) => {
                        buf.truncate(start);
                        errors += 1;
                        eof = true;
                        break;
                    }
                }
            }
            if !eof {
                // Keep the partial last line for the next chunk.
                if let Some(nl) = buf.iter().rposition(|&b| b == b'\n') {
                    carry.extend_from_slice(&buf[nl + 1..]);
                    buf.truncate(nl + 1);
                }
            }
            if !buf.is_empty() && tx.send(buf).is_err() {
                return errors;
            }
            if eof {
                break;
            }
        }
    }
    errors
}

fn parse_chunks<A: Accumulator>(
    rx: &Mutex<Receiver<Vec<u8>>>,
    pool: SyncSender<Vec<u8>>,
    filter: &Filter,
    mut acc: A,
) -> (A, ScanReport) {
    let mut report = ScanReport::default();
    let no_filter = *filter == Filter::default();
    loop {
        let chunk = {
            let guard = rx.lock().unwrap_or_else(PoisonError::into_inner);
            guard.recv()
        };
        let Ok(chunk) = chunk else { break };
        let body = chunk.strip_suffix(b"\n").unwrap_or(&chunk);
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
                        acc.add(&o);
                    }
                }
                None => report.read.skipped += 1,
            }
        }
        let _ = pool.try_send(chunk);
    }
    (acc, report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Record;
    use crate::stats::{Aggregator, Dimension};
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

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let err = Scan::new(vec!["/nonexistent/privlog.ndjson".into()])
            .run(|| Aggregator::new(vec![]))
            .expect_err("missing file");
        assert_eq!(err.to_string(), "cannot read record file /nonexistent/privlog.ndjson");
    }
}
