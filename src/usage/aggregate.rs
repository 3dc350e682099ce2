//! Grouping observations and turning groups into k-anonymous summary rows.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::distinct::{DistinctCounter, hash_pair, hash_value};
use super::histogram::LatencyHistogram;
use super::observation::Observation;

/// The label of the row that small groups are folded into.
pub const OTHER: &str = "(other)";
/// The label of a missing value (no tenant, no response status).
pub const NONE: &str = "(none)";
/// The tenant label of a record whose account the application did not vouch
/// for: its tenant is only what the request claims, so it never forms a
/// group of its own.
pub const UNVERIFIED: &str = "(unverified)";
/// The label every non-period key of a withheld row carries: the requests
/// of the period's groups withheld under k, counted so that totals add up,
/// with no other figure.
pub const WITHHELD: &str = "(withheld)";
/// The default k of k-anonymity: groups seen by 1 to 4 distinct accounts are
/// never shown on their own.
pub const DEFAULT_K: u64 = 5;

const SEP: u8 = 0xFF; // never part of UTF-8, so it cannot occur in a value
const NONE_BYTE: u8 = 0xFE;
/// A key part that stands for the `(other)` row: the group cap's overflow,
/// or a value that is literally `(other)` (so no two rows share a label).
const OTHER_BYTE: u8 = 0xFD;
/// A tenant part that stands for [`UNVERIFIED`].
const UNVERIFIED_BYTE: u8 = 0xFC;

