//! Turns the request path's raw capture into a sanitized [`Record`]. Runs on
//! the pipeline worker only, applying the compiled policy
//! ([`CompiledPolicy`]): account and tenant from the first source in its
//! order of precedence, the client address, path and query.
//!
//! The stage keeps what makes a record cheap from one to the next, each in
//! its own file: `slot_cache` (a seeded cache refilled in place, for
//! pseudonyms and client texts), `token_cache` (what a Connect token read
//! before gave), `reuse` (filling a record again in its own buffers) and
//! `times` (record times, the calendar reading cached per second).

mod reuse;
mod slot_cache;
mod times;
mod token_cache;

use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

use http::Method;
use time::OffsetDateTime;

use self::reuse::{Spares, set, set_unless_same};
use self::slot_cache::SlotCache;
use self::times::LastSecond;
use self::token_cache::{Token, token};
use crate::capture::Capture;
#[cfg(test)]
use crate::policy::Policy;
use crate::policy::ip::{forwarded_hops, resolve_client, xff_hops};
use crate::policy::jwt::{payload_segment, signed_part_payload};
use crate::policy::scrub::{sanitize_text, scrub_path_into};
use crate::policy::{
    CompiledPolicy, CompiledRules, EpochKeys, IpPolicy, LearnedLiterals, MasterKey, PathPolicy, Pseudonymizer, Purpose,
    QueryPolicy, RatchetKey, Rotation, Source, SuppressionKey, SuppressionMark, daily_ip_keys, write_safe_path,
};
use crate::record::{AccountSource, MAX_FIELD_LEN, Record, SCHEMA_VERSION, Vouched};

/// The longest account or tenant ID that is pseudonymized; longer values are
/// not IDs and are ignored.
const MAX_ID_LEN: usize = 256;

/// Pseudonyms remembered per epoch: most traffic comes from a few accounts
/// and tenants, and a cache lookup is cheaper than a keyed hash.
const ACCOUNT_SLOTS: usize = 4096;
const TENANT_SLOTS: usize = 1024;

/// Paths without a route template remembered with what the path policy
/// wrote for them: fallbacks, static files and scanners send the same paths
/// again and again, and judging a path's words costs more than a lookup.
const PATH_SLOTS: usize = 1024;

/// The longest path remembered (a longer one is judged every time, so the
/// cache holds at most `PATH_SLOTS` short keys).
const MAX_CACHED_PATH: usize = 256;

/// What the path policy wrote for one path.
#[derive(Default)]
struct JudgedPath {
    /// The path as written into records.
    text: String,
    /// Whether an account ID was found in it.
    account: bool,
    /// Where that account ID stands in the path, when it is the path's own
    /// text (else, percent-encoded, the path is judged again to decode it).
    account_at: Option<(usize, usize)>,
}

/// What the query policy wrote for one query.
#[derive(Default)]
struct JudgedQuery {
    /// The query as written into records.
    text: String,
    /// Whether anything of it is kept.
    kept: bool,
}

/// Client address texts remembered: a client sends many requests, and its
/// network is shared by more clients still.
const IP_SLOTS: usize = 256;

/// Tokens whose claims are remembered. An add-on's front end sends the same
/// Connect context token with every call it makes for up to 15 minutes, so
/// most tokens the worker sees it has read before.
const TOKEN_SLOTS: usize = 1024;

/// Records without a route template after which, none having had one, the
/// worker warns that the layer sees no route templates (axum feature).
pub(crate) const UNTEMPLATED_WARN_AFTER: u64 = 1000;

/// Watches whether any record has a route template, to warn once when many
/// had none: the layer then wraps the router from outside, where axum's
/// `MatchedPath` is not set yet, and every path goes through the path policy.
#[derive(Debug, Default)]
struct TemplateWatch {
    untemplated: u64,
    templated_seen: bool,
}

impl TemplateWatch {
    /// Counts one record; `true` exactly once, at the
    /// [`UNTEMPLATED_WARN_AFTER`]th record, when none had a template.
    fn note(&mut self, templated: bool) -> bool {
        if self.templated_seen {
            return false;
        }
        if templated {
            self.templated_seen = true;
            return false;
        }
        self.untemplated = self.untemplated.saturating_add(1);
        self.untemplated == UNTEMPLATED_WARN_AFTER
    }
}

/// The keys and pseudonym caches of the current epoch.
struct Ids<'a> {
    keys: &'a EpochKeys,
    /// The key of suppression-list marks, when there is a list.
    suppress: Option<&'a SuppressionKey>,
    accounts: &'a mut SlotCache<[u8], String>,
    tenants: &'a mut SlotCache<[u8], String>,
}

impl Ids<'_> {
    /// The pseudonym of the ID `input` (from the cache when it is there), or
    /// `None` when `input` is too long to be an ID.
    fn pseudonym(&mut self, purpose: Purpose, input: &str) -> Option<&str> {
        if input.len() > MAX_ID_LEN {
            return None;
        }
        let cache = match purpose {
            Purpose::Tenant => &mut *self.tenants,
            _ => &mut *self.accounts,
        };
        let keys = self.keys;
        let p = cache.get_or_fill(input.as_bytes(), |p| {
            p.clear();
            p.push_str(keys.pseudonym(purpose, input).as_str());
        });
        p.map(String::as_str)
    }
}

