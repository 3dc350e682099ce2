//! Grouping observations and turning groups into k-anonymous summary rows.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::distinct::DistinctCounter;
use super::histogram::LatencyHistogram;
use super::observation::Observation;

/// The label of the row that small groups are folded into.
pub const OTHER: &str = "(other)";
/// The label of a missing value (no tenant, no response status).
pub const NONE: &str = "(none)";
/// The default k of k-anonymity: groups seen by 1 to 4 distinct accounts are
/// never shown on their own.
pub const DEFAULT_K: u64 = 5;

const SEP: u8 = 0xFF; // never part of UTF-8, so it cannot occur in a value
const NONE_BYTE: u8 = 0xFE;

/// What summary rows are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dimension {
    /// The UTC hour the request started in (`2026-11-22T09:00:00Z`).
    Hour,
    /// The UTC day (`2026-11-22`).
    Day,
    /// The ISO week (`2026-W47`).
    Week,
    /// The route template, or the scrubbed path when there is none.
    Route,
    /// The HTTP method.
    Method,
    /// The status class: `2xx`, `4xx` … or `(none)` without a response.
    Status,
    /// The tenant pseudonym, or `(none)`.
    Tenant,
}

impl Dimension {
    /// The name used on the command line and as a column name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Hour => "hour",
            Dimension::Day => "day",
            Dimension::Week => "week",
            Dimension::Route => "route",
            Dimension::Method => "method",
            Dimension::Status => "status",
            Dimension::Tenant => "tenant",
        }
    }

    /// Whether this is a time period (hour, day, week).
    pub fn is_period(self) -> bool {
        matches!(self, Dimension::Hour | Dimension::Day | Dimension::Week)
    }

    /// Parses a comma-separated list such as `day,route`.
    ///
    /// # Errors
    /// Names the unknown or repeated dimension and lists the valid ones.
    pub fn parse_list(s: &str) -> Result<Vec<Dimension>, UnknownDimension> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let d: Dimension = part.parse()?;
            if out.contains(&d) {
                return Err(UnknownDimension(format!("{part:?} is listed twice")));
            }
            out.push(d);
        }
        Ok(out)
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A grouping key that is not one of hour, day, week, route, method, status, tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownDimension(String);

impl fmt::Display for UnknownDimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid grouping key: {} (use a comma list of hour, day, week, route, method, status, tenant)",
            self.0
        )
    }
}

impl std::error::Error for UnknownDimension {}

impl FromStr for Dimension {
    type Err = UnknownDimension;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "hour" => Dimension::Hour,
            "day" => Dimension::Day,
            "week" => Dimension::Week,
            "route" => Dimension::Route,
            "method" => Dimension::Method,
            "status" => Dimension::Status,
            "tenant" => Dimension::Tenant,
            _ => return Err(UnknownDimension(format!("unknown key {s:?}"))),
        })
    }
}

/// One row of anonymized statistics: the group's keys (only those grouped
/// by are present) and its figures. No row ever names a person.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Summary {
    /// UTC hour start, RFC 3339 (`2026-11-22T09:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<String>,
    /// UTC day (`2026-11-22`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// ISO week (`2026-W47`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<String>,
    /// Route template or scrubbed path; `(other)` for folded small groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// HTTP method; `(other)` for folded small groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Status class (`2xx` … `5xx`, `(none)`); `(other)` for folded small groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Tenant pseudonym or `(none)`; `(other)` for folded small groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Number of requests.
    pub requests: u64,
    /// Distinct account pseudonyms (exact up to 1024, estimated beyond).
    pub distinct_accounts: u64,
    /// Distinct tenant pseudonyms (exact up to 1024, estimated beyond).
    pub distinct_tenants: u64,
    /// Median request duration, microseconds.
    pub p50_us: u64,
    /// 95th percentile request duration, microseconds.
    pub p95_us: u64,
    /// 99th percentile request duration, microseconds.
    pub p99_us: u64,
    /// Request body bytes, summed.
    pub req_bytes: u64,
    /// Response body bytes, summed.
    pub resp_bytes: u64,
}