/// What summary rows are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dimension {
    /// The UTC hour the request started in (`2026-11-22T09:00:00Z`).
    Hour,
    /// The UTC day (`2026-11-22`).
    Day,
    /// The ISO week (`2026-W47`), from Monday 00:00 UTC.
    Week,
    /// The UTC month (`2026-11`).
    Month,
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
            Dimension::Month => "month",
            Dimension::Route => "route",
            Dimension::Method => "method",
            Dimension::Status => "status",
            Dimension::Tenant => "tenant",
        }
    }

    /// Whether this is a time period (hour, day, week, month).
    pub fn is_period(self) -> bool {
        matches!(
            self,
            Dimension::Hour | Dimension::Day | Dimension::Week | Dimension::Month
        )
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

/// A grouping key that is not one of hour, day, week, month, route, method, status, tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownDimension(String);

impl fmt::Display for UnknownDimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid grouping key: {} (use a comma list of hour, day, week, month, route, method, status, tenant)",
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
            "month" => Dimension::Month,
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
    /// UTC month (`2026-11`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
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
    /// Distinct account pseudonyms from any source and any key period,
    /// including accounts a request only claimed (an unverified JWT, a
    /// header): anyone can inflate it, so it is not a count of users to
    /// publish — `vouched_accounts` is. Exact up to 1024, estimated beyond,
    /// never more than `requests`.
    pub distinct_accounts: u64,
    /// Distinct accounts the application vouched for
    /// ([`AccountSource::App`](crate::AccountSource::App)) within one key
    /// period (`kid` × `epoch`): the largest such count of the group, the
    /// count k-anonymity is decided on and the one to publish as "accounts".
    /// A person's pseudonym changes with the key and its epoch, so accounts
    /// of different key periods are never added up: for a group within one
    /// key period (a day under daily or monthly keys) it is exact, for one
    /// over several it is the busiest key period's count. Never more than
    /// `distinct_accounts`.
    #[serde(default)]
    pub vouched_accounts: u64,
    /// Distinct tenant pseudonyms (exact up to 1024, estimated beyond,
    /// never more than `requests`).
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
    /// The row counts the requests of its period's groups withheld under k
    /// (every non-period key reads [`WITHHELD`]): only `requests` is a
    /// figure; the others are not shown and read 0.
    #[serde(default, skip_serializing_if = "is_false")]
    pub withheld: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Summary {
    /// The value of one grouping key, when the row is grouped by it.
    pub fn key(&self, d: Dimension) -> Option<&str> {
        match d {
            Dimension::Hour => self.hour.as_deref(),
            Dimension::Day => self.day.as_deref(),
            Dimension::Week => self.week.as_deref(),
            Dimension::Month => self.month.as_deref(),
            Dimension::Route => self.route.as_deref(),
            Dimension::Method => self.method.as_deref(),
            Dimension::Status => self.status.as_deref(),
            Dimension::Tenant => self.tenant.as_deref(),
        }
    }

    pub(crate) fn set_key(&mut self, d: Dimension, v: String) {
        let slot = match d {
            Dimension::Hour => &mut self.hour,
            Dimension::Day => &mut self.day,
            Dimension::Week => &mut self.week,
            Dimension::Month => &mut self.month,
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

/// Which cap a group counts against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Budget {
    /// Made by a request with a route template from the application.
    #[default]
    Known,
    /// Made by a request without one (an unmatched path: scanners, typos,
    /// 404s), capped apart so it can never crowd out known routes.
    Unmatched,
    /// A period's overflow group (every key but the period `(other)`):
    /// one per period, under no cap.
    Fold,
}

/// The most key periods (key fingerprint `kid` × `epoch`) one group keeps
/// vouched accounts apart for. A group whose vouched accounts span more is
/// withheld (fail closed): its accounts cannot be compared with k within
/// one key period any more.
pub const MAX_KEY_PERIODS: usize = 64;

/// The default most (group, key period) counts of vouched accounts one
/// aggregator (a [`UsageSink`](super::UsageSink), a scan of files) keeps,
/// all groups together: see `Aggregator::max_key_period_counts`.
pub const MAX_KEY_PERIOD_COUNTS: usize = 1 << 18;

/// How many (group, key period) counts of vouched accounts an aggregator
/// holds, and the most it may hold.
#[derive(Clone, Copy, Debug)]
struct PeriodRoom {
    used: usize,
    cap: usize,
}

impl PeriodRoom {
    /// No bound: for groups that live only while summaries are made from
    /// groups that were bounded.
    const UNBOUNDED: PeriodRoom = PeriodRoom {
        used: 0,
        cap: usize::MAX,
    };

    /// Takes room for one more count; `false` when there is none.
    #[inline]
    fn take(&mut self) -> bool {
        if self.used < self.cap {
            self.used += 1;
            true
        } else {
            false
        }
    }

    /// Takes room for `n` more counts, all or none.
    fn take_n(&mut self, n: usize) -> bool {
        if self.cap.saturating_sub(self.used) >= n {
            self.used += n;
            true
        } else {
            false
        }
    }

    fn give(&mut self, n: usize) {
        self.used = self.used.saturating_sub(n);
    }

    fn full(&self) -> bool {
        self.used >= self.cap
    }
}

/// Vouched accounts, counted apart per key period.
///
/// A person's pseudonym changes with the key and with the epoch, so one
/// person active in five key periods is five pseudonyms. Counted together,
/// they would look like five accounts; counted per key period, they are one
/// account in each. k is therefore decided on the largest count within one
/// key period, which never counts a person twice.
#[derive(Clone, Debug, Default)]
struct VouchedAccounts {
    /// (key period, distinct vouched accounts in it), in the order first seen.
    periods: Vec<(u64, DistinctCounter)>,
    /// More key periods were seen than [`MAX_KEY_PERIODS`], or than the
    /// aggregator had room for: nothing is kept and the group counts no
    /// vouched account.
    spilled: bool,
}

impl VouchedAccounts {
    #[inline]
    fn insert(&mut self, period: u64, account: u64, room: &mut PeriodRoom) {
        if self.spilled {
            return;
        }
        if let Some((_, c)) = self.periods.iter_mut().find(|(p, _)| *p == period) {
            c.insert_hash(account);
            return;
        }
        if self.periods.len() >= MAX_KEY_PERIODS || !room.take() {
            self.spill(room);
            return;
        }
        let mut c = DistinctCounter::new();
        c.insert_hash(account);
        self.periods.push((period, c));
    }

    /// Forgets every count (the group is withheld) and gives their room back.
    fn spill(&mut self, room: &mut PeriodRoom) {
        room.give(self.periods.len());
        self.spilled = true;
        self.periods = Vec::new();
    }

    fn merge(&mut self, other: &VouchedAccounts, room: &mut PeriodRoom) {
        if other.spilled {
            self.spill(room);
        }
        if self.spilled {
            return;
        }
        for (period, theirs) in &other.periods {
            if let Some((_, mine)) = self.periods.iter_mut().find(|(p, _)| p == period) {
                mine.merge(theirs);
            } else if self.periods.len() >= MAX_KEY_PERIODS || !room.take() {
                self.spill(room);
                return;
            } else {
                self.periods.push((*period, theirs.clone()));
            }
        }
    }

    /// The most distinct vouched accounts within one key period; 0 when the
    /// group spans too many key periods to tell.
    fn largest(&self) -> u64 {
        self.periods.iter().map(|(_, c)| c.count()).max().unwrap_or(0)
    }
}

/// The key period a record's pseudonyms belong to, as one value: its key
/// fingerprint and epoch. `None` when the record does not name both; its
/// account then counts as not vouched for (it cannot be placed in a key
/// period).
#[inline]
fn key_period(o: &Observation<'_>) -> Option<u64> {
    Some(hash_pair(o.kid.as_deref()?.as_bytes(), o.epoch.as_deref()?.as_bytes()))
}

/// The figures of one group, mergeable.
#[derive(Clone, Debug, Default)]
struct Group {
    budget: Budget,
    requests: u64,
    /// Every account pseudonym, from any source and any key period.
    accounts: DistinctCounter,
    /// The accounts the application vouched for, per key period.
    vouched: VouchedAccounts,
    tenants: DistinctCounter,
    latency: LatencyHistogram,
    req_bytes: u64,
    resp_bytes: u64,
}

impl Group {
    fn new(budget: Budget) -> Self {
        Group {
            budget,
            ..Group::default()
        }
    }

    #[inline]
    fn add(&mut self, o: &Observation<'_>, room: &mut PeriodRoom) {
        self.requests += 1;
        if let Some(a) = &o.account {
            let h = hash_value(a.as_bytes());
            self.accounts.insert_hash(h);
            if o.vouched_account().is_some()
                && let Some(period) = key_period(o)
            {
                self.vouched.insert(period, h, room);
            }
        }
        if let Some(t) = &o.tenant {
            self.tenants.insert(t.as_bytes());
        }
        self.latency.record(o.duration_us);
        self.req_bytes = self.req_bytes.saturating_add(o.req_bytes);
        self.resp_bytes = self.resp_bytes.saturating_add(o.resp_bytes);
    }

    fn merge(&mut self, other: &Group, room: &mut PeriodRoom) {
        self.requests += other.requests;
        self.accounts.merge(&other.accounts);
        self.vouched.merge(&other.vouched, room);
        self.tenants.merge(&other.tenants);
        self.latency.merge(&other.latency);
        self.req_bytes = self.req_bytes.saturating_add(other.req_bytes);
        self.resp_bytes = self.resp_bytes.saturating_add(other.resp_bytes);
    }

    /// Distinct accounts from any source and key period, and the most
    /// vouched ones within one key period, within their exact bounds:
    /// vouched ≤ all ≤ requests.
    fn account_counts(&self) -> (u64, u64) {
        let all = self.accounts.count().min(self.requests);
        (all, self.vouched.largest().min(all))
    }

    /// Whether the group may be shown on its own under k: it has no account
    /// at all (anonymous traffic), or at least k vouched ones within one key
    /// period. Accounts the request only claimed never count toward k, so
    /// forged identities cannot lift a group over it; and one person's
    /// pseudonyms from several key periods count once each, never together.
    /// `k = 1` shows every group.
    fn meets_k(&self, k: u64) -> bool {
        let (all, vouched) = self.account_counts();
        k <= 1 || all == 0 || vouched >= k
    }

    /// Whether the group's vouched accounts span more key periods than are
    /// kept apart: it is withheld whatever k (above 1) is.
    fn too_many_key_periods(&self) -> bool {
        self.vouched.spilled
    }

    fn to_summary(&self) -> Summary {
        let (distinct_accounts, vouched_accounts) = self.account_counts();
        Summary {
            requests: self.requests,
            distinct_accounts,
            vouched_accounts,
            distinct_tenants: self.tenants.count().min(self.requests),
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
    /// `(other)` row of a period last. No two rows have the same keys.
    pub rows: Vec<Summary>,
    /// The k applied.
    pub k: u64,
    /// Groups with accounts but fewer than k vouched ones, folded into an
    /// `(other)` row.
    pub folded_groups: u64,
    /// Groups (or `(other)` rows) withheld because even folded they had
    /// fewer than k vouched accounts.
    pub suppressed_groups: u64,
    /// Requests in withheld groups.
    pub suppressed_requests: u64,
    /// Of the withheld groups, those whose vouched accounts span more key
    /// periods than are kept apart: over [`MAX_KEY_PERIODS`] in the group, or
    /// past the aggregator's total ([`MAX_KEY_PERIOD_COUNTS`] unless set
    /// otherwise); withheld whatever their size.
    pub too_many_key_periods: u64,
    /// Per period (one row when there is none), the requests of the groups
    /// withheld in it: rows with [`Summary::withheld`] set, in period order.
    /// They add up to `suppressed_requests`, so shown and withheld requests
    /// add up to every request counted.
    pub withheld: Vec<Summary>,
    /// For [`Summaries::table`]: per row of the table, whether it is the
    /// next withheld row (else the next shown one).
    #[serde(skip)]
    layout: Vec<bool>,
}

impl Summaries {
    fn withhold(&mut self, g: &Group) {
        self.suppressed_groups += 1;
        self.suppressed_requests += g.requests;
        if g.too_many_key_periods() {
            self.too_many_key_periods += 1;
        }
    }

    /// The shown rows and the withheld rows together, in period order, a
    /// period's withheld row after its `(other)` row: what a table or chart
    /// shows so that the requests of each period add up.
    pub fn table(&self) -> Vec<&Summary> {
        let (mut shown, mut withheld) = (self.rows.iter(), self.withheld.iter());
        let mut out = Vec::with_capacity(self.rows.len() + self.withheld.len());
        for w in &self.layout {
            let next = if *w { withheld.next() } else { shown.next() };
            out.extend(next);
        }
        out.extend(shown);
        out.extend(withheld);
        out
    }
}

/// Groups observations by a list of [`Dimension`]s and keeps, per group,
/// request counts, distinct accounts (all, and those the application
/// vouched for) and tenants, a latency histogram and byte sums — never a
/// per-person row.
///
/// ```
/// # #[cfg(feature = "tools")] {
/// use privlog::usage::{Aggregator, Dimension, Observation};
///
/// let mut agg = Aggregator::new(vec![Dimension::Day, Dimension::Route]);
/// let line = br#"{"v":1,"ts":"2026-11-22T09:30:00.123Z","method":"GET","route":"/health","path":"/health","status":200,"req_bytes":0,"resp_bytes":2,"duration_us":63,"account":null}"#;
/// agg.add(&Observation::parse(line).unwrap());
/// let out = agg.summaries(5);
/// assert_eq!(out.rows[0].day.as_deref(), Some("2026-11-22"));
/// assert_eq!(out.rows[0].requests, 1);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Aggregator {
    dims: Vec<Dimension>,
    groups: HashMap<Box<[u8]>, Group>,
    max_known: usize,
    max_unmatched: Option<usize>,
    known: usize,
    unmatched: usize,
    periods: PeriodRoom,
    key: Vec<u8>,
}

impl Aggregator {
    /// An empty aggregator grouping by `dims` (no dims: one total row).
    pub fn new(dims: Vec<Dimension>) -> Self {
        Aggregator {
            dims,
            groups: HashMap::new(),
            max_known: usize::MAX,
            max_unmatched: None,
            known: 0,
            unmatched: 0,
            periods: PeriodRoom {
                used: 0,
                cap: MAX_KEY_PERIOD_COUNTS,
            },
            key: Vec::with_capacity(128),
        }
    }

    /// Caps the number of groups made by requests with a route template
    /// (known routes): once reached, observations of new such groups count
    /// under their period's `(other)` row. Groups made by requests without
    /// a route template (unmatched paths) have their own cap,
    /// [`Aggregator::max_unmatched_groups`], so a scanner trying thousands
    /// of paths never takes the room of known routes. Bounds memory when
    /// keys vary without limit. Defaults to no cap.
    pub fn max_groups(mut self, n: usize) -> Self {
        self.max_known = n.max(1);
        self
    }

    /// Caps the number of groups made by requests without a route
    /// template; beyond it they count under their period's `(other)` row.
    /// Defaults to the [`Aggregator::max_groups`] cap.
    pub fn max_unmatched_groups(mut self, n: usize) -> Self {
        self.max_unmatched = Some(n.max(1));
        self
    }

    /// Caps the (group, key period) counts of vouched accounts kept, all
    /// groups together (default [`MAX_KEY_PERIOD_COUNTS`]). A group whose
    /// vouched accounts reach a new key period once the cap is reached is
    /// withheld, as one over [`MAX_KEY_PERIODS`] is (fail closed), and its
    /// counts are given back. Bounds memory when many groups each span many
    /// key periods.
    pub fn max_key_period_counts(mut self, n: usize) -> Self {
        self.periods.cap = n.max(1);
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

    fn count_in(&mut self, budget: Budget, groups: isize) {
        let slot = match budget {
            Budget::Known => &mut self.known,
            Budget::Unmatched => &mut self.unmatched,
            Budget::Fold => return,
        };
        *slot = slot.saturating_add_signed(groups);
    }

    /// Counts one observation.
    pub fn add(&mut self, o: &Observation<'_>) {
        let mut key = std::mem::take(&mut self.key);
        encode_key(&self.dims, o, false, &mut key);
        if let Some(g) = self.groups.get_mut(key.as_slice()) {
            g.add(o, &mut self.periods);
        } else {
            // Known routes come from the application; the only other
            // client-chosen key part is the tenant, which is trusted or
            // `(unverified)` (see `encode_key`). So a known route's groups
            // are bounded by what the application names, and the unmatched
            // budget takes everything the client can vary.
            let (budget, used, cap) = if o.route.is_some() {
                (Budget::Known, self.known, self.max_known)
            } else {
                (
                    Budget::Unmatched,
                    self.unmatched,
                    self.max_unmatched.unwrap_or(self.max_known),
                )
            };
            let budget = if used >= cap {
                encode_key(&self.dims, o, true, &mut key);
                Budget::Fold
            } else {
                budget
            };
            let budget = if is_fold_key(&self.dims, &key) {
                Budget::Fold
            } else {
                budget
            };
            match self.groups.get_mut(key.as_slice()) {
                Some(g) => g.add(o, &mut self.periods),
                None => {
                    let mut g = Group::new(budget);
                    g.add(o, &mut self.periods);
                    self.groups.insert(key.as_slice().into(), g);
                    self.count_in(budget, 1);
                }
            }
        }
        self.key = key;
    }

    /// Adds every group of `other` (which must group by the same keys). The
    /// group caps hold here too: once a budget's cap is reached, groups of
    /// `other` in that budget that are new here count under their period's
    /// `(other)` row, as in [`add`](Self::add).
    pub fn merge(&mut self, other: Aggregator) {
        if self.groups.is_empty()
            && !self.over_caps(other.known, other.unmatched)
            && other.periods.used <= self.periods.cap
        {
            self.groups = other.groups;
            self.known = other.known;
            self.unmatched = other.unmatched;
            self.periods.used = other.periods.used;
            return;
        }
        let mut folded = Vec::new();
        for (k, g) in other.groups {
            let full = self.budget_full(g.budget);
            match self.groups.get_mut(&k) {
                Some(mine) => mine.merge(&g, &mut self.periods),
                None if full => {
                    overflow_key(&self.dims, &k, &mut folded);
                    self.groups
                        .entry(folded.as_slice().into())
                        .or_insert_with(|| Group::new(Budget::Fold))
                        .merge(&g, &mut self.periods);
                }
                None => {
                    self.count_in(g.budget, 1);
                    let mut g = g;
                    if !self.periods.take_n(g.vouched.periods.len()) {
                        // Not counted here yet: nothing to give back.
                        let mut none = PeriodRoom::UNBOUNDED;
                        g.vouched.spill(&mut none);
                    }
                    self.groups.insert(k, g);
                }
            }
        }
    }

    /// Whether the cap of groups of known routes ([`max_groups`](Self::max_groups))
    /// and that of unmatched paths ([`max_unmatched_groups`](Self::max_unmatched_groups))
    /// are reached: observations of further groups of that kind count under
    /// `(other)`.
    pub fn caps_reached(&self) -> (bool, bool) {
        (self.budget_full(Budget::Known), self.budget_full(Budget::Unmatched))
    }

    /// Whether a new group in `budget` would be folded by its cap.
    fn budget_full(&self, budget: Budget) -> bool {
        match budget {
            Budget::Known => self.known >= self.max_known,
            Budget::Unmatched => self.unmatched >= self.max_unmatched.unwrap_or(self.max_known),
            Budget::Fold => false,
        }
    }

    /// Whether `known` and `unmatched` groups are more than the caps allow.
    fn over_caps(&self, known: usize, unmatched: usize) -> bool {
        known > self.max_known || unmatched > self.max_unmatched.unwrap_or(self.max_known)
    }

    /// Removes and returns the groups whose period starts before
    /// `before_ms` (Unix milliseconds); the aggregator keeps the rest.
    /// Without a period key nothing is taken.
    pub fn take_periods_before(&mut self, before_ms: i64) -> Aggregator {
        let mut taken = Aggregator::new(self.dims.clone());
        taken.max_known = self.max_known;
        taken.max_unmatched = self.max_unmatched;
        taken.periods.cap = self.periods.cap;
        let dims = &self.dims;
        let keys: Vec<Box<[u8]>> = self
            .groups
            .keys()
            .filter(|k| first_period(dims, k).is_some_and(|start| start.saturating_mul(1000) < before_ms))
            .cloned()
            .collect();
        for k in keys {
            if let Some(g) = self.groups.remove(&k) {
                self.count_in(g.budget, -1);
                taken.count_in(g.budget, 1);
                let n = g.vouched.periods.len();
                self.periods.give(n);
                taken.periods.used = taken.periods.used.saturating_add(n);
                taken.groups.insert(k, g);
            }
        }
        taken
    }

    /// The total number of requests counted.
    pub fn requests(&self) -> u64 {
        self.groups.values().map(|g| g.requests).sum()
    }

    /// Summary rows with k-anonymity applied.
    ///
    /// Only accounts the application vouched for
    /// ([`AccountSource::App`](crate::AccountSource::App)) count toward k,
    /// and only within one key period (`kid` × `epoch`): a group is shown on
    /// its own when it has no account at all (anonymous traffic) or at least
    /// k vouched accounts in one key period, so a person whose pseudonym
    /// changed with the epoch or the key never counts as several. A group
    /// whose vouched accounts span more than [`MAX_KEY_PERIODS`] key periods
    /// is withheld (fail closed). Any other group — fewer than
    /// k vouched accounts, whatever else it holds — is folded into its
    /// period's `(other)` row, together with the group cap's overflow, and
    /// that row is withheld unless it too has no account or at least k
    /// vouched ones. Accounts a request only claims (a Connect JWT read
    /// without verification, a header, a query parameter, a path) cannot
    /// lift a group over k, however many there are. `k = 1` turns
    /// suppression off.
    ///
    /// Requests without any account identify nobody: each group counts
    /// them apart from its requests with an account, shows them whatever k,
    /// and judges only the part with accounts (one row when both are shown).
    /// The requests withheld in a period are counted in its
    /// [`Summaries::withheld`] row.
    ///
    /// Each period has at most one `(other)` row and no two rows have the
    /// same keys; distinct counts never exceed the requests.
    pub fn summaries(&self, k: u64) -> Summaries {
        let k = k.max(1);
        let has_non_period = self.dims.iter().any(|d| !d.is_period());
        let mut out = Summaries {
            k,
            ..Summaries::default()
        };
        // The `(other)` groups per period and account class, and the shown
        // parts of each row: they only combine counts already held (and
        // bounded).
        let mut room = PeriodRoom::UNBOUNDED;
        let mut others: HashMap<Vec<u8>, Group> = HashMap::new();
        let mut shown: HashMap<&[u8], Group> = HashMap::with_capacity(self.groups.len());
        let mut withheld: HashMap<Vec<u8>, u64> = HashMap::new();
        for (key, g) in &self.groups {
            let mut period = period_part(&self.dims, key);
            if has_non_period && is_fold_key(&self.dims, key) {
                period.extend(key.last());
                others.entry(period).or_default().merge(g, &mut room);
                continue;
            }
            if !g.meets_k(k) {
                // A group over too many key periods is withheld on its own,
                // so it does not take its period's `(other)` row with it.
                if has_non_period && !g.too_many_key_periods() {
                    out.folded_groups += 1;
                    period.extend(key.last());
                    others.entry(period).or_default().merge(g, &mut room);
                } else {
                    out.withhold(g);
                    *withheld.entry(period).or_default() += g.requests;
                }
                continue;
            }
            shown.entry(visible(key)).or_default().merge(g, &mut room);
        }
        let mut shown_others: HashMap<Vec<u8>, Group> = HashMap::new();
        for (mut period, g) in others {
            period.pop();
            if !g.meets_k(k) {
                out.withhold(&g);
                *withheld.entry(period).or_default() += g.requests;
                continue;
            }
            shown_others.entry(period).or_default().merge(&g, &mut room);
        }
        // (period, 0 shown / 1 `(other)` / 2 withheld, row)
        let mut rows: Vec<(Vec<u8>, u8, Summary)> = Vec::with_capacity(shown.len() + shown_others.len());
        for (key, g) in shown {
            let mut s = g.to_summary();
            decode_key(&self.dims, key, &mut s);
            rows.push((period_part(&self.dims, key), 0, s));
        }
        let labelled = |period: &[u8], label: &str, mut s: Summary| {
            let mut pos = 0;
            for d in &self.dims {
                if d.is_period() {
                    let start = read_i64(period.get(pos..).unwrap_or_default()).unwrap_or(0);
                    pos += 8;
                    s.set_key(*d, period_label(*d, start));
                } else {
                    s.set_key(*d, label.to_owned());
                }
            }
            s
        };
        for (period, g) in shown_others {
            let s = labelled(&period, OTHER, g.to_summary());
            rows.push((period, 1, s));
        }
        for (period, requests) in withheld {
            let s = Summary {
                requests,
                withheld: true,
                ..Summary::default()
            };
            let s = labelled(&period, WITHHELD, s);
            rows.push((period, 2, s));
        }
        rows.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then(a.1.cmp(&b.1))
                .then(b.2.requests.cmp(&a.2.requests))
                .then_with(|| key_tuple(&self.dims, &a.2).cmp(&key_tuple(&self.dims, &b.2)))
        });
        for (_, kind, s) in rows {
            out.layout.push(kind == 2);
            if kind == 2 {
                out.withheld.push(s);
            } else {
                out.rows.push(s);
            }
        }
        out
    }
}

fn key_tuple<'a>(dims: &[Dimension], s: &'a Summary) -> Vec<Option<&'a str>> {
    dims.iter().map(|d| s.key(*d)).collect()
}

/// Start of the period holding `ts_ms`, in Unix seconds.
pub(crate) fn period_start(d: Dimension, ts_ms: i64) -> i64 {
    let secs = ts_ms.div_euclid(1000);
    match d {
        Dimension::Hour => secs - secs.rem_euclid(3600),
        Dimension::Day => secs - secs.rem_euclid(86_400),
        Dimension::Month => {
            let (y, m, _) = civil_from_days(secs.div_euclid(86_400));
            days_from_civil(y, m, 1) * 86_400
        }
        _ => {
            // ISO weeks start on Monday; 1970-01-01 was a Thursday.
            let days = secs.div_euclid(86_400);
            (days - (days + 3).rem_euclid(7)) * 86_400
        }
    }
}

/// The proleptic Gregorian date (year, month 1-12, day 1-31) of a day
/// counted from 1970-01-01; total over every `i64` a timestamp in
/// milliseconds can reach.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (month 1-12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The end of the period (exclusive) that starts at `start`, Unix seconds.
pub(crate) fn period_end(d: Dimension, start: i64) -> i64 {
    match d {
        Dimension::Hour => start + 3600,
        Dimension::Day => start + 86_400,
        Dimension::Month => {
            let (y, m, _) = civil_from_days(start.div_euclid(86_400));
            let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            days_from_civil(y, m, 1) * 86_400
        }
        _ => start + 7 * 86_400,
    }
}

/// A year in four digits, a year before 0000 with a leading `-` (ISO 8601).
pub(crate) fn year_label(y: i32) -> String {
    if y < 0 {
        format!("-{:04}", y.unsigned_abs())
    } else {
        format!("{y:04}")
    }
}

fn period_label(d: Dimension, start: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(start) else {
        return start.to_string();
    };
    let date = t.date();
    match d {
        Dimension::Hour => format!(
            "{}-{:02}-{:02}T{:02}:00:00Z",
            year_label(date.year()),
            u8::from(date.month()),
            date.day(),
            t.hour()
        ),
        Dimension::Day => format!(
            "{}-{:02}-{:02}",
            year_label(date.year()),
            u8::from(date.month()),
            date.day()
        ),
        Dimension::Month => format!("{}-{:02}", year_label(date.year()), u8::from(date.month())),
        _ => {
            // The ISO week-numbering year: the week of 0000-01-01 is -0001-W52.
            let (y, w, _) = date.to_iso_week_date();
            format!("{}-W{w:02}", year_label(y))
        }
    }
}

fn status_class(status: Option<u16>) -> u8 {
    match status {
        None => 0,
        Some(s) => (s / 100).clamp(1, 9) as u8,
    }
}

/// Appends a value and its separator. A value that reads `(other)` takes
/// the `(other)` part, so its row can never carry the same label as an
/// `(other)` row made by folding.
#[inline]
fn push_str(s: &str, key: &mut Vec<u8>) {
    if s == OTHER || s == WITHHELD {
        key.push(OTHER_BYTE);
    } else {
        key.extend_from_slice(s.as_bytes());
    }
    key.push(SEP);
}

fn encode_key(dims: &[Dimension], o: &Observation<'_>, overflow: bool, key: &mut Vec<u8>) {
    encode_parts(dims, o, overflow, key);
    // Requests without any account identify nobody: they form a group
    // apart (the same row once shown), so k is never decided on them.
    key.push(if o.account.is_some() { ACCOUNTS } else { ANONYMOUS });
}

/// The last byte of every key: whether the group's requests carry an account.
const ACCOUNTS: u8 = 1;
/// The last byte of the key of a group of requests without any account.
const ANONYMOUS: u8 = 0;

/// A key without its last byte (the account class): the row it shows as.
fn visible(key: &[u8]) -> &[u8] {
    key.split_last().map_or(key, |(_, v)| v)
}

fn encode_parts(dims: &[Dimension], o: &Observation<'_>, overflow: bool, key: &mut Vec<u8>) {
    key.clear();
    for d in dims {
        match d {
            Dimension::Hour | Dimension::Day | Dimension::Week | Dimension::Month => {
                key.extend_from_slice(&period_bytes(period_start(*d, o.ts_ms)));
            }
            _ if overflow => key.extend_from_slice(&[OTHER_BYTE, SEP]),
            Dimension::Route => push_str(o.route_or_path(), key),
            Dimension::Method => push_str(&o.method, key),
            Dimension::Status => key.extend_from_slice(&[status_class(o.status), SEP]),
            // A tenant that reads `(none)` is no tenant, as it is labelled.
            // A tenant is trusted only on a record whose account the
            // application vouched for (an app that verifies the account
            // sets the tenant from the same proof); any other is what the
            // client says and groups as `(unverified)`, so made-up tenants
            // can neither form groups nor take room under the group caps.
            Dimension::Tenant => match o.tenant.as_deref().filter(|t| *t != NONE) {
                Some(t) if o.vouched_account().is_some() && t != UNVERIFIED => push_str(t, key),
                Some(_) => key.extend_from_slice(&[UNVERIFIED_BYTE, SEP]),
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
            out.extend_from_slice(&[OTHER_BYTE, SEP]);
            rest = rest.iter().position(|&b| b == SEP).map_or(&[], |p| &rest[p + 1..]);
        }
    }
    out.extend(key.last());
}

/// A period start as key bytes that sort as the starts do: big-endian with
/// the sign bit flipped, so periods before 1970 come before later ones.
#[inline]
fn period_bytes(start: i64) -> [u8; 8] {
    (start.cast_unsigned() ^ (1 << 63)).to_be_bytes()
}

/// The period start that [`period_bytes`] wrote.
fn read_i64(b: &[u8]) -> Option<i64> {
    let a: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(a) ^ (1 << 63)).cast_signed())
}