/// What an ID source gave: the ID, or (a remembered token's claim) its
/// pseudonym already.
enum Found<'a> {
    Id(Cow<'a, str>),
    Pseudonym(Option<&'a str>),
}

impl<'a> Found<'a> {
    /// The pseudonym; `None` when the ID is too long to be one.
    fn pseudonym<'i>(self, ids: &'i mut Ids<'_>, purpose: Purpose) -> Option<&'i str>
    where
        'a: 'i,
    {
        match self {
            Found::Id(id) => ids.pseudonym(purpose, &id),
            Found::Pseudonym(p) => p,
        }
    }
}

/// The sanitizing stage: the compiled policy, the key's pseudonymizer and
/// the caches the worker keeps from one record to the next.
pub(crate) struct Sanitizer {
    policy: CompiledPolicy,
    tokens: SlotCache<[u8], Token>,
    /// A buffer for a scrubbed path that is read for its account ID only.
    scratch: String,
    /// Literal words of the route templates seen, kept by the path allowlist
    /// in paths without a template.
    learned: LearnedLiterals,
    /// The route template learned last: the same template again (most
    /// traffic) is not learned twice.
    last_template: String,
    /// No rules: reading a templated path for its account ID runs the
    /// detectors only.
    no_rules: CompiledRules,
    /// Whether records carry route templates at all.
    templates: TemplateWatch,
    pseudo: KeySchedule,
    kid: String,
    current: Option<(i64, String, EpochKeys)>,
    spares: Spares,
    second: LastSecond,
    /// Client address texts of the current epoch, by the address or network they stand for.
    ips: SlotCache<IpAddr, String>,
    /// Paths without a route template and what the path policy wrote for
    /// them; cleared when a new route word is learned.
    paths: SlotCache<[u8], JudgedPath>,
    /// Queries and what the query policy wrote for them.
    queries: SlotCache<[u8], JudgedQuery>,
    /// Under [`IpPolicy::PseudonymizeDaily`]: the UTC day of the last record
    /// and the process's client keys of that day (`None`: that day's key is
    /// gone, so clients are left out).
    ip_day: Option<(i64, Option<EpochKeys>)>,
    /// The key of the suppression list's marks, when a list is configured.
    suppress_key: Option<SuppressionKey>,
    /// The marks of the accounts on the suppression list.
    suppressed: HashSet<SuppressionMark>,
    /// Whether the last record made was written without its account
    /// because the account is on the suppression list.
    pub(crate) last_suppressed: bool,
    /// Account and tenant pseudonyms of the current epoch, by input.
    cache: [SlotCache<[u8], String>; 2],
    /// Test builds: a path whose capture makes sanitizing panic, as a fault would.
    #[cfg(test)]
    pub(crate) panic_on_path: Option<&'static str>,
}

impl Sanitizer {
    /// A sanitizer applying `policy` with pseudonyms keyed by `key`.
    pub(crate) fn new(policy: CompiledPolicy, key: &MasterKey) -> Self {
        Sanitizer::with_schedule(
            policy,
            KeySchedule::Static(Pseudonymizer::new(key)),
            key.id().as_str().to_owned(),
        )
    }

    fn with_schedule(policy: CompiledPolicy, pseudo: KeySchedule, kid: String) -> Self {
        Sanitizer {
            policy,
            tokens: SlotCache::new(TOKEN_SLOTS),
            scratch: String::new(),
            learned: LearnedLiterals::new(),
            last_template: String::new(),
            no_rules: CompiledRules::empty(),
            templates: TemplateWatch::default(),
            pseudo,
            kid,
            current: None,
            spares: Spares::default(),
            second: LastSecond::default(),
            ips: SlotCache::new(IP_SLOTS),
            paths: SlotCache::new(PATH_SLOTS),
            queries: SlotCache::new(PATH_SLOTS),
            ip_day: None,
            suppress_key: None,
            suppressed: HashSet::new(),
            last_suppressed: false,
            cache: [SlotCache::new(ACCOUNT_SLOTS), SlotCache::new(TENANT_SLOTS)],
            #[cfg(test)]
            panic_on_path: None,
        }
    }

    /// A sanitizer applying `policy` with pseudonyms keyed by the forward-
    /// secure `key`, whose rotation replaces the policy's. The key's state
    /// moves forward in memory as epochs pass (never backwards; the old
    /// state is zeroized), and a record of a moment older than the oldest
    /// epoch the key holds is written under that oldest epoch.
    pub(crate) fn with_ratchet(mut policy: CompiledPolicy, key: RatchetKey) -> Self {
        policy.rotation = key.rotation();
        let kid = key.id().as_str().to_owned();
        Sanitizer::with_schedule(policy, KeySchedule::Ratchet(key), kid)
    }

    /// Forgets everything remembered from earlier records (pseudonyms, token
    /// claims, client texts, the epoch and second): after a record failed
    /// half-way, nothing it may have left half-written is used again.
    pub(crate) fn forget(&mut self) {
        self.tokens.clear();
        self.ips.clear();
        self.paths.clear();
        self.queries.clear();
        self.ip_day = None;
        for cache in &mut self.cache {
            cache.clear();
        }
        self.current = None;
        self.second = LastSecond::default();
        self.scratch.clear();
    }

    /// Checks accounts against a suppression list whose marks are made with
    /// `key` (the list starts empty; see [`Sanitizer::set_suppressed`]).
    pub(crate) fn suppress_with(&mut self, key: SuppressionKey) {
        self.suppress_key = Some(key);
        // Remembered tokens were read without marks.
        self.tokens.clear();
    }

    /// The suppression key, when suppression is on.
    pub(crate) fn suppression_key(&self) -> Option<&SuppressionKey> {
        self.suppress_key.as_ref()
    }

    /// Replaces the suppression list's marks.
    pub(crate) fn set_suppressed(&mut self, marks: HashSet<SuppressionMark>) {
        self.suppressed = marks;
    }

    /// The record of `raw`; what the application provided is taken out of it.
    #[cfg(any(test, feature = "bench"))]
    pub(crate) fn sanitize(&mut self, raw: &mut Capture) -> Record {
        let mut out = Record::new(OffsetDateTime::UNIX_EPOCH, String::new(), String::new());
        self.sanitize_into(raw, &mut out);
        out
    }

    /// Writes the record of `raw` into `out`, reusing `out`'s string buffers:
    /// the worker keeps its records and fills them again, so in steady state
    /// a record costs few allocations. What the application provided is
    /// taken out of `raw`.
    pub(crate) fn sanitize_into(&mut self, raw: &mut Capture, out: &mut Record) {
        #[cfg(test)]
        if self.panic_on_path.is_some_and(|p| raw.path_and_query().0 == p) {
            panic!("a capture the sanitizer fails on");
        }
        self.last_suppressed = false;
        let app_account = raw.app.account.take();
        let app_tenant = raw.app.tenant.take();
        let app_route = raw.app.route.take();
        let raw = &*raw;
        // The schema promises millisecond precision: a record read back from
        // a file equals the one the sinks were given.
        let (ts, bucket) = self.second.start_of(raw.start, self.policy.rotation);
        let path_ids = self.policy.account.reads(Source::Path);
        let (uri_path, query) = raw.path_and_query();

        // Route and path.
        let matched = raw.matched.map(|m| raw.str(m));
        let route = app_route
            .as_deref()
            .or(matched)
            .map(|r| sanitize_text(r, MAX_FIELD_LEN));
        self.spares.set_opt(&mut out.route, route.as_deref());
        // With a route template the path is the template, and its literal
        // words are learned for the paths that have none; the raw path is
        // read only when it is the path, or may hold the account.
        let path_policy = self.policy.path;
        let scrubbed_account = match &route {
            Some(r) => {
                set(&mut out.path, r);
                if let Some(template) = app_route.as_deref().or(matched)
                    && template != self.last_template
                {
                    if self.learned.insert_template(template) > 0 {
                        // Paths judged before may hold words safe now.
                        self.paths.clear();
                    }
                    set(&mut self.last_template, template);
                }
                if path_ids {
                    self.scratch.clear();
                    match path_policy {
                        PathPolicy::Scrub => scrub_path_into(uri_path, &mut self.scratch),
                        // The account as the path policy would find it, without
                        // running the operator rules on a path never written.
                        _ => write_safe_path(
                            uri_path,
                            PathPolicy::TemplateOnly,
                            &self.no_rules,
                            &self.learned,
                            &mut self.scratch,
                        ),
                    }
                } else {
                    None
                }
            }
            None => {
                out.path.clear();
                let (rules, learned) = (&self.policy.rules, &self.learned);
                let judged = if uri_path.len() <= MAX_CACHED_PATH {
                    self.paths.get_or_fill(uri_path.as_bytes(), |j| {
                        j.text.clear();
                        let account = write_safe_path(uri_path, path_policy, rules, learned, &mut j.text);
                        j.account = account.is_some();
                        // The ID's place, when it is a slice of the path itself.
                        j.account_at = match account {
                            Some(Cow::Borrowed(a)) => {
                                let start = (a.as_ptr() as usize).wrapping_sub(uri_path.as_ptr() as usize);
                                (uri_path.get(start..start + a.len()) == Some(a)).then_some((start, start + a.len()))
                            }
                            _ => None,
                        };
                    })
                } else {
                    None
                };
                match judged {
                    Some(j) if !j.account => {
                        set(&mut out.path, &j.text);
                        None
                    }
                    Some(JudgedPath {
                        text,
                        account_at: Some((start, end)),
                        ..
                    }) if uri_path.get(*start..*end).is_some() => {
                        set(&mut out.path, text);
                        uri_path.get(*start..*end).map(Cow::Borrowed)
                    }
                    _ => write_safe_path(uri_path, path_policy, rules, learned, &mut out.path),
                }
            }
        };

        if self.templates.note(route.is_some()) && cfg!(feature = "axum") {
            tracing::warn!(
                target: "privlog",
                records = UNTEMPLATED_WARN_AFTER,
                "privacy: {UNTEMPLATED_WARN_AFTER} records and none had a route template, so every path went \
                 through the path policy; the layer probably wraps the axum router from outside (a \
                 ServiceBuilder or tower::Layer around the router or its make-service), where MatchedPath is \
                 not set yet: add it inside the router with `.route_layer()` or `Router::layer` so records carry \
                 route templates"
            );
        }

        // The epoch's keys; a new epoch forgets the pseudonyms of the old one.
        let (new_epoch, epoch, keys) =
            epoch_keys(&mut self.current, self.policy.rotation, &mut self.pseudo, ts, bucket);
        let [accounts, tenants] = &mut self.cache;
        if new_epoch {
            accounts.clear();
            tenants.clear();
            self.tokens.clear();
            self.ips.clear();
        }
        let mut ids = Ids {
            keys,
            suppress: self.suppress_key.as_ref(),
            accounts,
            tenants,
        };
        let spares = &mut self.spares;

        // Account and tenant: the first source in the policy's order of
        // precedence that holds a value (see `policy::compiled`).
        let policy = &self.policy;
        let token = match (policy.account.reads(Source::Jwt), raw.jwt_signed) {
            (false, _) => None,
            (true, Some(s)) => token(&mut self.tokens, raw.bytes(s), signed_part_payload, &mut ids),
            (true, None) => match query.and_then(|q| QueryPolicy::find(q, "jwt")) {
                Some(t) => match payload_segment(t.trim().as_bytes()) {
                    Some(p) => token(&mut self.tokens, p, |p: &[u8]| Some(p), &mut ids),
                    None => None,
                },
                None => None,
            },
        };
        let header = |range: &std::ops::Range<usize>| -> Option<Cow<'_, str>> {
            let spans = raw.account_headers.spans.get(range.clone()).unwrap_or_default();
            spans.iter().flatten().find_map(|v| {
                visible_ascii(raw.bytes(*v))
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(Cow::Borrowed)
            })
        };
        let from_query = |keys: &[String]| -> Option<Cow<'_, str>> {
            let q = query?;
            keys.iter()
                .find_map(|k| QueryPolicy::find(q, k).filter(|v| !v.is_empty()))
        };
        // The account and where it came from: only the application's is
        // vouched for; the others are what the request says.
        let account = policy.account.iter().find_map(|source| match source {
            Source::App => app_account
                .as_deref()
                .map(|a| (Found::Id(Cow::Borrowed(a)), AccountSource::App)),
            Source::Jwt => token
                .map(|t| &t.account)
                .filter(|c| c.present)
                .map(|c| (Found::Pseudonym(c.pseudonym.as_deref()), AccountSource::Jwt)),
            Source::Header => header(&policy.account_headers).map(|a| (Found::Id(a), AccountSource::Header)),
            Source::Query => from_query(&policy.account_query).map(|a| (Found::Id(a), AccountSource::Query)),
            Source::Path => scrubbed_account
                .as_deref()
                .map(|a| (Found::Id(Cow::Borrowed(a)), AccountSource::Path)),
        });
        let (found, source) = account.unzip();
        // An account on the suppression list is written as none: its mark
        // is the raw ID's (a token's was made when the token was read).
        let suppressed = !self.suppressed.is_empty()
            && match (&found, ids.suppress) {
                (Some(Found::Id(id)), Some(key)) => self.suppressed.contains(&key.mark(id)),
                (Some(Found::Pseudonym(_)), _) => token
                    .and_then(|t| t.account.mark.as_ref())
                    .is_some_and(|m| self.suppressed.contains(m)),
                _ => false,
            };
        self.last_suppressed = suppressed;
        spares.set_opt(
            &mut out.account,
            found
                .filter(|_| !suppressed)
                .and_then(|f| f.pseudonym(&mut ids, Purpose::Account)),
        );
        // No account (none found, or too long to be an ID): no source.
        out.account_src = source.filter(|_| out.account.is_some());
        let tenant = policy.tenant.iter().find_map(|source| match source {
            Source::App => app_tenant.as_deref().map(|t| Found::Id(Cow::Borrowed(t))),
            Source::Jwt => token
                .map(|t| &t.tenant)
                .filter(|c| c.present)
                .map(|c| Found::Pseudonym(c.pseudonym.as_deref())),
            Source::Header => header(&policy.tenant_headers).map(Found::Id),
            Source::Query => from_query(&policy.tenant_query).map(Found::Id),
            Source::Path => None,
        });
        spares.set_opt(
            &mut out.tenant,
            tenant.and_then(|f| f.pseudonym(&mut ids, Purpose::Tenant)),
        );

        // Client address.
        let peer = raw.peer.map(|a| a.ip());
        let client_ip = if self.policy.trusted.is_empty() {
            peer.map(crate::policy::ip::normalize)
        } else {
            let fwd: Vec<&[u8]> = raw.values(&raw.forwarded).collect();
            if fwd.is_empty() {
                let xff: Vec<&[u8]> = raw.values(&raw.x_forwarded_for).collect();
                resolve_client(peer, &self.policy.trusted, xff_hops(&xff))
            } else {
                resolve_client(peer, &self.policy.trusted, forwarded_hops(&fwd))
            }
        };
        let ip_policy = self.policy.ip;
        let ip_keys = match ip_policy {
            IpPolicy::PseudonymizeDaily => {
                let day = ts.unix_timestamp().div_euclid(86_400);
                if self.ip_day.as_ref().is_none_or(|(d, _)| *d != day) {
                    // Another day: another key, and the old day's texts are forgotten.
                    self.ips.clear();
                    self.ip_day = Some((day, daily_ip_keys(day)));
                }
                self.ip_day.as_ref().and_then(|(_, k)| k.as_ref())
            }
            _ => Some(keys),
        };
        match ip_keys.and_then(|k| client_ip.and_then(|ip| Some((k, ip, ip_policy.text_key(ip)?)))) {
            Some((ip_keys, ip, key)) => {
                let text = self.ips.get_or_fill(&key, |buf| {
                    buf.clear();
                    ip_policy.apply_into(ip, ip_keys, buf);
                });
                spares.set_opt(&mut out.client, text.map(String::as_str));
            }
            None => spares.clear(&mut out.client),
        }

        let (query_policy, rules) = (&self.policy.query, &self.policy.rules);
        match query {
            Some(q) if q.len() <= MAX_CACHED_PATH => {
                let judged = self.queries.get_or_fill(q.as_bytes(), |j| {
                    j.text.clear();
                    j.kept = query_policy.filter_into(q, rules, &mut j.text);
                });
                match judged {
                    Some(j) => spares.set_opt(&mut out.query, j.kept.then_some(j.text.as_str())),
                    None => spares.fill_opt(&mut out.query, |buf| query_policy.filter_into(q, rules, buf)),
                }
            }
            Some(q) => spares.fill_opt(&mut out.query, |buf| query_policy.filter_into(q, rules, buf)),
            None => spares.clear(&mut out.query),
        }
        set_unless_same(&mut out.epoch, epoch);
        set_unless_same(&mut out.kid, &self.kid);

        out.v = SCHEMA_VERSION;
        out.ts = ts;
        set_unless_same(&mut out.method, method_name(&raw.method));
        set_unless_same(&mut out.proto, proto_name(raw.version));
        out.status = raw.status;
        out.req_bytes = match raw.req_bytes {
            Some(n) if n > 0 => n,
            _ => raw.declared_req_bytes.unwrap_or(0),
        };
        out.resp_bytes = raw.resp_bytes;
        out.ttfb_us = raw.ttfb.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        out.duration_us = u64::try_from(raw.duration.as_micros()).unwrap_or(u64::MAX);
        out.outcome = raw.outcome;
        // Every generated field has been written by now.
        out.vouched = Vouched::SANITIZED;
    }
}