impl Summary {
    /// The value of one grouping key, when the row is grouped by it.
    pub fn key(&self, d: Dimension) -> Option<&str> {
        match d {
            Dimension::Hour => self.hour.as_deref(),
            Dimension::Day => self.day.as_deref(),
            Dimension::Week => self.week.as_deref(),
            Dimension::Route => self.route.as_deref(),
            Dimension::Method => self.method.as_deref(),
            Dimension::Status => self.status.as_deref(),
            Dimension::Tenant => self.tenant.as_deref(),
        }
    }

    fn set_key(&mut self, d: Dimension, v: String) {
        let slot = match d {
            Dimension::Hour => &mut self.hour,
            Dimension::Day => &mut self.day,
            Dimension::Week => &mut self.week,
            Dimension::Route => &mut self.route,
            Dimension::Method => &mut self.method,
            Dimension::Status => &mut self.status,
            Dimension::Tenant => &mut self.tenant,
        };
        *slot = Some(v);
    }

    /// Whether this row holds folded small groups.
    pub fn is_other(&self) -> bool {
        [&self.route, &self.method, &self.status, &self.tenant]
            .iter()
            .any(|v| v.as_deref() == Some(OTHER))
    }
}

/// The figures of one group, mergeable.
#[derive(Clone, Debug, Default)]
struct Group {
    requests: u64,
    accounts: DistinctCounter,
    tenants: DistinctCounter,
    latency: LatencyHistogram,
    req_bytes: u64,
    resp_bytes: u64,
}

impl Group {
    #[inline]
    fn add(&mut self, o: &Observation<'_>) {
        self.requests += 1;
        if let Some(a) = &o.account {
            self.accounts.insert(a.as_bytes());
        }
        if let Some(t) = &o.tenant {
            self.tenants.insert(t.as_bytes());
        }
        self.latency.record(o.duration_us);
        self.req_bytes = self.req_bytes.saturating_add(o.req_bytes);
        self.resp_bytes = self.resp_bytes.saturating_add(o.resp_bytes);
    }

    fn merge(&mut self, other: &Group) {
        self.requests += other.requests;
        self.accounts.merge(&other.accounts);
        self.tenants.merge(&other.tenants);
        self.latency.merge(&other.latency);
        self.req_bytes = self.req_bytes.saturating_add(other.req_bytes);
        self.resp_bytes = self.resp_bytes.saturating_add(other.resp_bytes);
    }

    fn to_summary(&self) -> Summary {
        Summary {
            requests: self.requests,
            distinct_accounts: self.accounts.count(),
            distinct_tenants: self.tenants.count(),
            p50_us: self.latency.percentile(50.0),
            p95_us: self.latency.percentile(95.0),
            p99_us: self.latency.percentile(99.0),
            req_bytes: self.req_bytes,
            resp_bytes: self.resp_bytes,
            ..Summary::default()
        }
    }
}

/// Summary rows after k-anonymity, with what was held back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summaries {
    /// The rows, ordered by period, then by requests (descending), the
    /// `(other)` row of a period last.
    pub rows: Vec<Summary>,
    /// The k applied.
    pub k: u64,
    /// Groups with 1 to k-1 distinct accounts folded into an `(other)` row.
    pub folded_groups: u64,
    /// Groups (or `(other)` rows) withheld because even folded they had
    /// fewer than k distinct accounts.
    pub suppressed_groups: u64,
    /// Requests in withheld groups.
    pub suppressed_requests: u64,
}

