//! The pipeline's and every sink's accounting in the OpenMetrics text
//! format (what Prometheus scrapes from `/metrics`).
//!
//! Counters end in `_total`; gauges (records queued, buffered or spooled
//! now) do not. Each sink's series carry a `sink` label: the sink's kind
//! (its name up to the first `:`), followed by `-<index>` where two sinks
//! share it. Drops carry a
//! `reason` label; every reason privlog knows is written, zero or not, so a
//! rate over it never starts from a missing series.

use std::fmt::{self, Write};

use super::accounting::{Stats, StatsHandle};
use crate::sink::SinkStats;

/// The `Content-Type` of [`StatsHandle::openmetrics`]'s text.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The reasons a sink can drop a record for, as the `reason` label writes them.
const SINK_REASONS: [&str; 7] = [
    "queue_full",
    "sink_queue_full",
    "sink_error",
    "spool_full",
    "rejected",
    "corrupt",
    "shutdown",
];

impl StatsHandle {
    /// Every counter of the pipeline and of each sink, now, in the
    /// OpenMetrics text format (ending with `# EOF`); serve it with
    /// [`OPENMETRICS_CONTENT_TYPE`].
    pub fn openmetrics(&self) -> String {
        self.stats().openmetrics()
    }
}

impl Stats {
    /// This snapshot in the OpenMetrics text format, see
    /// [`StatsHandle::openmetrics`].
    pub fn openmetrics(&self) -> String {
        let mut out = String::with_capacity(2048 + 1024 * self.sinks.len());
        // Writing to a String cannot fail.
        let _ = self.write_openmetrics(&mut out);
        out
    }

    /// Writes this snapshot in the OpenMetrics text format to `w`.
    ///
    /// # Errors
    /// Only those of `w`.
    pub fn write_openmetrics(&self, w: &mut impl Write) -> fmt::Result {
        family(
            w,
            "privlog_records_created",
            "counter",
            "Records made by the request path, one per request.",
        )?;
        writeln!(w, "privlog_records_created_total {}", self.created)?;
        family(
            w,
            "privlog_records_queued",
            "gauge",
            "Records in the hand-off queue or being sanitized.",
        )?;
        writeln!(w, "privlog_records_queued {}", self.queued)?;
        family(
            w,
            "privlog_records_dispatched",
            "counter",
            "Records sanitized and offered to every sink.",
        )?;
        writeln!(w, "privlog_records_dispatched_total {}", self.dispatched)?;
        family(
            w,
            "privlog_records_dropped",
            "counter",
            "Records the pipeline dropped before any sink, by reason.",
        )?;
        for (reason, n) in [
            ("queue_full", self.dropped_queue_full),
            ("shutdown", self.dropped_shutdown),
            ("sanitize_error", self.dropped_sanitize_error),
        ] {
            writeln!(w, "privlog_records_dropped_total{{reason=\"{reason}\"}} {n}")?;
        }

        let names = sink_labels(&self.sinks);
        let sinks = || self.sinks.iter().zip(names.iter());
        type Field = fn(&SinkStats) -> u64;
        let per_sink: [(&str, &str, &str, Field); 6] = [
            (
                "privlog_sink_records_received",
                "counter",
                "Records the pipeline offered to the sink.",
                |s| s.received,
            ),
            (
                "privlog_sink_records_recovered",
                "counter",
                "Records found in the sink's spool at start-up.",
                |s| s.recovered,
            ),
            (
                "privlog_sink_records_delivered",
                "counter",
                "Records the sink delivered (written or acknowledged).",
                |s| s.delivered,
            ),
            (
                "privlog_sink_records_queued",
                "gauge",
                "Records in the sink's queue, not yet written.",
                |s| s.queued,
            ),
            (
                "privlog_sink_records_buffered",
                "gauge",
                "Records the sink holds in memory (a batch or a retry).",
                |s| s.buffered,
            ),
            (
                "privlog_sink_records_spooled",
                "gauge",
                "Records in the sink's on-disk spool.",
                |s| s.spooled,
            ),
        ];
        for (name, kind, help, field) in per_sink {
            family(w, name, kind, help)?;
            let suffix = if kind == "counter" { "_total" } else { "" };
            for (s, label) in sinks() {
                writeln!(w, "{name}{suffix}{{sink=\"{label}\"}} {}", field(s))?;
            }
        }
        family(
            w,
            "privlog_sink_records_dropped",
            "counter",
            "Records the sink dropped, by reason (rejected: refused by the destination, written to the dead-letter \
             file when one is set).",
        )?;
        for (s, label) in sinks() {
            for reason in SINK_REASONS {
                let n = s.dropped.get(reason).copied().unwrap_or(0);
                writeln!(
                    w,
                    "privlog_sink_records_dropped_total{{sink=\"{label}\",reason=\"{reason}\"}} {n}"
                )?;
            }
            for (reason, n) in s.dropped.iter().filter(|(r, _)| !SINK_REASONS.contains(&r.as_str())) {
                writeln!(
                    w,
                    "privlog_sink_records_dropped_total{{sink=\"{label}\",reason=\"{}\"}} {n}",
                    escape(reason)
                )?;
            }
        }
        w.write_str("# EOF\n")
    }
}