/// Where the keys of each epoch come from.
enum KeySchedule {
    /// Derived from a master key and the epoch's label: every epoch, forever.
    Static(Pseudonymizer),
    /// Ratcheted forward from the state of the oldest epoch held.
    Ratchet(RatchetKey),
}

impl KeySchedule {
    /// The label and keys of `ts`'s epoch. A ratchet moves forward to that
    /// epoch (the older state is zeroized) and never back: a moment older
    /// than its oldest epoch is given the oldest epoch's label and keys.
    fn epoch_keys(&mut self, rotation: Rotation, ts: OffsetDateTime) -> (String, EpochKeys) {
        match self {
            KeySchedule::Static(p) => {
                let epoch = rotation.epoch_of(ts);
                let keys = p.epoch_keys(&epoch);
                (epoch.as_str().to_owned(), keys)
            }
            KeySchedule::Ratchet(r) => {
                if let Some(index) = rotation.epoch_index(ts) {
                    r.advance_to_index(index);
                }
                (r.oldest_epoch().as_str().to_owned(), r.oldest_keys())
            }
        }
    }
}

/// The label and keys of `ts`'s epoch, derived once per epoch, and whether
/// the epoch is another than the previous record's.
fn epoch_keys<'a>(
    current: &'a mut Option<(i64, String, EpochKeys)>,
    rotation: Rotation,
    pseudo: &mut KeySchedule,
    ts: OffsetDateTime,
    bucket: i64,
) -> (bool, &'a str, &'a EpochKeys) {
    if current.as_ref().is_some_and(|(b, _, _)| *b != bucket) {
        *current = None;
    }
    let new = current.is_none();
    let (_, label, keys) = current.get_or_insert_with(|| {
        let (label, keys) = pseudo.epoch_keys(rotation, ts);
        (bucket, label, keys)
    });
    (new, label, keys)
}