/// Groups observations by a list of [`Dimension`]s and keeps, per group,
/// request counts, distinct accounts and tenants, a latency histogram and
/// byte sums — never a per-person row.
///
/// ```
/// use privlog::stats::{Aggregator, Dimension, Observation};
///
/// let mut agg = Aggregator::new(vec![Dimension::Day, Dimension::Route]);
/// let line = br#"{"v":1,"ts":"2026-11-22T09:30:00.123Z","method":"GET","route":"/health","path":"/health","status":200,"req_bytes":0,"resp_bytes":2,"duration_us":63,"account":null}"#;
/// agg.add(&Observation::parse(line).unwrap());
/// let out = agg.summaries(5);
/// assert_eq!(out.rows[0].day.as_deref(), Some("2026-11-22"));
/// assert_eq!(out.rows[0].requests, 1);
/// ```
#[derive(Clone, Debug)]
pub struct Aggregator {
    dims: Vec<Dimension>,
    groups: HashMap<Box<[u8]>, Group>,
    max_groups: usize,
    key: Vec<u8>,
}

impl Aggregator {
    /// An empty aggregator grouping by `dims` (no dims: one total row).
    pub fn new(dims: Vec<Dimension>) -> Self {
        Aggregator {
            dims,
            groups: HashMap::new(),
            max_groups: usize::MAX,
            key: Vec::with_capacity(128),
        }
    }

    /// Caps the number of groups: once reached, observations of new groups
    /// count under `(other)` for every key except the period. Bounds memory
    /// when paths vary without limit. Defaults to no cap.
    pub fn max_groups(mut self, n: usize) -> Self {
        self.max_groups = n.max(1);
        self
    }

    /// The grouping keys.
    pub fn dims(&self) -> &[Dimension] {
        &self.dims
    }

    /// The number of groups so far.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Counts one observation.
    pub fn add(&mut self, o: &Observation<'_>) {
        let mut key = std::mem::take(&mut self.key);
        encode_key(&self.dims, o, false, &mut key);
        if let Some(g) = self.groups.get_mut(key.as_slice()) {
            g.add(o);
        } else {
            if self.groups.len() >= self.max_groups {
                encode_key(&self.dims, o, true, &mut key);
            }
            self.groups.entry(key.as_slice().into()).or_default().add(o);
        }
        self.key = key;
    }

    /// Adds every group of `other` (which must group by the same keys). The
    /// group cap holds here too: once it is reached, groups of `other` that
    /// are new here count under `(other)`, as in [`add`](Self::add).
    pub fn merge(&mut self, other: Aggregator) {
        if self.groups.is_empty() && other.groups.len() <= self.max_groups {
            self.groups = other.groups;
            return;
        }
        let mut folded = Vec::new();
        for (k, g) in other.groups {
            let full = self.groups.len() >= self.max_groups;
            match self.groups.get_mut(&k) {
                Some(mine) => mine.merge(&g),
                None if full => {
                    overflow_key(&self.dims, &k, &mut folded);
                    self.groups.entry(folded.as_slice().into()).or_default().merge(&g);
                }
                None => {
                    self.groups.insert(k, g);
                }
            }
        }
    }

    /// Removes and returns the groups whose period starts before
    /// `before_ms` (Unix milliseconds); the aggregator keeps the rest.
    /// Without a period key nothing is taken.
    pub fn take_periods_before(&mut self, before_ms: i64) -> Aggregator {
        let mut taken = Aggregator::new(self.dims.clone());
        taken.max_groups = self.max_groups;
        let dims = &self.dims;
        let keys: Vec<Box<[u8]>> = self
            .groups
            .keys()
            .filter(|k| first_period(dims, k).is_some_and(|start| start.saturating_mul(1000) < before_ms))
            .cloned()
            .collect();
        for k in keys {
            if let Some(g) = self.groups.remove(&k) {
                taken.groups.insert(k, g);
            }
        }
        taken
    }

    /// The total number of requests counted.
    pub fn requests(&self) -> u64 {
        self.groups.values().map(|g| g.requests).sum()
    }