/// The `# HELP` and `# TYPE` lines of a metric family.
fn family(w: &mut impl Write, name: &str, kind: &str, help: &str) -> fmt::Result {
    writeln!(w, "# HELP {name} {help}")?;
    writeln!(w, "# TYPE {name} {kind}")
}

/// Each sink's `sink` label: its name up to the first `:` (its kind:
/// `file`, `rolling`, `http`; a sink's name goes on with its path or
/// endpoint, which is no label), escaped, with `-<index>` added when another
/// sink has the same label.
fn sink_labels(sinks: &[SinkStats]) -> Vec<String> {
    let short = |s: &SinkStats| s.name.split(':').next().unwrap_or_default().to_owned();
    let mut labels: Vec<String> = sinks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let label = short(s);
            let shared = sinks.iter().filter(|o| short(o) == label).count() > 1;
            let name = escape(&label);
            if shared { format!("{name}-{i}") } else { name }
        })
        .collect();
    // A label with its index may be another sink's name (`file-1`): two
    // series with one label set are no valid exposition. Each label still
    // shared gets its index again, until it is longer than every other.
    for i in 0..labels.len() {
        while (0..labels.len()).any(|j| j != i && labels[j] == labels[i]) {
            labels[i] = format!("{}-{i}", labels[i]);
        }
    }
    labels
}

/// A label value as OpenMetrics writes it: `\`, `"` and line feeds escaped.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sink(name: &str, delivered: u64, dropped: &[(&str, u64)]) -> SinkStats {
        SinkStats {
            name: name.to_owned(),
            received: delivered + dropped.iter().map(|d| d.1).sum::<u64>(),
            delivered,
            dropped: dropped
                .iter()
                .map(|(r, n)| ((*r).to_owned(), *n))
                .collect::<BTreeMap<_, _>>(),
            ..SinkStats::default()
        }
    }

    #[test]
    fn sinks_sharing_a_name_get_their_index_and_label_values_are_escaped() {
        let mut stats = Stats::default();
        stats.created = 3;
        stats.dispatched = 3;
        stats.sinks = vec![
            sink("file", 3, &[]),
            sink("file", 1, &[("rejected", 2)]),
            sink("a\"b\\c\nd", 3, &[("custom", 1)]),
        ];
        let text = stats.openmetrics();
        assert!(
            text.contains("privlog_sink_records_delivered_total{sink=\"file-0\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("privlog_sink_records_delivered_total{sink=\"file-1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("privlog_sink_records_dropped_total{sink=\"file-1\",reason=\"rejected\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("{sink=\"a\\\"b\\\\c\\nd\",reason=\"custom\"} 1\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
        // One line per sample or metadata, never a raw line feed in a value.
        assert!(
            text.lines().all(|l| l.starts_with('#') || l.starts_with("privlog_")),
            "{text}"
        );
    }

    #[test]
    fn a_sink_named_like_another_sinks_indexed_label_gets_a_label_of_its_own() {
        let mut stats = Stats::default();
        stats.sinks = vec![
            sink("file-1", 5, &[]),
            sink("file:/var/log/a.ndjson", 6, &[]),
            sink("file:/var/log/b.ndjson", 7, &[]),
        ];
        let labels = sink_labels(&stats.sinks);
        for (i, l) in labels.iter().enumerate() {
            assert_eq!(
                labels.iter().filter(|o| *o == l).count(),
                1,
                "label {i} shared: {labels:?}"
            );
        }
        let text = stats.openmetrics();
        let delivered: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("privlog_sink_records_delivered_total{"))
            .collect();
        let mut label_sets: Vec<&str> = delivered.iter().filter_map(|l| l.split(' ').next()).collect();
        label_sets.sort_unstable();
        label_sets.dedup();
        assert_eq!(label_sets.len(), 3, "{text}");
    }
}