/// `bytes` as text if it is what `HeaderValue::to_str` accepts (visible
/// ASCII, space and tab).
fn visible_ascii(bytes: &[u8]) -> Option<&str> {
    if bytes.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// The method name, or `_OTHER` for methods outside the registered set.
pub(crate) fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

pub(crate) fn proto_name(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "_OTHER",
    }
}

/// `policy` compiled, in tests (where it is known to be valid).
#[cfg(test)]
fn compiled(policy: Policy) -> CompiledPolicy {
    policy.compile().expect("a valid policy")
}

#[cfg(test)]
/// Everything logged at `warn` on this thread while `f` runs.
pub(crate) fn warnings_of(f: impl FnOnce()) -> String {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8_lossy(&captured.0.lock().expect("lock")).into_owned()
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::capture::TEXT_CAPACITY;
    use crate::policy::jwt::authorization_signed_part;
    use crate::record::Outcome;

    /// A Connect-style capture: JWT, query, peer.
    fn capture(path: &str, query: Option<&str>, authorization: Option<&str>, status: u16) -> Capture {
        let mut raw = Capture::with_capacity(TEXT_CAPACITY);
        raw.start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        raw.method = Method::POST;
        raw.peer = Some(SocketAddr::from(([203, 0, 113, 7], 4711)));
        raw.set_path_query(path, query);
        raw.jwt_signed = authorization
            .and_then(|a| authorization_signed_part(a.as_bytes()))
            .and_then(|p| raw.push(p));
        raw.status = Some(status);
        raw.resp_bytes = 512;
        raw.duration = Duration::from_micros(910);
        raw.outcome = Outcome::Completed;
        raw
    }

    const JWT: &str = "JWT eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1NTcwNTg6ZjBlMWQyYzMiLCJpc3MiOiJqaXJhOjFmNGM2ZDBlIn0.c2ln";

    #[test]
    fn an_account_on_the_suppression_list_is_written_without_it_whatever_its_source() {
        let key = MasterKey::from_bytes([7; 32]);
        let mut s = Sanitizer::new(compiled(Policy::atlassian_connect()), &key);
        let marks = SuppressionKey::new(&key);
        s.suppress_with(marks.clone());
        // The token is read (and remembered) before the account is listed.
        let r = s.sanitize(&mut capture("/x", None, Some(JWT), 200));
        assert!(r.account.is_some() && !s.last_suppressed);
        s.set_suppressed([marks.mark("557058:f0e1d2c3")].into_iter().collect());
        let r = s.sanitize(&mut capture("/x", None, Some(JWT), 200));
        assert_eq!((r.account, r.account_src), (None, None));
        assert!(s.last_suppressed && r.tenant.is_some(), "only the account is left out");
        let mut raw = capture("/x", None, None, 200);
        raw.app.account = Some("557058:f0e1d2c3".to_owned());
        assert_eq!(s.sanitize(&mut raw).account, None);
        assert!(s.last_suppressed);
        raw.app.account = Some("557058:someone-else".to_owned());
        assert!(s.sanitize(&mut raw).account.is_some());
        assert!(!s.last_suppressed);
    }

    #[test]
    fn a_reused_record_equals_a_fresh_one() {
        let mut s = Sanitizer::new(compiled(Policy::atlassian_connect()), &MasterKey::from_bytes([7; 32]));
        // A record full of another request's values, some of which the
        // next request does not have at all.
        let mut reused = s.sanitize(&mut capture(
            "/pages/alice@example.com/edit",
            Some("lic=active&cv=1.0"),
            Some(JWT),
            201,
        ));
        reused.route = Some("/stale/{id}".to_owned());
        reused.client = Some("stale".to_owned());
        reused.ttfb_us = Some(1);
        for (path, query, auth) in [
            ("/rest/api/3/issue/PROJ-1", None, None),
            ("/x", Some("lic=none"), Some(JWT)),
            ("/", None, Some("JWT not.a.jwt")),
        ] {
            let fresh = s.sanitize(&mut capture(path, query, auth, 200));
            s.sanitize_into(&mut capture(path, query, auth, 200), &mut reused);
            assert_eq!(reused, fresh, "{path}");
        }
    }

    #[test]
    fn the_record_names_the_account_s_source_and_no_source_without_an_account() {
        let mut s = Sanitizer::new(compiled(Policy::atlassian_connect()), &MasterKey::from_bytes([7; 32]));
        let mut raw = capture("/x", None, Some(JWT), 200);
        raw.app.account = Some("557058:abc".to_owned());
        assert_eq!(s.sanitize(&mut raw).account_src, Some(AccountSource::App));
        let r = s.sanitize(&mut capture("/x", None, Some(JWT), 200));
        assert_eq!((r.account.is_some(), r.account_src), (true, Some(AccountSource::Jwt)));
        // Too long to be an ID: no account, so no source either.
        let mut raw = capture("/x", None, None, 200);
        raw.app.account = Some("x".repeat(MAX_ID_LEN + 1));
        let r = s.sanitize(&mut raw);
        assert_eq!((r.account, r.account_src), (None, None));
        assert_eq!(s.sanitize(&mut capture("/x", None, None, 200)).account_src, None);
    }

    #[test]
    fn a_path_without_a_template_goes_through_the_path_allowlist() {
        let mut s = Sanitizer::new(compiled(Policy::atlassian_connect()), &MasterKey::from_bytes([7; 32]));
        for (raw, want) in [
            ("/display/~jane.doe", "/display/{handle}"),
            ("/u/jane-doe", "/u/{text}"),
            ("/people/jane/doe", "/people/{text}/{text}"),
            ("/secure/ViewProfile/JIRAUSER10100", "/secure/ViewProfile/{user_key}"),
            ("/pay/4111-1111-1111-1111", "/pay/{card}"),
            ("/users/078-05-1120", "/users/{national_id}"),
            ("/api/acme.atlassian.net", "/api/{host}"),
            ("/assets/app.js", "/assets/app.js"),
            ("/docs/getting-started", "/docs/getting-started"),
        ] {
            let r = s.sanitize(&mut capture(raw, None, None, 404));
            assert_eq!(r.path, want, "{raw}");
            assert_eq!(r.route, None);
        }
    }

    #[test]
    fn route_templates_teach_the_path_allowlist_their_words() {
        let mut s = Sanitizer::new(compiled(Policy::new()), &MasterKey::from_bytes([7; 32]));
        let unrouted = |s: &mut Sanitizer| s.sanitize(&mut capture("/zorblax/quuxly", None, None, 404)).path;
        assert_eq!(unrouted(&mut s), "/{text}/{text}");
        let mut routed = capture("/zorblax/quuxly/7", None, None, 200);
        routed.app.route = Some(Cow::Borrowed("/zorblax/quuxly/{id}"));
        let r = s.sanitize(&mut routed);
        assert_eq!(
            (r.path.as_str(), r.route.as_deref()),
            ("/zorblax/quuxly/{id}", Some("/zorblax/quuxly/{id}"))
        );
        assert_eq!(unrouted(&mut s), "/zorblax/quuxly");
    }

    #[test]
    fn operator_rules_and_safe_words_apply_to_paths_without_a_template() {
        let policy = Policy::new()
            .rule(crate::policy::Rule::new("employee", r"^E[0-9]{6}$", "{employee}"))
            .safe_words(["zorblax"]);
        let mut s = Sanitizer::new(compiled(policy), &MasterKey::from_bytes([7; 32]));
        let r = s.sanitize(&mut capture("/zorblax/E123456/jane", None, None, 404));
        assert_eq!(r.path, "/zorblax/{employee}/{text}");
        let policy = Policy::new()
            .query(QueryPolicy::drop_all().allow(["who", "site"]))
            .rule(crate::policy::Rule::new("employee", r"^E[0-9]{6}$", "{employee}"));
        let mut s = Sanitizer::new(compiled(policy), &MasterKey::from_bytes([7; 32]));
        let r = s.sanitize(&mut capture(
            "/",
            Some("who=E123456&site=acme.atlassian.net"),
            None,
            200,
        ));
        assert_eq!(r.query.as_deref(), Some("who={employee}&site={host}"));
    }

    #[test]
    fn a_warm_worker_sanitizes_404_paths_under_the_allowlist_without_allocating() {
        let policy = Policy::atlassian_connect()
            .query(QueryPolicy::drop_all().allow(["lic", "who"]))
            .rule(crate::policy::Rule::new("employee", r"^E[0-9]{6}$", "{employee}"))
            .safe_words(["backstage"]);
        let mut s = Sanitizer::new(compiled(policy), &MasterKey::from_bytes([7; 32]));
        let mut out = Record::new(OffsetDateTime::UNIX_EPOCH, "", "");
        let captures = |n: usize| {
            (0..n)
                .flat_map(|i| {
                    let mut routed = capture("/zorblax/quuxly/7", Some("lic=active"), None, 200);
                    routed.app.route = Some(Cow::Borrowed("/zorblax/quuxly/{id}"));
                    let unrouted = capture(
                        if i % 2 == 0 {
                            "/zorblax/~jane.doe/E123456/4111-1111-1111-1111/backstage/app.min.js"
                        } else {
                            "/display/jane%20doe/acme.atlassian.net/JIRAUSER10100"
                        },
                        Some("who=E654321&lic=active&q=jane"),
                        None,
                        404,
                    );
                    [routed, unrouted]
                })
                .collect::<Vec<_>>()
        };
        for mut raw in captures(4) {
            s.sanitize_into(&mut raw, &mut out);
        }
        let mut measured = captures(16);
        let allocations = allocation_counter::measure(|| {
            for raw in &mut measured {
                s.sanitize_into(raw, &mut out);
            }
        })
        .count_total;
        assert_eq!(allocations, 0);
        assert_eq!(out.path, "/display/{text}/{host}/{user_key}");
        assert_eq!(out.query.as_deref(), Some("who={employee}&lic=active"));
    }

    #[test]
    fn the_scrub_path_policy_keeps_the_denylist() {
        let policy = Policy::new().path_policy(PathPolicy::Scrub);
        let mut s = Sanitizer::new(compiled(policy), &MasterKey::from_bytes([7; 32]));
        let r = s.sanitize(&mut capture("/people/jane/12345", None, None, 404));
        assert_eq!(r.path, "/people/jane/{id}");
    }

    #[test]
    fn an_account_id_in_a_path_is_found_under_every_path_policy() {
        let id = "557058:f0e1d2c3-b4a5-4678-9abc-def012345678";
        for path_policy in [PathPolicy::Allowlist, PathPolicy::TemplateOnly, PathPolicy::Scrub] {
            let mut s = Sanitizer::new(
                compiled(Policy::new().path_policy(path_policy)),
                &MasterKey::from_bytes([7; 32]),
            );
            let unrouted = s.sanitize(&mut capture(&format!("/users/{id}/x"), None, None, 404));
            assert_eq!(unrouted.account_src, Some(AccountSource::Path), "{path_policy:?}");
            let mut routed = capture(&format!("/users/{id}/x"), None, None, 200);
            routed.app.route = Some(Cow::Borrowed("/users/{account}/x"));
            let routed = s.sanitize(&mut routed);
            assert_eq!(routed.account, unrouted.account, "{path_policy:?}");
            assert!(!unrouted.path.contains("557058"), "{}", unrouted.path);
        }
    }

    #[cfg(feature = "axum")]
    #[test]
    fn the_worker_warns_once_when_many_records_had_no_route_template() {
        let mut s = Sanitizer::new(compiled(Policy::new()), &MasterKey::from_bytes([7; 32]));
        let mut out = Record::new(OffsetDateTime::UNIX_EPOCH, "", "");
        let text = super::warnings_of(|| {
            for _ in 0..UNTEMPLATED_WARN_AFTER * 2 {
                s.sanitize_into(&mut capture("/x", None, None, 200), &mut out);
            }
        });
        assert_eq!(text.matches("none had a route template").count(), 1, "{text}");
        assert!(text.contains("privlog") && text.contains(".route_layer()"), "{text}");
    }

    #[cfg(feature = "axum")]
    #[test]
    fn the_worker_does_not_warn_when_a_record_had_a_route_template() {
        let mut s = Sanitizer::new(compiled(Policy::new()), &MasterKey::from_bytes([7; 32]));
        let mut out = Record::new(OffsetDateTime::UNIX_EPOCH, "", "");
        let text = super::warnings_of(|| {
            let mut routed = capture("/x/1", None, None, 200);
            routed.app.route = Some(Cow::Borrowed("/x/{id}"));
            s.sanitize_into(&mut routed, &mut out);
            for _ in 0..UNTEMPLATED_WARN_AFTER * 2 {
                s.sanitize_into(&mut capture("/x", None, None, 404), &mut out);
            }
        });
        assert!(!text.contains("route template"), "{text}");
    }

    #[test]
    fn the_application_s_account_is_taken_out_of_the_capture() {
        let mut s = Sanitizer::new(compiled(Policy::atlassian_connect()), &MasterKey::from_bytes([7; 32]));
        let mut raw = capture("/x", None, None, 200);
        raw.app.account = Some("557058:abc".to_owned());
        let r = s.sanitize(&mut raw);
        assert!(r.account.is_some());
        assert_eq!(raw.app.account, None);
    }
}

