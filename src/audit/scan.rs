//! Scanning files on every core: one thread reads (and decompresses) blocks of
//! whole lines, the others scan them; results are put back in file order.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;

use super::{AuditRules, Kind, scan_line_with};
use crate::read::blocks::{Block, BlockReader, Lines};

/// How an audit runs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuditOptions {
    /// Masked examples kept per kind. Defaults to 5.
    pub examples: usize,
    /// Scanning threads. Defaults to the number of cores.
    pub threads: usize,
    /// Bytes per block handed to a scanning thread. Defaults to 1 MiB.
    pub block_bytes: usize,
    /// Operator rules and safe words. Defaults to none.
    pub rules: AuditRules,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            examples: 5,
            threads: std::thread::available_parallelism().map_or(2, usize::from),
            block_bytes: 1 << 20,
            rules: AuditRules::none(),
        }
    }
}

/// One masked finding and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Example {
    /// The file.
    pub path: PathBuf,
    /// The line number, from 1 (of the decompressed text for `.gz` files).
    pub line: u64,
    /// The finding, masked (`j***@e***.com`); never the full value.
    pub masked: String,
}

/// What an audit found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditReport {
    /// Findings per kind.
    pub counts: BTreeMap<Kind, u64>,
    /// The first findings of each kind, in file and line order.
    pub examples: BTreeMap<Kind, Vec<Example>>,
    /// Files scanned.
    pub files: u64,
    /// Lines scanned.
    pub lines: u64,
    /// Bytes scanned (decompressed).
    pub bytes: u64,
    /// The names of the operator rules, in order ([`Kind::Rule`] positions).
    pub rule_names: Vec<String>,
}

impl AuditReport {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.counts.values().all(|n| *n == 0)
    }

    /// All findings.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// How a kind is named in reports: `rule:<name>` for an operator rule,
    /// the kind's own name ([`Kind::as_str`]) otherwise.
    pub fn kind_name(&self, kind: Kind) -> String {
        match kind {
            Kind::Rule(n) => match self.rule_names.get(usize::from(n)) {
                Some(name) => format!("rule:{name}"),
                None => kind.to_string(),
            },
            k => k.as_str().to_owned(),
        }
    }
}

/// Why an audit stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuditError {
    /// A file could not be opened or read.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Io { path, .. } => write!(f, "cannot read {}", path.display()),
        }
    }
}

impl std::error::Error for AuditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuditError::Io { source, .. } => Some(source),
        }
    }
}

struct BlockResult {
    file: usize,
    seq: u64,
    lines: u64,
    counts: Vec<u64>,
    examples: Vec<(Kind, u64, String)>,
}

fn scan_block(block: &Block, keep: usize, rules: &AuditRules) -> BlockResult {
    let kinds = Kind::ALL.len() + rules.names().len();
    let mut r = BlockResult {
        file: block.file,
        seq: block.seq,
        lines: 0,
        counts: vec![0; kinds],
        examples: Vec::new(),
    };
    let mut per_kind = vec![0usize; kinds];
    let data = &block.data;
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', data).map(|i| i + 1);
    let last = (data.last() != Some(&b'\n')).then_some(data.len());
    for end in ends.chain(last) {
        let line = &data[start..end];
        start = end;
        r.lines += 1;
        let n = r.lines;
        scan_line_with(line, rules, &mut |finding| {
            let i = finding.kind().index();
            if let (Some(count), Some(kept)) = (r.counts.get_mut(i), per_kind.get_mut(i)) {
                *count += 1;
                if *kept < keep {
                    *kept += 1;
                    r.examples.push((finding.kind(), n, finding.masked()));
                }
            }
        });
    }
    r
}