    /// Summary rows with k-anonymity applied: a group seen by 1 to k-1
    /// distinct accounts is folded into its period's `(other)` row, and an
    /// `(other)` row that still has fewer than k distinct accounts is
    /// withheld. Groups without any account (anonymous traffic) are shown.
    /// `k = 1` turns suppression off.
    pub fn summaries(&self, k: u64) -> Summaries {
        let k = k.max(1);
        let has_non_period = self.dims.iter().any(|d| !d.is_period());
        let mut out = Summaries {
            k,
            ..Summaries::default()
        };
        let mut others: HashMap<Vec<u8>, Group> = HashMap::new();
        let mut rows: Vec<(Vec<u8>, bool, Summary)> = Vec::with_capacity(self.groups.len());
        for (key, g) in &self.groups {
            let accounts = g.accounts.count();
            if accounts >= 1 && accounts < k {
                if has_non_period {
                    out.folded_groups += 1;
                    others.entry(period_part(&self.dims, key)).or_default().merge(g);
                } else {
                    out.suppressed_groups += 1;
                    out.suppressed_requests += g.requests;
                }
                continue;
            }
            let mut s = g.to_summary();
            decode_key(&self.dims, key, &mut s);
            rows.push((period_part(&self.dims, key), false, s));
        }
        for (period, g) in others {
            if g.accounts.count() < k {
                out.suppressed_groups += 1;
                out.suppressed_requests += g.requests;
                continue;
            }
            let mut s = g.to_summary();
            let mut pos = 0;
            for d in &self.dims {
                if d.is_period() {
                    let start = read_i64(&period[pos..]).unwrap_or(0);
                    pos += 8;
                    s.set_key(*d, period_label(*d, start));
                } else {
                    s.set_key(*d, OTHER.to_owned());
                }
            }
            rows.push((period, true, s));
        }
        rows.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.cmp(&b.1))
                .then(b.2.requests.cmp(&a.2.requests))
                .then_with(|| key_tuple(&self.dims, &a.2).cmp(&key_tuple(&self.dims, &b.2)))
        });
        out.rows = rows.into_iter().map(|(_, _, s)| s).collect();
        out
    }
}

fn key_tuple<'a>(dims: &[Dimension], s: &'a Summary) -> Vec<Option<&'a str>> {
    dims.iter().map(|d| s.key(*d)).collect()
}

/// Start of the period holding `ts_ms`, in Unix seconds.
fn period_start(d: Dimension, ts_ms: i64) -> i64 {
    let secs = ts_ms.div_euclid(1000);
    match d {
        Dimension::Hour => secs - secs.rem_euclid(3600),
        Dimension::Day => secs - secs.rem_euclid(86_400),
        _ => {
            // ISO weeks start on Monday; 1970-01-01 was a Thursday.
            let days = secs.div_euclid(86_400);
            (days - (days + 3).rem_euclid(7)) * 86_400
        }
    }
}

/// The end of the period (exclusive) that starts at `start`, Unix seconds.
pub(crate) fn period_end(d: Dimension, start: i64) -> i64 {
    match d {
        Dimension::Hour => start + 3600,
        Dimension::Day => start + 86_400,
        _ => start + 7 * 86_400,
    }
}

fn period_label(d: Dimension, start: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(start) else {
        return start.to_string();
    };
    let date = t.date();
    match d {
        Dimension::Hour => format!(
            "{:04}-{:02}-{:02}T{:02}:00:00Z",
            date.year(),
            u8::from(date.month()),
            date.day(),
            t.hour()
        ),
        Dimension::Day => format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()),
        _ => {
            let (y, w, _) = date.to_iso_week_date();
            format!("{y:04}-W{w:02}")
        }
    }
}

fn status_class(status: Option<u16>) -> u8 {
    match status {
        None => 0,
        Some(s) => (s / 100).clamp(1, 9) as u8,
    }
}