#[cfg(test)]
mod path_policy_tests {
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::*;
    use crate::capture::TEXT_CAPACITY;

    fn names() -> Vec<&'static str> {
        include_str!("../policy/detect/testdata/names.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }

    fn capture(path: &str, template: Option<String>) -> Capture {
        let mut raw = Capture::with_capacity(TEXT_CAPACITY);
        raw.begin(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            Method::GET,
            http::Version::HTTP_11,
            None,
        );
        raw.set_path_query(path, None);
        raw.app.route = template.map(Cow::Owned);
        raw
    }

    /// One request: a routed one (the app's words and a parameter) or an
    /// unrouted one mixing the app's words with names.
    fn request() -> impl Strategy<Value = (bool, Vec<(bool, usize)>)> {
        (
            any::<bool>(),
            prop::collection::vec((any::<bool>(), 0usize..1000), 1..6),
        )
    }

    proptest! {
        /// Over any order of routed and unrouted requests, one worker keeps
        /// the words of the templates it has seen, and never a name.
        #[test]
        fn a_worker_keeps_learned_words_and_never_a_name(
            app_words in prop::collection::vec("[a-z]{5,9}", 1..6),
            requests in prop::collection::vec(request(), 1..24),
        ) {
            let names = names();
            let app_words: Vec<String> = app_words.into_iter().filter(|w| !names.contains(&w.as_str())).collect();
            prop_assume!(!app_words.is_empty());
            let mut s = Sanitizer::new(compiled(Policy::new()), &MasterKey::from_bytes([7; 32]));
            let mut out = Record::new(OffsetDateTime::UNIX_EPOCH, "", "");
            let mut learned: Vec<&str> = Vec::new();
            for (routed, segs) in requests {
                let words: Vec<&str> = segs
                    .iter()
                    .map(|&(app, i)| if app || routed { app_words[i % app_words.len()].as_str() } else { names[i % names.len()] })
                    .collect();
                let path = format!("/{}", words.join("/"));
                if routed {
                    let template = format!("{path}/{{id}}");
                    s.sanitize_into(&mut capture(&format!("{path}/7"), Some(template.clone())), &mut out);
                    prop_assert_eq!(&out.path, &template);
                    learned.extend(words);
                } else {
                    s.sanitize_into(&mut capture(&path, None), &mut out);
                    let kept: Vec<&str> = out.path.split('/').skip(1).collect();
                    prop_assert_eq!(kept.len(), words.len(), "{} -> {}", path, out.path);
                    for (word, kept) in words.iter().zip(kept) {
                        let safe = learned.contains(word) || crate::policy::detect::is_builtin_word(word);
                        let want = if safe { *word } else { "{text}" };
                        prop_assert_eq!(kept, want, "{} -> {}", path, out.path);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod ip_text_tests {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::*;
    use crate::IpPolicy;
    use crate::capture::TEXT_CAPACITY;

    fn capture_from(peer: IpAddr) -> Capture {
        let mut raw = Capture::with_capacity(TEXT_CAPACITY);
        raw.begin(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            Method::GET,
            http::Version::HTTP_11,
            Some(SocketAddr::new(peer, 4711)),
        );
        raw.set_path_query("/x", None);
        raw
    }

    proptest! {
        #[test]
        fn remembered_client_texts_equal_fresh_ones(
            peers in proptest::collection::vec((any::<bool>(), 0u32..8, any::<u128>()), 1..40),
            policy in prop_oneof![
                Just(IpPolicy::default()),
                Just(IpPolicy::Truncate { v4_prefix: 16, v6_prefix: 64 }),
                Just(IpPolicy::Pseudonymize),
                Just(IpPolicy::Keep),
                Just(IpPolicy::Drop),
            ],
        ) {
            let key = MasterKey::from_bytes([7; 32]);
            let policy = Policy::atlassian_connect().ip(policy);
            let mut worker = Sanitizer::new(compiled(policy.clone()), &key);
            let mut out = worker.sanitize(&mut capture_from(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            for (v6, few, bits) in peers {
                // Few distinct networks, so that most are seen again.
                let peer = if v6 {
                    IpAddr::V6(Ipv6Addr::from((u128::from(few) << 80) | (bits & 0xffff)))
                } else {
                    IpAddr::V4(Ipv4Addr::from((few << 8) | (bits as u32 & 0xff)))
                };
                worker.sanitize_into(&mut capture_from(peer), &mut out);
                let fresh = Sanitizer::new(compiled(policy.clone()), &key).sanitize(&mut capture_from(peer));
                prop_assert_eq!(&out.client, &fresh.client);
            }
        }
    }
}

#[cfg(test)]
mod epoch_tests {
    use std::net::SocketAddr;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::Rotation;
    use crate::capture::TEXT_CAPACITY;

    fn capture_at(secs: u64, account: &str) -> Capture {
        let mut raw = Capture::with_capacity(TEXT_CAPACITY);
        raw.begin(
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            Method::GET,
            http::Version::HTTP_11,
            None,
        );
        raw.set_path_query("/x", None);
        raw.app.account = Some(account.to_owned());
        raw
    }

    fn ratchet_at(day_secs: u64) -> RatchetKey {
        let first = Rotation::Daily
            .epoch_at(i64::try_from(day_secs / 86_400).expect("day") - 5)
            .expect("epoch");
        RatchetKey::from_first_state(Rotation::Daily, &first, [9; 32]).expect("key")
    }

    #[test]
    fn a_restart_on_an_advanced_ratchet_key_writes_the_same_current_epoch_pseudonyms() {
        let day = 1_795_046_400;
        let key = ratchet_at(day);
        // The running worker, built before the key file was advanced.
        let mut running = Sanitizer::with_ratchet(compiled(Policy::atlassian_connect()), key.clone());
        let before = running.sanitize(&mut capture_at(day + 10, "557058:abc"));
        // `keys advance --keep 2d` on the file, then a restart from its text.
        let mut advanced = key.clone();
        assert!(advanced.advance_to_index(i64::try_from(day / 86_400).expect("day") - 2));
        let reloaded = RatchetKey::parse(&advanced.to_text()).expect("reads back");
        let mut restarted = Sanitizer::with_ratchet(compiled(Policy::atlassian_connect()), reloaded);
        let after = restarted.sanitize(&mut capture_at(day + 20, "557058:abc"));
        let still_running = running.sanitize(&mut capture_at(day + 30, "557058:abc"));
        assert!(before.account.is_some());
        for r in [&after, &still_running] {
            assert_eq!(
                (&r.account, &r.epoch, &r.kid),
                (&before.account, &before.epoch, &before.kid)
            );
        }
        assert_eq!(before.epoch, "2026-11-19");
    }

    #[test]
    fn a_ratchet_worker_moves_forward_and_never_back() {
        let day = 1_795_046_400;
        let mut worker = Sanitizer::with_ratchet(compiled(Policy::atlassian_connect()), ratchet_at(day));
        let today = worker.sanitize(&mut capture_at(day + 10, "557058:abc"));
        // A record of yesterday, after today's: yesterday's state is gone.
        let late = worker.sanitize(&mut capture_at(day - 10, "557058:abc"));
        assert_eq!((&late.account, &late.epoch), (&today.account, &today.epoch));
        // The ratchet's rotation decides, whatever the policy's.
        assert_eq!(today.epoch.len(), "2026-11-19".len());
        let KeySchedule::Ratchet(k) = &worker.pseudo else {
            panic!("a ratchet key")
        };
        assert_eq!(k.oldest_epoch().as_str(), "2026-11-19");
    }

    // The only test of this binary that uses the process's key of the day,
    // with days in order: that key never goes back to an earlier day.
    #[test]
    fn client_pseudonyms_of_the_day_are_shared_by_pipelines_and_change_with_the_day() {
        let peer = SocketAddr::from(([203, 0, 113, 7], 4711));
        let at = |secs| {
            let mut raw = capture_at(secs, "557058:abc");
            raw.peer = Some(peer);
            raw
        };
        let policy = || compiled(Policy::atlassian_connect().ip(IpPolicy::PseudonymizeDaily));
        let key = MasterKey::from_bytes([7; 32]);
        let (day, next_day) = (1_795_046_400, 1_795_046_400 + 86_400);
        let (mut a, mut b) = (Sanitizer::new(policy(), &key), Sanitizer::new(policy(), &key));
        let first = a.sanitize(&mut at(day + 10)).client.expect("a pseudonym");
        assert_eq!(first.len(), 22);
        assert_ne!(first, "203.0.113.7");
        // Another pipeline of the process, the same day: the same value.
        assert_eq!(b.sanitize(&mut at(day + 3000)).client.as_deref(), Some(first.as_str()));
        // Not the master key's pseudonym: the key of the day is not derived from it.
        let keyed = Sanitizer::new(compiled(Policy::atlassian_connect().ip(IpPolicy::Pseudonymize)), &key)
            .sanitize(&mut at(day + 10))
            .client;
        assert_ne!(keyed.as_deref(), Some(first.as_str()));
        let next = a.sanitize(&mut at(next_day + 10)).client.expect("a pseudonym");
        assert_ne!(next, first, "next day, unlinkable");
        assert_eq!(b.sanitize(&mut at(next_day + 20)).client, Some(next));
        // Yesterday's key is gone: a late record of yesterday has no client.
        assert_eq!(b.sanitize(&mut at(day + 4000)).client, None);
    }

    #[test]
    fn a_long_running_worker_forgets_its_pseudonyms_when_the_epoch_changes() {
        // One sanitizer (as the worker keeps for its whole life) across midnight.
        let policy = || Policy::atlassian_connect().rotation(Rotation::Daily);
        let key = MasterKey::from_bytes([7; 32]);
        let (day, next_day) = (1_795_046_400, 1_795_046_400 + 86_400);
        let mut worker = Sanitizer::new(compiled(policy()), &key);
        let mut out = worker.sanitize(&mut capture_at(day + 10, "557058:abc"));
        let first = out.account.clone();
        worker.sanitize_into(&mut capture_at(next_day + 10, "557058:abc"), &mut out);
        assert_ne!(out.account, first, "next day, unlinkable");
        // The same as a worker that started on that day, and stable within it.
        let fresh = Sanitizer::new(compiled(policy()), &key).sanitize(&mut capture_at(next_day + 20, "557058:abc"));
        assert_eq!(out.account, fresh.account);
        assert_eq!(out.epoch, fresh.epoch);
    }

    #[test]
    fn a_long_running_worker_forgets_its_client_pseudonyms_when_the_epoch_changes() {
        let peer = SocketAddr::from(([203, 0, 113, 7], 4711));
        let at = |secs| {
            let mut raw = capture_at(secs, "557058:abc");
            raw.peer = Some(peer);
            raw
        };
        let policy = || {
            Policy::atlassian_connect()
                .rotation(Rotation::Daily)
                .ip(crate::IpPolicy::Pseudonymize)
        };
        let key = MasterKey::from_bytes([7; 32]);
        let (day, next_day) = (1_795_046_400, 1_795_046_400 + 86_400);
        let mut worker = Sanitizer::new(compiled(policy()), &key);
        let mut out = worker.sanitize(&mut at(day + 10));
        let first = out.client.clone();
        assert!(first.is_some());
        worker.sanitize_into(&mut at(next_day + 10), &mut out);
        assert_ne!(out.client, first, "next day, unlinkable");
        let fresh = Sanitizer::new(compiled(policy()), &key).sanitize(&mut at(next_day + 20));
        assert_eq!(out.client, fresh.client);
    }

    #[test]
    fn a_long_running_worker_forgets_its_token_pseudonyms_when_the_epoch_changes() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let token = format!(
            "JWT {}.{}.c2ln",
            b64(r#"{"alg":"HS256"}"#),
            b64(r#"{"sub":"557058:abc","iss":"jira:1"}"#)
        );
        let at = |secs| {
            let mut raw = capture_at(secs, "");
            raw.app.account = None;
            raw.jwt_signed = crate::policy::jwt::authorization_signed_part(token.as_bytes()).and_then(|p| raw.push(p));
            raw
        };
        let policy = || Policy::atlassian_connect().rotation(Rotation::Daily);
        let key = MasterKey::from_bytes([7; 32]);
        let (day, next_day) = (1_795_046_400, 1_795_046_400 + 86_400);
        let mut worker = Sanitizer::new(compiled(policy()), &key);
        let mut out = worker.sanitize(&mut at(day + 10));
        let first = (out.account.clone(), out.tenant.clone());
        assert!(first.0.is_some() && first.1.is_some());
        worker.sanitize_into(&mut at(next_day + 10), &mut out);
        assert_ne!(out.account, first.0, "next day, unlinkable");
        assert_ne!(out.tenant, first.1, "next day, unlinkable");
        let fresh = Sanitizer::new(compiled(policy()), &key).sanitize(&mut at(next_day + 20));
        assert_eq!((out.account, out.tenant), (fresh.account, fresh.tenant));
    }
}

#[cfg(test)]
mod vouched_tests {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::time::{Duration, SystemTime};

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use http::HeaderValue;
    use proptest::prelude::*;

    use super::*;
    use crate::capture::TEXT_CAPACITY;
    use crate::{IpPolicy, Rotation};

    /// Text with every kind of character the encoder escapes.
    const HOSTILE: &str = "[\\PC\u{0}-\u{ff}\u{2028}\u{2029}\"\\\\/]{0,40}";

    prop_compose! {
        fn capture()(
            method in prop_oneof![Just("GET".to_owned()), "[A-Z!#$%&'*+.^_`|~-]{1,20}"],
            version in 0usize..5,
            peer in proptest::option::of((any::<bool>(), any::<u128>())),
            path in HOSTILE,
            query in proptest::option::of(HOSTILE),
            claims in proptest::option::of((HOSTILE, HOSTILE)),
            app in (proptest::option::of(HOSTILE), proptest::option::of(HOSTILE), proptest::option::of(HOSTILE)),
            secs in 0u64..1 << 34,
        ) -> Capture {
            let version = [
                http::Version::HTTP_09,
                http::Version::HTTP_10,
                http::Version::HTTP_11,
                http::Version::HTTP_2,
                http::Version::HTTP_3,
            ][version];
            let peer = peer.map(|(v6, bits)| {
                let ip = if v6 { IpAddr::V6(Ipv6Addr::from(bits)) } else { IpAddr::V4(Ipv4Addr::from(bits as u32)) };
                SocketAddr::new(ip, 4711)
            });
            let mut raw = Capture::with_capacity(TEXT_CAPACITY);
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            raw.begin(SystemTime::UNIX_EPOCH + Duration::from_secs(secs), method, version, peer);
            raw.set_path_query(&path, query.as_deref());
            if let Some((sub, iss)) = claims {
                let claims = serde_json::json!({ "sub": sub, "iss": iss }).to_string();
                let token = format!("JWT {}.{}.c2ln", URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#), URL_SAFE_NO_PAD.encode(claims));
                raw.push_jwt(HeaderValue::from_str(&token).ok().as_ref());
            }
            raw.app.account = app.0;
            raw.app.tenant = app.1;
            raw.app.route = app.2.map(Cow::Owned);
            raw
        }
    }

    fn policy() -> impl Strategy<Value = Policy> {
        (
            prop_oneof![
                Just(IpPolicy::default()),
                Just(IpPolicy::Truncate {
                    v4_prefix: 0,
                    v6_prefix: 128
                }),
                Just(IpPolicy::Pseudonymize),
                Just(IpPolicy::Keep),
                Just(IpPolicy::Drop),
            ],
            prop_oneof![
                Just(Rotation::None),
                Just(Rotation::Daily),
                Just(Rotation::Weekly),
                Just(Rotation::Monthly)
            ],
            any::<bool>(),
        )
            .prop_map(|(ip, rotation, path_ids)| {
                Policy::atlassian_connect()
                    .ip(ip)
                    .rotation(rotation)
                    .path_account_ids(path_ids)
                    .query(QueryPolicy::drop_all().allow(["lic", "jwt"]))
            })
    }

    proptest! {
        /// What a sanitized record vouches for needs no escaping: its line is
        /// byte for byte the line of its clone, which vouches for nothing
        /// and is checked character by character.
        #[test]
        fn sanitized_records_encode_as_their_unvouched_clones(
            policy in policy(),
            captures in proptest::collection::vec(capture(), 1..8),
        ) {
            let mut worker = Sanitizer::new(compiled(policy), &MasterKey::from_bytes([7; 32]));
            let mut out = Record::new(OffsetDateTime::UNIX_EPOCH, "", "");
            for mut raw in captures {
                worker.sanitize_into(&mut raw, &mut out);
                prop_assert!(out.vouched.generated());
                let copy = out.clone();
                prop_assert!(!copy.vouched.generated());
                prop_assert_eq!(out.to_ndjson(), copy.to_ndjson());
            }
        }
    }

    #[test]
    fn a_changed_clone_of_a_sanitized_record_is_escaped() {
        let mut worker = Sanitizer::new(compiled(Policy::atlassian_connect()), &MasterKey::from_bytes([7; 32]));
        let mut raw = Capture::with_capacity(TEXT_CAPACITY);
        raw.begin(SystemTime::UNIX_EPOCH, Method::GET, http::Version::HTTP_11, None);
        raw.set_path_query("/a", None);
        let record = worker.sanitize(&mut raw);
        assert!(record.vouched.generated() && record.route.is_none());
        let mut copy = record.clone();
        copy.method = "a\"b".to_owned();
        copy.path = "/\n".to_owned();
        let line = copy.to_ndjson();
        assert!(
            line.contains(r#""method":"a\"b""#) && line.contains(r#""path":"/\u000a""#),
            "{line}"
        );
        let back: Record = serde_json::from_str(&line).expect("valid json");
        assert_eq!(back, copy);
    }
}