/// Splits a key into its per-dimension parts.
fn split_key<'k>(dims: &[Dimension], key: &'k [u8]) -> Vec<&'k [u8]> {
    let mut parts = Vec::with_capacity(dims.len());
    let mut rest = key;
    for d in dims {
        let len = match d {
            Dimension::Hour | Dimension::Day | Dimension::Week | Dimension::Month => 8.min(rest.len()),
            _ => rest.iter().position(|&b| b == SEP).map_or(rest.len(), |p| p + 1),
        };
        let (part, tail) = rest.split_at(len);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// Whether `key` is a period's `(other)` row: every key but the period is
/// the `(other)` part (and there is such a key).
fn is_fold_key(dims: &[Dimension], key: &[u8]) -> bool {
    let mut any = false;
    for (d, part) in dims.iter().zip(split_key(dims, key)) {
        if !d.is_period() {
            if part != [OTHER_BYTE, SEP] {
                return false;
            }
            any = true;
        }
    }
    any
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
            Dimension::Hour | Dimension::Day | Dimension::Week | Dimension::Month => {
                period_label(*d, read_i64(part).unwrap_or(0))
            }
            Dimension::Status if part.len() == 2 && part[0] < 10 => match part[0] {
                0 => NONE.to_owned(),
                c => format!("{c}xx"),
            },
            _ => {
                let v = part.strip_suffix(&[SEP]).unwrap_or(part);
                match v {
                    [NONE_BYTE] => NONE.to_owned(),
                    [OTHER_BYTE] => OTHER.to_owned(),
                    [UNVERIFIED_BYTE] if *d == Dimension::Tenant => UNVERIFIED.to_owned(),
                    _ => String::from_utf8_lossy(v).into_owned(),
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
        self.groups.len() >= groups
            || self.budget_full(Budget::Known)
            || self.budget_full(Budget::Unmatched)
            || self.periods.full()
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
    use crate::AccountSource;
    use crate::usage::distinct::EXACT_LIMIT;
    use proptest::prelude::*;
    use std::borrow::Cow;

    /// A request to a known route, its account (if any) vouched for by the application.
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
            account_src: account.as_ref().map(|_| AccountSource::App),
            account: account.map(Cow::Owned),
            tenant: None,
            epoch: Some(Cow::Borrowed("1970-01")),
            kid: Some(Cow::Borrowed("k_test")),
        }
    }

    /// A request of `person`, vouched for, in the key period (`kid`,
    /// `epoch`): the pseudonym is the person's in that key period, as the
    /// sanitizer makes it (another key period, another pseudonym).
    fn by_person(ts_ms: i64, route: &str, person: u32, kid: &str, epoch: &str) -> Observation<'static> {
        let mut o = obs(ts_ms, route, 200, Some(format!("acc_{kid}_{epoch}_{person}")));
        o.kid = Some(Cow::Owned(kid.to_owned()));
        o.epoch = Some(Cow::Owned(epoch.to_owned()));
        o
    }

    /// The same request with an account the request only claims.
    fn claimed(mut o: Observation<'static>, src: AccountSource) -> Observation<'static> {
        o.account_src = o.account.as_ref().map(|_| src);
        o
    }

    /// A request for a path no route matched.
    fn unmatched(ts_ms: i64, path: &str) -> Observation<'static> {
        let mut o = obs(ts_ms, "", 404, None);
        o.route = None;
        o.path = Cow::Owned(path.to_owned());
        o
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

    /// `o` on site `tenant`.
    fn on_site(mut o: Observation<'static>, tenant: &str) -> Observation<'static> {
        o.tenant = Some(Cow::Owned(tenant.to_owned()));
        o
    }

    #[test]
    fn a_tenant_on_a_record_without_a_vouched_account_groups_as_unverified() {
        let mut a = by("tenant,route");
        // A lone signed-in user of the victim's site…
        for _ in 0..3 {
            a.add(&on_site(by_person(0, "/export/{name}", 0, "k", "e"), "ten_victim"));
        }
        // …and five real accounts of other sites whose requests claim the
        // victim's site, or anonymous requests naming it.
        for i in 1..=5 {
            a.add(&on_site(
                claimed(by_person(0, "/export/{name}", i, "k", "e"), AccountSource::Jwt),
                "ten_victim",
            ));
            a.add(&on_site(obs(0, "/export/{name}", 200, None), "ten_victim"));
        }
        let out = a.summaries(5);
        assert!(
            out.rows.iter().all(|r| r.tenant.as_deref() != Some("ten_victim")),
            "{:?}",
            out.rows
        );
        // The claims are counted, under a tenant that says what they are.
        let rows = a.summaries(1).rows;
        let unverified: u64 = rows
            .iter()
            .filter(|r| r.tenant.as_deref() == Some(UNVERIFIED))
            .map(|r| r.requests)
            .sum();
        assert_eq!(unverified, 10);
        let victim = rows.iter().find(|r| r.tenant.as_deref() == Some("ten_victim")).unwrap();
        assert_eq!((victim.requests, victim.vouched_accounts), (3, 1));
    }

    #[test]
    fn made_up_tenants_do_not_push_real_tenants_into_other() {
        let mut a = by("tenant,route").max_groups(50).max_unmatched_groups(10);
        for i in 0..1_200 {
            a.add(&on_site(
                claimed(obs(0, "/health", 200, Some(format!("x{i}"))), AccountSource::Jwt),
                &format!("forged_{i}"),
            ));
            a.add(&on_site(obs(0, "/health", 200, None), &format!("anon_{i}")));
        }
        for t in 0..5 {
            for p in 0..6 {
                a.add(&on_site(
                    by_person(0, "/macro", t * 10 + p, "k", "e"),
                    &format!("ten_{t}"),
                ));
            }
        }
        let (known_full, _) = a.caps_reached();
        assert!(!known_full, "the made-up tenants took {} groups", a.len());
        let rows = a.summaries(5).rows;
        for t in 0..5 {
            let row = rows
                .iter()
                .find(|r| r.tenant.as_deref() == Some(&format!("ten_{t}")))
                .unwrap_or_else(|| panic!("ten_{t} folded: {rows:?}"));
            assert_eq!((row.requests, row.vouched_accounts), (6, 6));
        }
    }

    #[test]
    fn periods_before_1970_come_first() {
        let mut a = by("day");
        for ts in [86_400_000, -86_400_000, 0, -62_167_219_200_000] {
            a.add(&obs(ts, "/a", 200, None));
        }
        let days: Vec<_> = a.summaries(1).rows.into_iter().filter_map(|r| r.day).collect();
        assert_eq!(days, ["0000-01-01", "1969-12-31", "1970-01-01", "1970-01-02"]);
    }

    #[test]
    fn the_week_of_year_0000_is_labelled_with_a_signed_year() {
        let mut a = by("week");
        a.add(&obs(-62_167_219_200_000, "/a", 200, None));
        let rows = a.summaries(1).rows;
        assert_eq!(rows[0].week.as_deref(), Some("-0001-W52"));
        assert_eq!(year_label(-1), "-0001");
        assert_eq!(year_label(0), "0000");
        assert_eq!(year_label(9999), "9999");
    }

    impl Aggregator {
        /// The key-period counts its groups hold.
        fn held_period_counts(&self) -> usize {
            self.groups.values().map(|g| g.vouched.periods.len()).sum()
        }
    }

    #[test]
    fn a_cap_on_key_period_counts_withholds_the_groups_past_it() {
        let mut a = by("route").max_key_period_counts(10);
        for route in ["/a", "/b", "/c", "/d", "/e"] {
            for period in 0..3 {
                for person in 0..5 {
                    a.add(&by_person(0, route, person, "k", &format!("e{period}")));
                }
            }
        }
        // Three routes take nine counts; the next two each need a second.
        assert_eq!(a.held_period_counts(), 9);
        assert_eq!(a.periods.used, 9);
        let out = a.summaries(5);
        let shown: Vec<_> = out.rows.iter().filter_map(|r| r.route.as_deref()).collect();
        assert_eq!(shown, ["/a", "/b", "/c"]);
        assert!(out.rows.iter().all(|r| r.vouched_accounts == 5));
        assert_eq!(
            (out.suppressed_groups, out.too_many_key_periods, out.suppressed_requests),
            (2, 2, 30)
        );
        // Merged into one with less room, the groups past it are withheld too.
        let mut small = by("route").max_key_period_counts(4);
        small.add(&by_person(0, "/z", 0, "k", "e0"));
        small.merge(a);
        assert!(small.periods.used <= 4);
        assert_eq!(small.periods.used, small.held_period_counts());
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
            prop::sample::select(vec!["k_a", "k_b"]),
        )
            .prop_map(|(day, r, s, acc, kid)| {
                let mut o = obs(
                    day * 86_400_000,
                    ["/a", "/b", "/c", "/d"][r],
                    s,
                    acc.map(|a| format!("acc_{a}")),
                );
                o.kid = Some(Cow::Borrowed(kid));
                o.epoch = Some(Cow::Owned(format!("1970-01-0{}", day + 1)));
                o
            })
    }

    #[test]
    fn a_lone_user_over_five_epochs_is_one_account() {
        let mut a = by("route");
        for month in 1..=5 {
            let epoch = format!("2026-{month:02}");
            let mut o = by_person(0, "/export/secret-report.csv", 0, "k_1", &epoch);
            o.resp_bytes = 123_457;
            a.add(&o);
        }
        let out = a.summaries(5);
        assert!(out.rows.is_empty(), "{:?}", out.rows);
        assert_eq!((out.suppressed_groups, out.suppressed_requests), (1, 5));
        let row = &a.summaries(1).rows[0];
        assert_eq!((row.distinct_accounts, row.vouched_accounts), (5, 1));
    }

    #[test]
    fn three_users_across_a_month_boundary_do_not_pass_k_five_by_week() {
        // ISO week 2026-W05 runs from Monday 2026-01-26 to Sunday 2026-02-01.
        let jan_30 = 1_769_731_200_000; // 2026-01-30T00:00:00Z
        let feb_1 = jan_30 + 2 * 86_400_000;
        let mut a = by("week,route");
        for person in 0..3 {
            a.add(&by_person(jan_30, "/rest/search", person, "k_1", "2026-01"));
            a.add(&by_person(feb_1, "/rest/search", person, "k_1", "2026-02"));
        }
        let out = a.summaries(5);
        assert!(out.rows.is_empty(), "{:?}", out.rows);
        assert_eq!(out.suppressed_requests, 6);
        let row = &a.summaries(1).rows[0];
        assert_eq!(row.week.as_deref(), Some("2026-W05"));
        assert_eq!((row.distinct_accounts, row.vouched_accounts), (6, 3));
        // Two more people in January make five within one key period.
        for person in 3..5 {
            a.add(&by_person(jan_30, "/rest/search", person, "k_1", "2026-01"));
        }
        let rows = a.summaries(5).rows;
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].requests, rows[0].vouched_accounts), (8, 5));
    }

    #[test]
    fn five_restarts_without_a_key_are_one_account() {
        // No key configured: every start makes a random key, so a new `kid`.
        let mut a = by("day,route");
        for restart in 0..5 {
            a.add(&by_person(0, "/macro", 0, &format!("k_random{restart}"), "1970-01"));
        }
        let out = a.summaries(5);
        assert!(out.rows.is_empty(), "{:?}", out.rows);
        assert_eq!(out.suppressed_requests, 5);
        assert_eq!(a.summaries(1).rows[0].vouched_accounts, 1);
    }

    #[test]
    fn an_account_that_names_no_key_period_is_not_vouched_for() {
        let mut a = by("route");
        for i in 0..5 {
            let mut o = obs(0, "/r", 200, Some(format!("acc_{i}")));
            if i % 2 == 0 {
                o.kid = None;
            } else {
                o.epoch = None;
            }
            a.add(&o);
        }
        assert!(a.summaries(5).rows.is_empty());
        let row = &a.summaries(1).rows[0];
        assert_eq!((row.distinct_accounts, row.vouched_accounts), (5, 0));
    }

    #[test]
    fn a_group_over_too_many_key_periods_is_withheld_on_its_own() {
        let mut a = by("route");
        // A route used by five people in each of more key periods than are kept apart.
        for period in 0..=MAX_KEY_PERIODS {
            for person in 0..5 {
                a.add(&by_person(0, "/long", person, "k_1", &format!("e{period}")));
            }
        }
        // A small route folds into (other) with four others: that row is shown.
        for person in 0..5 {
            a.add(&by_person(0, &format!("/small{person}"), person, "k_1", "e0"));
        }
        let out = a.summaries(5);
        assert_eq!(out.too_many_key_periods, 1);
        assert_eq!(out.suppressed_groups, 1);
        assert_eq!(out.suppressed_requests, 5 * (MAX_KEY_PERIODS as u64 + 1));
        assert_eq!(out.rows.len(), 1, "{:?}", out.rows);
        assert_eq!(
            (out.rows[0].route.as_deref(), out.rows[0].vouched_accounts),
            (Some(OTHER), 5)
        );
        // One key period fewer and the route is shown.
        let mut a = by("route");
        for period in 0..MAX_KEY_PERIODS {
            for person in 0..5 {
                a.add(&by_person(0, "/long", person, "k_1", &format!("e{period}")));
            }
        }
        let out = a.summaries(5);
        assert_eq!((out.rows.len(), out.too_many_key_periods), (1, 0));
        assert_eq!(out.rows[0].vouched_accounts, 5);
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
                prop_assert!(row.distinct_accounts == 0 || row.vouched_accounts >= k, "{:?}", row);
            }
            let shown: u64 = out.rows.iter().map(|r| r.requests).sum();
            prop_assert_eq!(shown + out.suppressed_requests, items.len() as u64);
            // Withheld rows count what was withheld, per period, and nothing else.
            let withheld: u64 = out.withheld.iter().map(|r| r.requests).sum();
            prop_assert_eq!(withheld, out.suppressed_requests);
            let table: u64 = out.table().iter().map(|r| r.requests).sum();
            prop_assert_eq!(table, items.len() as u64);
            for w in &out.withheld {
                prop_assert!(w.withheld && w.distinct_accounts == 0 && w.resp_bytes == 0 && w.p99_us == 0, "{:?}", w);
            }
        }

        /// Whatever an attacker adds — accounts claimed through any
        /// unverified source, anonymous requests, any route, status or
        /// tenant, any number of them — to a group that fewer than k
        /// vouched accounts used, nothing of that group is shown: every row
        /// shown holds no account at all.
        #[test]
        fn no_mix_of_forged_requests_lifts_a_group_with_fewer_than_k_vouched_accounts(
            k in 2u64..8,
            vouched in 0u64..8,
            claimed_victims in 0u64..3,
            forged in prop::collection::vec(arb_forged(), 0..300),
            dims in prop::sample::select(vec!["day,route", "route", "day,route,status", "hour,route,method,status,tenant", "day", "tenant"]),
            cap in prop::option::of((1usize..6, 1usize..6)),
        ) {
            let vouched = vouched % k;
            // At least one request of the victims' group has an account.
            let claimed_victims = if vouched == 0 { claimed_victims.max(1) } else { claimed_victims };
            let mut a = by(dims);
            if let Some((known, unmatched)) = cap {
                a = a.max_groups(known).max_unmatched_groups(unmatched);
            }
            const VICTIM_BYTES: u64 = 1 << 40;
            let mut victims = Vec::new();
            for i in 0..vouched {
                victims.push(obs(0, "/export/secret-report.csv", 200, Some(format!("victim_{i}"))));
            }
            for i in 0..claimed_victims {
                let o = obs(0, "/export/secret-report.csv", 200, Some(format!("claimed_victim_{i}")));
                victims.push(claimed(o, AccountSource::Jwt));
            }
            for v in &mut victims {
                v.resp_bytes = VICTIM_BYTES;
            }
            // The victims' requests come first, among the forged ones, or last.
            let (before, after) = forged.split_at(forged.len() / 2);
            for o in before.iter().chain(&victims).chain(after) {
                a.add(o);
            }
            let out = a.summaries(k);
            for row in &out.rows {
                prop_assert_eq!(row.distinct_accounts, 0, "a row with accounts was shown: {:?}", row);
                prop_assert!(row.resp_bytes < VICTIM_BYTES, "the victims' bytes were shown: {:?}", row);
            }
            prop_assert!(out.suppressed_requests >= victims.len() as u64);
        }

        /// However the records of fewer than k people are spread over key
        /// epochs and keys (a pseudonym per person and key period), over
        /// routes, statuses and hours, and whatever anonymous or forged
        /// requests join them, no row with their accounts is shown.
        #[test]
        fn fewer_than_k_people_stay_withheld_however_their_records_spread_over_key_periods(
            k in 2u64..8,
            people in 1u32..8,
            records in prop::collection::vec((0u32..8, 0usize..6, 0usize..4, 0i64..48, 0usize..2), 1..120),
            forged in prop::collection::vec(arb_forged(), 0..60),
            anonymous in 0usize..20,
            dims in prop::sample::select(vec!["route", "day,route", "week,route", "day", "week", "hour,route,status", "day,status", "tenant"]),
        ) {
            let people = people % k as u32;
            prop_assume!(people > 0);
            const EPOCHS: [&str; 6] = ["2026-01", "2026-02", "2026-03", "2026-04", "2026-02-28", "static"];
            const KIDS: [&str; 4] = ["k_1", "k_2", "k_random1", "k_random2"];
            const SECRET_BYTES: u64 = 1 << 40;
            let mut a = by(dims);
            let mut victims = 0u64;
            for (person, epoch, kid, hour, route) in records {
                let mut o = by_person(
                    hour * 3_600_000,
                    ["/export/secret-report.csv", "/a"][route],
                    person % people,
                    KIDS[kid],
                    EPOCHS[epoch],
                );
                o.resp_bytes = SECRET_BYTES;
                a.add(&o);
                victims += 1;
            }
            for o in &forged {
                a.add(o);
            }
            for i in 0..anonymous {
                a.add(&obs(i as i64 * 3_600_000, "/a", 200, None));
            }
            let out = a.summaries(k);
            for row in &out.rows {
                prop_assert_eq!(row.distinct_accounts, 0, "a row with accounts was shown: {:?}", row);
                prop_assert!(row.resp_bytes < SECRET_BYTES, "the people's bytes were shown: {:?}", row);
            }
            prop_assert!(out.suppressed_requests >= victims);
        }

        /// Rows come in the order of their periods, before 1970 or after.
        #[test]
        fn rows_are_in_period_order(
            ts in prop::collection::vec(-62_167_219_200_000i64..253_402_300_800_000, 1..40),
            dim in prop::sample::select(vec![Dimension::Hour, Dimension::Day, Dimension::Week, Dimension::Month]),
        ) {
            let mut a = Aggregator::new(vec![dim]);
            let mut start_of = HashMap::new();
            for t in &ts {
                a.add(&obs(*t, "/a", 200, None));
                let start = period_start(dim, *t);
                start_of.insert(period_label(dim, start), start);
            }
            let starts: Vec<i64> = a
                .summaries(1)
                .rows
                .iter()
                .map(|r| start_of[r.key(dim).unwrap_or_default()])
                .collect();
            prop_assert!(starts.windows(2).all(|w| w[0] < w[1]), "{:?}", starts);
        }

        /// However groups are added, merged and taken apart, the key-period
        /// counts held are those the groups hold, never above the cap; a
        /// group past it is withheld, never shown with partial counts.
        #[test]
        fn key_period_counts_stay_within_their_cap(
            items in prop::collection::vec((0usize..12, 0u32..6, 0usize..4, 0i64..3), 0..300),
            split in 0usize..300,
            cap in 1usize..24,
            before_day in 0i64..4,
        ) {
            let make = || by("day,route").max_key_period_counts(cap);
            let (mut left, mut right) = (make(), make());
            for (i, (period, person, route, day)) in items.iter().enumerate() {
                let o = by_person(day * 86_400_000, ["/a", "/b", "/c", "/d"][*route], *person, "k_1", &format!("e{period}"));
                if i < split { left.add(&o) } else { right.add(&o) }
                for a in [&left, &right] {
                    prop_assert_eq!(a.periods.used, a.held_period_counts());
                    prop_assert!(a.periods.used <= cap);
                }
            }
            left.merge(right);
            prop_assert_eq!(left.periods.used, left.held_period_counts());
            prop_assert!(left.periods.used <= cap);
            let taken = left.take_periods_before(before_day * 86_400_000);
            for a in [&left, &taken] {
                prop_assert_eq!(a.periods.used, a.held_period_counts());
            }
            let out = left.summaries(2);
            for row in &out.rows {
                prop_assert!(row.vouched_accounts == 0 || row.vouched_accounts >= 2, "{:?}", row);
            }
        }

        /// The key-period cap spills the same way whether the records come
        /// in one pass or as partial results merged.
        #[test]
        fn key_period_counts_merge_as_one_pass(
            items in prop::collection::vec((0usize..MAX_KEY_PERIODS + 6, 0u32..6, 0usize..3), 0..400),
            split in 0usize..400,
        ) {
            let mut whole = by("route");
            let mut left = by("route");
            let mut right = by("route");
            for (i, (period, person, route)) in items.iter().enumerate() {
                let o = by_person(0, ["/a", "/b", "/c"][*route], *person, "k_1", &format!("e{period}"));
                whole.add(&o);
                if i < split { left.add(&o) } else { right.add(&o) }
            }
            left.merge(right);
            prop_assert_eq!(left.summaries(3), whole.summaries(3));
        }

        /// Row keys are unique, whatever folds where (the group caps, k, a
        /// value that is literally `(other)` or `(none)`), and distinct
        /// counts stay within their exact bounds.
        #[test]
        fn rows_have_unique_keys_and_counts_within_their_bounds(
            items in prop::collection::vec(arb_any(), 0..300),
            k in 1u64..6,
            dims in prop::sample::select(vec!["hour,route,method,status", "day,route", "route", "tenant", "day,tenant,method", "day"]),
            cap in prop::option::of((1usize..8, 1usize..8)),
        ) {
            let mut a = by(dims);
            if let Some((known, unmatched)) = cap {
                a = a.max_groups(known).max_unmatched_groups(unmatched);
            }
            for o in &items { a.add(o); }
            let out = a.summaries(k);
            let mut keys = std::collections::HashSet::new();
            for row in &out.rows {
                prop_assert!(keys.insert(key_tuple(a.dims(), row)), "two rows with the keys of {:?}", row);
                prop_assert!(row.vouched_accounts <= row.distinct_accounts, "{:?}", row);
                prop_assert!(row.distinct_accounts <= row.requests, "{:?}", row);
                prop_assert!(row.distinct_tenants <= row.requests, "{:?}", row);
            }
            let shown: u64 = out.rows.iter().map(|r| r.requests).sum();
            prop_assert_eq!(shown + out.suppressed_requests, items.len() as u64);
            // Withheld rows count what was withheld, per period, and nothing else.
            let withheld: u64 = out.withheld.iter().map(|r| r.requests).sum();
            prop_assert_eq!(withheld, out.suppressed_requests);
            let table: u64 = out.table().iter().map(|r| r.requests).sum();
            prop_assert_eq!(table, items.len() as u64);
            for w in &out.withheld {
                prop_assert!(w.withheld && w.distinct_accounts == 0 && w.resp_bytes == 0 && w.p99_us == 0, "{:?}", w);
            }
        }
    }

    /// Requests an attacker controls: any unverified account source (or
    /// none), any account, route, status, method and tenant, matched or not.
    fn arb_forged() -> impl Strategy<Value = Observation<'static>> {
        (
            prop::option::of(0u32..40),
            prop::sample::select(vec![
                AccountSource::Jwt,
                AccountSource::Header,
                AccountSource::Query,
                AccountSource::Path,
            ]),
            prop::option::of(prop::sample::select(vec!["/export/secret-report.csv", "/a", "(other)"])),
            prop::sample::select(vec![200u16, 404, 500]),
            prop::option::of(0u32..4),
            any::<bool>(),
            0i64..3,
        )
            .prop_map(|(account, src, route, status, tenant, unknown_src, hour)| {
                let mut o = claimed(
                    obs(
                        hour * 3_600_000,
                        route.unwrap_or("/x"),
                        status,
                        account.map(|a| format!("forged_{a}")),
                    ),
                    src,
                );
                if route.is_none() {
                    o.route = None;
                    o.path = Cow::Owned(format!("/scan/{}", account.unwrap_or(0)));
                }
                if unknown_src {
                    // A record that names no source (or one privlog does not know).
                    o.account_src = None;
                }
                o.tenant = tenant.map(|t| Cow::Owned(format!("ten_{t}")));
                o
            })
    }

    /// Any request: vouched, claimed or anonymous, known route or not,
    /// values that read like the labels `(other)` and `(none)`.
    fn arb_any() -> impl Strategy<Value = Observation<'static>> {
        (
            arb_obs(),
            prop::option::of(prop::sample::select(vec![AccountSource::Jwt, AccountSource::Header])),
            prop::sample::select(vec![None, Some("/a"), Some("(other)"), Some("(none)")]),
            prop::sample::select(vec!["GET", "POST", "(other)"]),
            prop::option::of(prop::sample::select(vec!["ten_a", "(none)", "(other)"])),
            0i64..4,
        )
            .prop_map(|(o, src, route, method, tenant, hour)| {
                let mut o = match src {
                    Some(src) => claimed(o, src),
                    None => o,
                };
                o.ts_ms += hour * 3_600_000;
                match route {
                    None => {
                        o.route = None;
                        o.path = Cow::Owned(format!("/scan/{}", o.duration_us % 7));
                    }
                    Some(r) if o.status == Some(500) => o.route = Some(Cow::Borrowed(r)),
                    Some(_) => {}
                }
                o.method = Cow::Borrowed(method);
                o.tenant = tenant.map(Cow::Borrowed);
                o
            })
    }

    #[test]
    fn forged_identities_do_not_reveal_a_lone_user_s_download() {
        // One user downloads a secret report; four forged JWTs claim to be
        // other accounts on the same route.
        let mut a = by("hour,route");
        let mut victim = obs(0, "/export/secret-report.csv", 200, Some("acc_victim".into()));
        victim.resp_bytes = 123_457;
        a.add(&victim);
        for i in 0..4 {
            let o = obs(0, "/export/secret-report.csv", 200, Some(format!("forged_{i}")));
            a.add(&claimed(o, AccountSource::Jwt));
        }
        let out = a.summaries(5);
        assert!(out.rows.is_empty(), "{:?}", out.rows);
        assert_eq!(out.suppressed_requests, 5);
        // Four real, vouched accounts more make the group big enough.
        for i in 0..4 {
            a.add(&obs(0, "/export/secret-report.csv", 200, Some(format!("acc_{i}"))));
        }
        let rows = a.summaries(5).rows;
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].vouched_accounts, rows[0].distinct_accounts), (5, 9));
    }

    #[test]
    fn claimed_accounts_are_withheld_unless_k_is_one() {
        let mut a = by("day,route");
        for i in 0..50 {
            for src in [
                AccountSource::Jwt,
                AccountSource::Header,
                AccountSource::Query,
                AccountSource::Path,
            ] {
                a.add(&claimed(obs(0, "/r", 200, Some(format!("acc_{i}"))), src));
            }
        }
        let out = a.summaries(5);
        assert!(out.rows.is_empty());
        assert_eq!((out.folded_groups, out.suppressed_requests), (1, 200));
        let all = a.summaries(1).rows;
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].distinct_accounts, all[0].vouched_accounts), (50, 0));
    }

    #[test]
    fn a_period_has_one_other_row_when_the_cap_and_k_both_fold() {
        // The cap's overflow and the small groups both become the period's
        // `(other)` row: one row, with both folded in.
        let mut a = by("hour,route,method,status").max_groups(1);
        for i in 0..6 {
            a.add(&obs(0, "/big", 200, Some(format!("acc_{i}"))));
        }
        for i in 0..6 {
            a.add(&obs(0, "/over", 200, Some(format!("acc_o{i}"))));
        }
        let mut small = unmatched(0, "/small");
        small.account = Some(Cow::Borrowed("acc_s"));
        small.account_src = Some(AccountSource::App);
        a.add(&small);
        let rows = a.summaries(5).rows;
        let others: Vec<_> = rows.iter().filter(|r| r.is_other()).collect();
        assert_eq!(others.len(), 1, "{rows:?}");
        assert_eq!(others[0].requests, 7);
        assert_eq!(others[0].vouched_accounts, 7);
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn withheld_requests_are_a_row_per_period_and_the_periods_add_up() {
        // Day 0: ten accounts on /big, one on /lonely; day 1: one on /lonely.
        let mut a = by("day,route");
        for i in 0..10 {
            a.add(&obs(0, "/big", 200, Some(format!("acc_{i}"))));
        }
        for _ in 0..3 {
            a.add(&obs(0, "/lonely", 404, Some("acc_l".into())));
        }
        a.add(&obs(86_400_000, "/lonely", 404, Some("acc_l".into())));
        let out = a.summaries(5);
        let table: Vec<_> = out
            .table()
            .iter()
            .map(|r| (r.day.as_deref(), r.route.as_deref(), r.requests, r.withheld))
            .collect();
        assert_eq!(
            table,
            [
                (Some("1970-01-01"), Some("/big"), 10, false),
                (Some("1970-01-01"), Some(WITHHELD), 3, true),
                (Some("1970-01-02"), Some(WITHHELD), 1, true),
            ]
        );
        assert_eq!(out.suppressed_requests, 4);
        // Without a key but the period, the period's own row is withheld.
        let mut a = by("day");
        a.add(&obs(0, "/lonely", 200, Some("acc_l".into())));
        let out = a.summaries(5);
        assert!(out.rows.is_empty());
        assert_eq!(out.withheld.len(), 1);
        assert_eq!(
            (out.withheld[0].day.as_deref(), out.withheld[0].requests),
            (Some("1970-01-01"), 1)
        );
        // A value that reads like the withheld label is never mistaken for it.
        let mut a = by("route");
        for i in 0..5 {
            a.add(&obs(0, WITHHELD, 200, Some(format!("acc_{i}"))));
        }
        let rows = a.summaries(5).rows;
        assert_eq!((rows[0].route.as_deref(), rows[0].withheld), (Some(OTHER), false));
    }

    #[test]
    fn requests_without_an_account_are_shown_though_their_group_has_few_accounts() {
        // 95 anonymous 4xx requests and one signed-in account's 4xx: k
        // protects the account, not the anonymous requests.
        let mut a = by("day,status");
        for i in 0..10 {
            a.add(&obs(0, "/a", 200, Some(format!("acc_{i}"))));
        }
        for _ in 0..95 {
            a.add(&obs(0, "/a", 404, None));
        }
        let mut lone = obs(0, "/a", 404, Some("acc_lone".into()));
        lone.resp_bytes = 123_457;
        a.add(&lone);
        let out = a.summaries(5);
        let four = out
            .rows
            .iter()
            .find(|r| r.status.as_deref() == Some("4xx"))
            .expect("4xx row");
        assert_eq!((four.requests, four.distinct_accounts, four.resp_bytes), (95, 0, 950));
        // The account's request is withheld, never shown nor lost.
        assert_eq!(out.suppressed_requests, 1);
        assert_eq!(out.withheld[0].requests, 1);
        let total: u64 = out.table().iter().map(|r| r.requests).sum();
        assert_eq!(total, 106);
        // With enough accounts, both parts are one row.
        for i in 0..5 {
            a.add(&obs(0, "/a", 404, Some(format!("acc_{i}"))));
        }
        let out = a.summaries(5);
        let four: Vec<_> = out.rows.iter().filter(|r| r.status.as_deref() == Some("4xx")).collect();
        assert_eq!(four.len(), 1);
        assert_eq!((four[0].requests, four[0].vouched_accounts), (101, 6));
        assert!(out.withheld.is_empty());
    }

    #[test]
    fn a_value_that_reads_other_shares_the_other_row() {
        let mut a = by("route");
        for i in 0..5 {
            a.add(&obs(0, "(other)", 200, Some(format!("acc_{i}"))));
        }
        a.add(&obs(0, "/small", 200, Some("acc_s".into())));
        let rows = a.summaries(5).rows;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].route.as_deref(), rows[0].requests), (Some(OTHER), 6));
    }

    #[test]
    fn an_estimate_never_exceeds_the_requests() {
        // Slightly more distinct accounts than are counted exactly: the
        // sketch's estimate for these (1034) is above the number of requests.
        let n = 1_030u64;
        let mut a = by("route");
        for i in 0..n {
            a.add(&obs(0, "/r", 200, Some(format!("acc_{i}"))));
        }
        let row = &a.summaries(5).rows[0];
        assert_eq!(row.requests, n);
        assert!(
            row.distinct_accounts <= n && row.distinct_accounts > EXACT_LIMIT as u64,
            "{row:?}"
        );
        assert!(row.vouched_accounts <= row.distinct_accounts);
    }

    #[test]
    fn a_scanner_s_paths_never_take_the_room_of_known_routes() {
        let mut a = by("hour,route,method,status").max_groups(100);
        for i in 0..20_000 {
            a.add(&unmatched(0, &format!("/wp-admin/probe{i}.php")));
        }
        for r in ["/rest/issues/{id}", "/rest/search", "/macro"] {
            for i in 0..5 {
                a.add(&obs(60_000, r, 200, Some(format!("acc_{i}"))));
            }
        }
        let rows = a.summaries(5).rows;
        for r in ["/rest/issues/{id}", "/rest/search", "/macro"] {
            let row = rows.iter().find(|x| x.route.as_deref() == Some(r));
            assert_eq!(row.map(|x| x.requests), Some(5), "{r} has its own row");
        }
        // The unmatched paths beyond their own cap are folded.
        let other = rows.iter().find(|x| x.is_other()).expect("(other) row");
        assert_eq!(other.requests, 20_000 - 100);
        assert_eq!(a.len(), 100 + 3 + 1);
    }

    #[test]
    fn known_routes_have_their_own_cap() {
        let mut a = by("route").max_groups(2).max_unmatched_groups(5);
        for r in ["/a", "/b", "/c"] {
            a.add(&obs(0, r, 200, None));
        }
        for p in ["/x", "/y"] {
            a.add(&unmatched(0, p));
        }
        let rows = a.summaries(1).rows;
        let routes: Vec<_> = rows.iter().filter_map(|r| r.route.as_deref()).collect();
        assert!(routes.contains(&"/a") && routes.contains(&"/b") && !routes.contains(&"/c"));
        assert!(routes.contains(&"/x") && routes.contains(&"/y") && routes.contains(&OTHER));
        // Emitted periods give their room back.
        let mut a = by("day,route").max_groups(1);
        a.add(&obs(0, "/a", 200, None));
        let _ = a.take_periods_before(86_400_000);
        a.add(&obs(86_400_000, "/b", 200, None));
        assert_eq!(a.summaries(1).rows[0].route.as_deref(), Some("/b"));
    }
}