#[inline]
fn push_str(s: &str, key: &mut Vec<u8>) {
    key.extend_from_slice(s.as_bytes());
    key.push(SEP);
}

fn encode_key(dims: &[Dimension], o: &Observation<'_>, overflow: bool, key: &mut Vec<u8>) {
    key.clear();
    for d in dims {
        match d {
            Dimension::Hour | Dimension::Day | Dimension::Week => {
                key.extend_from_slice(&period_start(*d, o.ts_ms).to_be_bytes());
            }
            _ if overflow => push_str(OTHER, key),
            Dimension::Route => push_str(o.route_or_path(), key),
            Dimension::Method => push_str(&o.method, key),
            Dimension::Status => key.extend_from_slice(&[status_class(o.status), SEP]),
            Dimension::Tenant => match &o.tenant {
                Some(t) => push_str(t, key),
                None => key.extend_from_slice(&[NONE_BYTE, SEP]),
            },
        }
    }
}

/// The key `key` counts under once the group cap is reached: its periods,
/// `(other)` for every other key (what [`encode_key`] makes with `overflow`).
fn overflow_key(dims: &[Dimension], key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut rest = key;
    for d in dims {
        if d.is_period() {
            let (part, tail) = rest.split_at(8.min(rest.len()));
            out.extend_from_slice(part);
            rest = tail;
        } else {
            push_str(OTHER, out);
            rest = rest.iter().position(|&b| b == SEP).map_or(&[], |p| &rest[p + 1..]);
        }
    }
}

fn read_i64(b: &[u8]) -> Option<i64> {
    let a: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some(i64::from_be_bytes(a))
}

/// Splits a key into its per-dimension parts.
fn split_key<'k>(dims: &[Dimension], key: &'k [u8]) -> Vec<&'k [u8]> {
    let mut parts = Vec::with_capacity(dims.len());
    let mut rest = key;
    for d in dims {
        let len = match d {
            Dimension::Hour | Dimension::Day | Dimension::Week => 8.min(rest.len()),
            _ => rest.iter().position(|&b| b == SEP).map_or(rest.len(), |p| p + 1),
        };
        let (part, tail) = rest.split_at(len);
        parts.push(part);
        rest = tail;
    }
    parts
}

fn first_period(dims: &[Dimension], key: &[u8]) -> Option<i64> {
    dims.iter()
        .zip(split_key(dims, key))
        .find(|(d, _)| d.is_period())
        .and_then(|(_, part)| read_i64(part))
}

fn period_part(dims: &[Dimension], key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    for (d, part) in dims.iter().zip(split_key(dims, key)) {
        if d.is_period() {
            out.extend_from_slice(part);
        }
    }
    out
}

fn decode_key(dims: &[Dimension], key: &[u8], s: &mut Summary) {
    for (d, part) in dims.iter().zip(split_key(dims, key)) {
        let label = match d {
            Dimension::Hour | Dimension::Day | Dimension::Week => period_label(*d, read_i64(part).unwrap_or(0)),
            Dimension::Status if part.len() == 2 && part[0] < 10 => match part[0] {
                0 => NONE.to_owned(),
                c => format!("{c}xx"),
            },
            _ => {
                let v = part.strip_suffix(&[SEP]).unwrap_or(part);
                if v == [NONE_BYTE] {
                    NONE.to_owned()
                } else {
                    String::from_utf8_lossy(v).into_owned()
                }
            }
        };
        s.set_key(*d, label);
    }
}