/// Scans `paths` (plain or gzip text, `-` for standard input) for personal
/// data and secrets on `options.threads` threads.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("privlog-audit-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let log = dir.join("access.log");
/// std::fs::write(&log, "198.51.100.23 - - [22/Nov/2026:09:30:00 +0000] \"GET /users/jane@example.com HTTP/1.1\" 200 5\n")?;
/// let report = privlog::audit::audit_files(&[log], &Default::default())?;
/// assert_eq!(report.total(), 2); // an IPv4 address and an e-mail address
/// # std::fs::remove_dir_all(dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`AuditError::Io`] naming the first file that could not be read.
pub fn audit_files(paths: &[PathBuf], options: &AuditOptions) -> Result<AuditReport, AuditError> {
    let keep = options.examples;
    let rules = &options.rules;
    let blocks = BlockReader {
        paths,
        threads: options.threads,
        block_bytes: options.block_bytes.max(4096),
        lines: Lines::All,
        progress: None,
    };
    let scan = |results: &mut Vec<BlockResult>, block: &Block| results.push(scan_block(block, keep, rules));
    let (parts, read) = blocks.run(Vec::new, scan).map_err(|e| {
        let path = paths.get(e.file).cloned().unwrap_or_default();
        let source = if e.opening {
            io::Error::new(e.source.kind(), format!("cannot open {}: {}", path.display(), e.source))
        } else {
            e.source
        };
        AuditError::Io { path, source }
    })?;
    let mut report = AuditReport {
        files: read.files,
        bytes: read.bytes,
        rule_names: rules.names().to_vec(),
        ..AuditReport::default()
    };
    let mut results: Vec<BlockResult> = parts.into_iter().flatten().collect();
    results.sort_by_key(|r| (r.file, r.seq));
    let mut line_base = 0u64;
    let mut current_file = usize::MAX;
    for r in results {
        if r.file != current_file {
            current_file = r.file;
            line_base = 0;
        }
        for (i, n) in r.counts.iter().enumerate() {
            if let Some(kind) = Kind::from_index(i)
                && *n > 0
            {
                *report.counts.entry(kind).or_default() += n;
            }
        }
        for (kind, line, masked) in r.examples {
            let list = report.examples.entry(kind).or_default();
            if list.len() < keep {
                list.push(Example {
                    path: paths.get(r.file).cloned().unwrap_or_default(),
                    line: line_base + line,
                    masked,
                });
            }
        }
        line_base += r.lines;
        report.lines += r.lines;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn findings_keep_their_file_and_line_across_blocks_threads_and_gzip() {
        let dir = std::env::temp_dir().join(format!("privlog-audit-scan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let mut text = String::new();
        let mut planted = Vec::new();
        for i in 1..=5000u64 {
            if i % 997 == 0 {
                text.push_str(&format!("GET /u/user{i}@example.com 200\n"));
                planted.push(i);
            } else {
                text.push_str("GET /static/app.css 200 clean line\n");
            }
        }
        let plain = dir.join("a.log");
        std::fs::write(&plain, &text).expect("write");
        let gz = dir.join("b.log.gz");
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).expect("create"), Default::default());
        enc.write_all(text.as_bytes()).expect("gz");
        enc.finish().expect("finish");
        let options = AuditOptions {
            examples: 100,
            threads: 3,
            block_bytes: 4096,
            rules: AuditRules::none(),
        };
        let report = audit_files(&[plain.clone(), gz.clone()], &options).expect("audit");
        assert_eq!(report.files, 2);
        assert_eq!(report.lines, 10_000);
        assert_eq!(report.bytes, 2 * text.len() as u64);
        assert_eq!(report.counts.get(&Kind::Email), Some(&(2 * planted.len() as u64)));
        let found: Vec<(PathBuf, u64)> = report.examples[&Kind::Email]
            .iter()
            .map(|e| (e.path.clone(), e.line))
            .collect();
        let expected: Vec<(PathBuf, u64)> = [&plain, &gz]
            .iter()
            .flat_map(|p| planted.iter().map(|l| ((*p).clone(), *l)))
            .collect();
        assert_eq!(found, expected);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e =
            audit_files(&[PathBuf::from("/nonexistent/privlog.log")], &AuditOptions::default()).expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/privlog.log"));
    }
}