/// Something that accumulates observations and merges with a partial result
/// of the same kind (one per reading thread).
pub trait Accumulator: Send + Sized {
    /// Counts one observation.
    fn add(&mut self, o: &Observation<'_>);
    /// Adds another partial result.
    fn merge(&mut self, other: Self);
    /// Whether a [`Scan`](super::Scan) thread should merge this partial
    /// result into the shared one now and start a new one: it holds `groups`
    /// groups, or its group cap is reached (so the shared result, not this
    /// part, decides which groups fold). Defaults to `false`: merged at the
    /// end only.
    fn hand_over_due(&self, groups: usize) -> bool {
        let _ = groups;
        false
    }
}

impl Accumulator for Aggregator {
    fn add(&mut self, o: &Observation<'_>) {
        Aggregator::add(self, o);
    }
    fn merge(&mut self, other: Self) {
        Aggregator::merge(self, other);
    }
    fn hand_over_due(&self, groups: usize) -> bool {
        self.groups.len() >= groups.min(self.max_groups)
    }
}

impl Accumulator for Vec<Aggregator> {
    fn add(&mut self, o: &Observation<'_>) {
        for a in self.iter_mut() {
            a.add(o);
        }
    }
    fn merge(&mut self, other: Self) {
        for (a, b) in self.iter_mut().zip(other) {
            a.merge(b);
        }
    }
    fn hand_over_due(&self, groups: usize) -> bool {
        self.iter().any(|a| a.hand_over_due(groups))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::borrow::Cow;

    fn obs(ts_ms: i64, route: &str, status: u16, account: Option<String>) -> Observation<'static> {
        Observation {
            ts_ms,
            method: Cow::Borrowed("GET"),
            route: Some(Cow::Owned(route.to_owned())),
            path: Cow::Borrowed("/p"),
            status: Some(status),
            req_bytes: 1,
            resp_bytes: 10,
            duration_us: 100,
            account: account.map(Cow::Owned),
            tenant: None,
        }
    }

    fn by(s: &str) -> Aggregator {
        Aggregator::new(Dimension::parse_list(s).expect("valid"))
    }

    #[test]
    fn small_groups_fold_into_an_other_row_that_keeps_the_totals() {
        let mut a = by("day,route");
        for i in 0..10 {
            a.add(&obs(0, "/big", 200, Some(format!("acc_{i}"))));
        }
        for i in 0..3 {
            a.add(&obs(0, "/small1", 200, Some(format!("acc_s{i}"))));
            a.add(&obs(0, "/small2", 200, Some(format!("acc_t{i}"))));
        }
        let out = a.summaries(5);
        assert_eq!(out.rows.len(), 2);
        assert_eq!(out.rows[0].route.as_deref(), Some("/big"));
        assert_eq!(out.rows[1].route.as_deref(), Some(OTHER));
        assert_eq!(out.rows[1].distinct_accounts, 6);
        assert_eq!(out.rows.iter().map(|r| r.requests).sum::<u64>(), 16);
        assert_eq!(out.folded_groups, 2);
        assert_eq!(out.suppressed_groups, 0);
    }

    #[test]
    fn an_other_row_below_k_is_withheld() {
        let mut a = by("day,route");
        a.add(&obs(0, "/one", 200, Some("acc_1".into())));
        a.add(&obs(0, "/two", 200, Some("acc_2".into())));
        let out = a.summaries(5);
        assert!(out.rows.is_empty());
        assert_eq!(out.suppressed_groups, 1);
        assert_eq!(out.suppressed_requests, 2);
    }

    #[test]
    fn a_period_alone_below_k_is_withheld() {
        let mut a = by("day");
        a.add(&obs(0, "/one", 200, Some("acc_1".into())));
        for i in 0..5 {
            a.add(&obs(86_400_000, "/one", 200, Some(format!("acc_{i}"))));
        }
        let out = a.summaries(5);
        assert_eq!(out.rows.len(), 1);
        assert_eq!(out.rows[0].day.as_deref(), Some("1970-01-02"));
        assert_eq!(out.suppressed_requests, 1);
    }

    #[test]
    fn k_one_shows_every_group() {
        let mut a = by("route");
        a.add(&obs(0, "/one", 200, Some("acc_1".into())));
        let out = a.summaries(1);
        assert_eq!(out.rows.len(), 1);
        assert_eq!(out.rows[0].route.as_deref(), Some("/one"));
    }

    #[test]
    fn groups_without_accounts_are_shown() {
        let mut a = by("route");
        a.add(&obs(0, "/health", 200, None));
        let out = a.summaries(5);
        assert_eq!(out.rows.len(), 1);
        assert_eq!(out.rows[0].distinct_accounts, 0);
    }

    #[test]
    fn keys_are_labelled_in_their_own_words() {
        let mut a = by("hour,week,status,tenant,method");
        let mut o = obs(1_795_000_000_000, "/", 503, None);
        o.status = None;
        a.add(&o);
        a.add(&obs(1_795_000_000_000, "/", 503, None));
        let rows = a.summaries(5).rows;
        assert_eq!(rows.len(), 2);
        let statuses: Vec<_> = rows.iter().filter_map(|r| r.status.clone()).collect();
        assert!(statuses.contains(&"5xx".to_owned()) && statuses.contains(&NONE.to_owned()));
        assert_eq!(rows[0].hour.as_deref(), Some("2026-11-18T11:00:00Z"));
        assert_eq!(rows[0].week.as_deref(), Some("2026-W47"));
        assert_eq!(rows[0].tenant.as_deref(), Some(NONE));
        assert_eq!(rows[0].method.as_deref(), Some("GET"));
    }

    #[test]
    fn a_group_cap_counts_new_groups_under_other() {
        let mut a = by("day,route").max_groups(2);
        for r in ["/a", "/b", "/c", "/d"] {
            a.add(&obs(0, r, 200, None));
        }
        assert_eq!(a.len(), 3);
        let rows = a.summaries(1).rows;
        let other = rows
            .iter()
            .find(|r| r.route.as_deref() == Some(OTHER))
            .expect("other row");
        assert_eq!(other.requests, 2);
    }

    #[test]
    fn taking_past_periods_leaves_the_current_one() {
        let mut a = by("route,day");
        a.add(&obs(0, "/a", 200, None));
        a.add(&obs(86_400_000, "/a", 200, None));
        let past = a.take_periods_before(86_400_000);
        assert_eq!(past.requests(), 1);
        assert_eq!(a.requests(), 1);
        assert_eq!(a.summaries(1).rows[0].day.as_deref(), Some("1970-01-02"));
    }

    fn arb_obs() -> impl Strategy<Value = Observation<'static>> {
        (
            0i64..5,
            0usize..4,
            prop::sample::select(vec![200u16, 404, 500]),
            prop::option::of(0u32..12),
        )
            .prop_map(|(day, r, s, acc)| {
                obs(
                    day * 86_400_000,
                    ["/a", "/b", "/c", "/d"][r],
                    s,
                    acc.map(|a| format!("acc_{a}")),
                )
            })
    }

    proptest! {
        #[test]
        fn merged_partial_results_equal_one_pass(items in prop::collection::vec(arb_obs(), 0..200), split in 0usize..200) {
            let mut whole = by("day,route,status");
            let mut left = by("day,route,status");
            let mut right = by("day,route,status");
            for (i, o) in items.iter().enumerate() {
                whole.add(o);
                if i < split { left.add(o) } else { right.add(o) }
            }
            left.merge(right);
            prop_assert_eq!(left.summaries(3), whole.summaries(3));
        }

        #[test]
        fn no_released_row_has_between_one_and_k_minus_one_accounts(items in prop::collection::vec(arb_obs(), 0..200), k in 1u64..8) {
            let mut a = by("day,route,status");
            for o in &items { a.add(o); }
            let out = a.summaries(k);
            for row in &out.rows {
                prop_assert!(row.distinct_accounts == 0 || row.distinct_accounts >= k, "{:?}", row);
            }
            let shown: u64 = out.rows.iter().map(|r| r.requests).sum();
            prop_assert_eq!(shown + out.suppressed_requests, items.len() as u64);
        }
    }
}
