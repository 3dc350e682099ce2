//! Turns the request path's raw capture into a sanitized [`Record`]. Runs on
//! the pipeline worker only.

use std::borrow::Cow;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::time::SystemTime;

use http::Method;
use time::OffsetDateTime;

use crate::capture::Capture;
use crate::policy::ip::{forwarded_hops, resolve_client, xff_hops};
use crate::policy::jwt::{payload_claims_with, payload_segment, signed_part_payload};
use crate::policy::scrub::{sanitize_text, scrub_path_into};
use crate::policy::{EpochKeys, MasterKey, Policy, Pseudonymizer, Purpose, QueryPolicy};
use crate::record::{AccountSource, MAX_FIELD_LEN, Record, SCHEMA_VERSION, Vouched};

/// The longest account or tenant ID that is pseudonymized; longer values are
/// not IDs and are ignored.
const MAX_ID_LEN: usize = 256;

/// Pseudonyms remembered per epoch: most traffic comes from a few accounts
/// and tenants, and a cache lookup is cheaper than a keyed hash.
const ACCOUNT_SLOTS: usize = 4096;
const TENANT_SLOTS: usize = 1024;

/// Client address texts remembered: a client sends many requests, and its
/// network is shared by more clients still.
const IP_SLOTS: usize = 256;

/// Tokens whose claims are remembered. An add-on's front end sends the same
/// Connect context token with every call it makes for up to 15 minutes, so
/// most tokens the worker sees it has read before.
const TOKEN_SLOTS: usize = 1024;

/// What the worker remembers of one token: whether it could be read and the
/// pseudonyms of its `sub` and `iss` claims in the current epoch (the claims
/// themselves are not kept). A token seen again costs one cache lookup.
#[derive(Default)]
struct Token {
    /// Whether the token is a readable JWT.
    readable: bool,
    account: TokenId,
    tenant: TokenId,
}

/// One ID claim of a remembered token.
#[derive(Default)]
struct TokenId {
    /// Whether the token has the claim: it is then the ID, even when too
    /// long to be one.
    present: bool,
    /// The claim's pseudonym; `None` when the claim is longer than an ID.
    pseudonym: Option<String>,
}

impl TokenId {
    /// Remembers `claim` as the pseudonym `ids` gives it.
    fn set(&mut self, claim: Option<&str>, ids: &mut Ids<'_>, purpose: Purpose) {
        self.present = claim.is_some();
        set_opt(&mut self.pseudonym, claim.and_then(|c| ids.pseudonym(purpose, c)));
    }
}

/// The keys and pseudonym caches of the current epoch.
struct Ids<'a> {
    keys: &'a EpochKeys,
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

/// One remembered key (as the slot keeps it) and its value.
#[derive(Default)]
struct Slot<S, V> {
    hash: u64,
    filled: bool,
    key: S,
    value: V,
}

/// A key a [`SlotCache`] looks values up by: how it hashes, and the copy of
/// it a slot keeps to compare with.
trait SlotKey {
    /// The copy a slot keeps.
    type Stored: Default;
    /// The key's hash under the cache's seed.
    fn hash(&self, seed: u64) -> u64;
    /// Whether `stored` is a copy of this key.
    fn is(&self, stored: &Self::Stored) -> bool;
    /// Makes `stored` a copy of this key, in its buffer.
    fn store(&self, stored: &mut Self::Stored);
}

/// Tokens and account or tenant inputs, compared byte for byte.
impl SlotKey for [u8] {
    type Stored = Vec<u8>;

    fn hash(&self, seed: u64) -> u64 {
        slot_hash(seed, self)
    }

    fn is(&self, stored: &Vec<u8>) -> bool {
        stored.as_slice() == self
    }

    fn store(&self, stored: &mut Vec<u8>) {
        stored.clear();
        stored.extend_from_slice(self);
    }
}

/// Client addresses or networks: one multiplication mixes the address.
impl SlotKey for IpAddr {
    type Stored = Option<IpAddr>;

    fn hash(&self, seed: u64) -> u64 {
        let bits = match self {
            IpAddr::V4(a) => u128::from(a.to_bits()),
            IpAddr::V6(a) => a.to_bits(),
        };
        let h = (bits as u64 ^ (bits >> 64) as u64 ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // The low bits pick the slot: fold in the high ones, which every bit of the address reaches.
        h ^ (h >> 32)
    }

    fn is(&self, stored: &Option<IpAddr>) -> bool {
        *stored == Some(*self)
    }

    fn store(&self, stored: &mut Option<IpAddr>) {
        *stored = Some(*self);
    }
}

/// A small cache by byte key: each key in the slot its seeded hash picks or
/// that slot's neighbour (two busy keys that pick the same slot do not keep
/// evicting each other; with one slot per key, a few dozen keys would
/// collide somewhere most of the time). A value is used only when the
/// slot's key equals the key byte for byte, so hash collisions (even crafted
/// ones) cost a recomputation, never a wrong value. Values are refilled in
/// place, so a warm cache allocates nothing.
struct SlotCache<K: SlotKey + ?Sized, V> {
    seed: u64,
    size: usize,
    slots: Vec<Slot<K::Stored, V>>,
}

impl<K: SlotKey + ?Sized, V: Default> SlotCache<K, V> {
    /// A cache of `size` slots, allocated on first use.
    fn new(size: usize) -> Self {
        SlotCache {
            seed: RandomState::new().hash_one(0x0070_7269_766c_6f67_u64),
            size: size.max(1),
            slots: Vec::new(),
        }
    }

    /// The value remembered for `key`, or the one `fill` writes into the
    /// slot's old value (whose buffers it may reuse).
    fn get_or_fill(&mut self, key: &K, fill: impl FnOnce(&mut V)) -> Option<&V> {
        if self.slots.is_empty() {
            self.slots.resize_with(self.size, Slot::default);
        }
        let hash = key.hash(self.seed);
        let i = usize::try_from(hash % self.slots.len() as u64).unwrap_or_default();
        let j = if i ^ 1 < self.slots.len() { i ^ 1 } else { i };
        let holds = |s: &Slot<K::Stored, V>| s.filled && s.hash == hash && key.is(&s.key);
        let at = if self.slots.get(i).is_some_and(holds) {
            i
        } else if self.slots.get(j).is_some_and(holds) {
            j
        } else {
            // A free slot of the two, else the one another hash bit picks.
            let at = match (
                self.slots.get(i).is_some_and(|s| s.filled),
                self.slots.get(j).is_some_and(|s| s.filled),
            ) {
                (false, _) => i,
                (true, false) => j,
                (true, true) if hash >> 63 == 0 => i,
                (true, true) => j,
            };
            let slot = self.slots.get_mut(at)?;
            slot.hash = hash;
            slot.filled = true;
            key.store(&mut slot.key);
            fill(&mut slot.value);
            at
        };
        self.slots.get(at).map(|s| &s.value)
    }

    /// Forgets every key.
    fn clear(&mut self) {
        for s in &mut self.slots {
            s.filled = false;
        }
    }
}

/// The remembered reading of a token, by `key`: the token's signed part
/// (`header.payload`) or its payload segment, from which `payload` takes the
/// payload on a first reading. `None` when the token is not readable.
fn token<'c>(
    tokens: &'c mut SlotCache<[u8], Token>,
    key: &[u8],
    payload: impl FnOnce(&[u8]) -> Option<&[u8]>,
    ids: &mut Ids<'_>,
) -> Option<&'c Token> {
    let t = tokens.get_or_fill(key, |t| {
        let (account, tenant) = (&mut t.account, &mut t.tenant);
        t.readable = payload(key)
            .and_then(|p| {
                payload_claims_with(p, |sub, iss| {
                    account.set(sub, ids, Purpose::Account);
                    tenant.set(iss, ids, Purpose::Tenant);
                })
            })
            .is_some();
    })?;
    t.readable.then_some(t)
}

/// A fast seeded 64-bit hash of `bytes` (multiply-rotate over 8-byte words,
/// four independent lanes so long keys such as tokens hash in parallel).
/// It only picks a cache slot: equality is always checked on the bytes.
fn slot_hash(seed: u64, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let word = |w: &[u8]| {
        let mut b = [0u8; 8];
        if let Some(dst) = b.get_mut(..w.len()) {
            dst.copy_from_slice(w);
        }
        u64::from_le_bytes(b)
    };
    let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(29);
    let mut lanes = [
        seed ^ (bytes.len() as u64).wrapping_mul(K),
        seed.rotate_left(16),
        seed.rotate_left(32),
        seed.rotate_left(48),
    ];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, w) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane = mix(*lane, word(w));
        }
    }
    let mut h = lanes[0];
    for lane in &lanes[1..] {
        h = mix(h, *lane);
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        h = mix(h, word(w));
    }
    let tail = words.remainder();
    let last = match bytes.last_chunk::<8>() {
        // The last 8 bytes (some already mixed in): no copy of a short piece.
        Some(w) if !tail.is_empty() => u64::from_le_bytes(*w),
        _ => word(tail),
    };
    h = (h ^ last).wrapping_mul(K);
    h ^ (h >> 29)
}

pub(crate) struct Sanitizer {
    policy: Policy,
    tokens: SlotCache<[u8], Token>,
    /// A buffer for a scrubbed path that is read for its account ID only.
    scratch: String,
    pseudo: Pseudonymizer,
    kid: String,
    current: Option<(i64, String, EpochKeys)>,
    spares: Spares,
    second: LastSecond,
    /// Client address texts of the current epoch, by the address or network they stand for.
    ips: SlotCache<IpAddr, String>,
    /// Account and tenant pseudonyms of the current epoch, by input.
    cache: [SlotCache<[u8], String>; 2],
    /// Test builds: a path whose capture makes sanitizing panic, as a fault would.
    #[cfg(test)]
    pub(crate) panic_on_path: Option<&'static str>,
}

/// `dst = src`, in `dst`'s buffer.
fn set(dst: &mut String, src: &str) {
    dst.clear();
    dst.push_str(src);
}

/// `dst = src` for a short field that mostly holds `src` already (a record
/// refilled with the same epoch, key ID, method or protocol): comparing
/// costs less than copying.
#[inline(always)]
fn set_unless_same(dst: &mut String, src: &str) {
    if !same_short(dst.as_bytes(), src.as_bytes()) {
        set(dst, src);
    }
}

/// `a == b`, comparing texts of up to 16 bytes as two overlapping
/// fixed-size pieces (inline, where `==` calls the C library's `bcmp`).
#[inline(always)]
fn same_short(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    match a.len() {
        0 => true,
        1 => a.first() == b.first(),
        2..4 => a.first_chunk::<2>() == b.first_chunk::<2>() && a.last_chunk::<2>() == b.last_chunk::<2>(),
        4..8 => a.first_chunk::<4>() == b.first_chunk::<4>() && a.last_chunk::<4>() == b.last_chunk::<4>(),
        8..=16 => a.first_chunk::<8>() == b.first_chunk::<8>() && a.last_chunk::<8>() == b.last_chunk::<8>(),
        _ => a == b,
    }
}

/// `dst = src`, in `dst`'s buffer when it has one.
fn set_opt(dst: &mut Option<String>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(d), Some(s)) => set(d, s),
        (None, Some(s)) => *dst = Some(s.to_owned()),
        (_, None) => *dst = None,
    }
}

/// String buffers of optional record fields that were `None` in the last
/// record filled: a field that comes and goes from one record to the next
/// takes a buffer from here instead of allocating one.
#[derive(Default)]
struct Spares(Vec<String>);

impl Spares {
    /// The most buffers kept.
    const MAX: usize = 16;

    /// `dst = None`, keeping its buffer.
    fn clear(&mut self, dst: &mut Option<String>) {
        if let Some(buf) = dst.take()
            && self.0.len() < Self::MAX
        {
            self.0.push(buf);
        }
    }

    /// `dst = src`, in `dst`'s buffer or a spare one.
    #[inline(always)]
    fn set_opt(&mut self, dst: &mut Option<String>, src: Option<&str>) {
        match (dst.as_mut(), src) {
            (Some(d), Some(s)) => set(d, s),
            (None, Some(s)) => {
                let mut buf = self.0.pop().unwrap_or_default();
                set(&mut buf, s);
                *dst = Some(buf);
            }
            (_, None) => self.clear(dst),
        }
    }

    /// Sets `dst` to what `write` writes into an empty buffer (`dst`'s own or
    /// a spare one), or to `None` when `write` says there is nothing.
    fn fill_opt(&mut self, dst: &mut Option<String>, write: impl FnOnce(&mut String) -> bool) {
        let mut buf = dst.take().or_else(|| self.0.pop()).unwrap_or_default();
        buf.clear();
        if write(&mut buf) {
            *dst = Some(buf);
        } else if self.0.len() < Self::MAX {
            self.0.push(buf);
        }
    }
}

impl Sanitizer {
    pub(crate) fn new(policy: Policy, key: &MasterKey) -> Self {
        Sanitizer {
            policy,
            tokens: SlotCache::new(TOKEN_SLOTS),
            scratch: String::new(),
            pseudo: Pseudonymizer::new(key),
            kid: key.id().as_str().to_owned(),
            current: None,
            spares: Spares::default(),
            second: LastSecond::default(),
            ips: SlotCache::new(IP_SLOTS),
            cache: [SlotCache::new(ACCOUNT_SLOTS), SlotCache::new(TENANT_SLOTS)],
            #[cfg(test)]
            panic_on_path: None,
        }
    }

    /// Forgets everything remembered from earlier records (pseudonyms, token
    /// claims, client texts, the epoch and second): after a record failed
    /// half-way, nothing it may have left half-written is used again.
    pub(crate) fn forget(&mut self) {
        self.tokens.clear();
        self.ips.clear();
        for cache in &mut self.cache {
            cache.clear();
        }
        self.current = None;
        self.second = LastSecond::default();
        self.scratch.clear();
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
        let app_account = raw.app.account.take();
        let app_tenant = raw.app.tenant.take();
        let app_route = raw.app.route.take();
        let raw = &*raw;
        // The schema promises millisecond precision: a record read back from
        // a file equals the one the sinks were given.
        let (ts, bucket) = self.second.start_of(raw.start, self.policy.rotation);
        let (connect_jwt, path_ids) = (self.policy.sources.connect_jwt, self.policy.sources.path_account_ids);
        let (uri_path, query) = raw.path_and_query();

        // Route and path.
        let matched = raw.matched.map(|m| raw.str(m));
        let route = app_route
            .as_deref()
            .or(matched)
            .map(|r| sanitize_text(r, MAX_FIELD_LEN));
        self.spares.set_opt(&mut out.route, route.as_deref());
        // With a route template the path is the template; the raw path is
        // scrubbed only when it is the path, or may hold the account.
        let scrubbed_account = match &route {
            Some(r) => {
                set(&mut out.path, r);
                if path_ids {
                    self.scratch.clear();
                    scrub_path_into(uri_path, &mut self.scratch)
                } else {
                    None
                }
            }
            None => {
                out.path.clear();
                scrub_path_into(uri_path, &mut out.path)
            }
        };

        // The epoch's keys; a new epoch forgets the pseudonyms of the old one.
        let (new_epoch, epoch, keys) = epoch_keys(&mut self.current, self.policy.rotation, &self.pseudo, ts, bucket);
        let [accounts, tenants] = &mut self.cache;
        if new_epoch {
            accounts.clear();
            tenants.clear();
            self.tokens.clear();
            self.ips.clear();
        }
        let mut ids = Ids {
            keys,
            accounts,
            tenants,
        };
        let spares = &mut self.spares;

        // Account and tenant: what the application provided, else the Connect
        // token's claims, else the configured headers, query keys and path.
        let token = match (connect_jwt, raw.jwt_signed) {
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
        let token_account = token.map(|t| &t.account).filter(|c| c.present);
        let token_tenant = token.map(|t| &t.tenant).filter(|c| c.present);
        let n_account_headers = self.policy.sources.account_headers.len();
        let n_captured = raw.account_headers.spans.len();
        let header = |range: std::ops::Range<usize>| -> Option<Cow<'_, str>> {
            raw.account_headers.spans[range].iter().flatten().find_map(|v| {
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
        let source = match (app_account, token_account) {
            (Some(a), _) => {
                spares.set_opt(&mut out.account, ids.pseudonym(Purpose::Account, &a));
                Some(AccountSource::App)
            }
            (None, Some(t)) => {
                spares.set_opt(&mut out.account, t.pseudonym.as_deref());
                Some(AccountSource::Jwt)
            }
            (None, None) => {
                let found = header(0..n_account_headers.min(n_captured))
                    .map(|a| (a, AccountSource::Header))
                    .or_else(|| from_query(&self.policy.sources.account_query).map(|a| (a, AccountSource::Query)))
                    .or(if path_ids {
                        scrubbed_account.map(|a| (a, AccountSource::Path))
                    } else {
                        None
                    });
                let p = found.as_ref().and_then(|(a, _)| ids.pseudonym(Purpose::Account, a));
                spares.set_opt(&mut out.account, p);
                found.map(|(_, source)| source)
            }
        };
        // No account (none found, or too long to be an ID): no source.
        out.account_src = source.filter(|_| out.account.is_some());
        match (app_tenant, token_tenant) {
            (Some(t), _) => spares.set_opt(&mut out.tenant, ids.pseudonym(Purpose::Tenant, &t)),
            (None, Some(t)) => spares.set_opt(&mut out.tenant, t.pseudonym.as_deref()),
            (None, None) => {
                let tenant = header(n_account_headers.min(n_captured)..n_captured)
                    .or_else(|| from_query(&self.policy.sources.tenant_query));
                let p = tenant.and_then(|t| ids.pseudonym(Purpose::Tenant, &t));
                spares.set_opt(&mut out.tenant, p);
            }
        }

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
        match client_ip.and_then(|ip| Some((ip, ip_policy.text_key(ip)?))) {
            Some((ip, key)) => {
                let text = self.ips.get_or_fill(&key, |buf| {
                    buf.clear();
                    ip_policy.apply_into(ip, keys, buf);
                });
                spares.set_opt(&mut out.client, text.map(String::as_str));
            }
            None => spares.clear(&mut out.client),
        }

        let query_policy = &self.policy.query;
        match query {
            Some(q) => spares.fill_opt(&mut out.query, |buf| query_policy.filter_into(q, buf)),
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

/// The second the last record started in, with its time and epoch bucket:
/// the records of one second skip the calendar arithmetic.
#[derive(Default)]
struct LastSecond(Option<(u64, OffsetDateTime, i64)>);

impl LastSecond {
    /// A record's start time at the millisecond precision the schema
    /// promises (a record read back from a file equals the one the sinks were
    /// given), and its epoch bucket under `rotation`.
    fn start_of(&mut self, start: SystemTime, rotation: super::Rotation) -> (OffsetDateTime, i64) {
        let since = start.duration_since(SystemTime::UNIX_EPOCH).ok();
        let at_millis = |at: OffsetDateTime, ms: u16| at.replace_millisecond(ms).unwrap_or(at);
        match (since, self.0) {
            (Some(d), Some((secs, at, bucket))) if d.as_secs() == secs => (
                at_millis(at, u16::try_from(d.subsec_millis()).unwrap_or_default()),
                bucket,
            ),
            (Some(d), _) => {
                let at = i64::try_from(d.as_secs())
                    .ok()
                    .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
                let Some(at) = at else {
                    return Self::uncached(start, rotation);
                };
                let bucket = rotation.bucket(at);
                self.0 = Some((d.as_secs(), at, bucket));
                (
                    at_millis(at, u16::try_from(d.subsec_millis()).unwrap_or_default()),
                    bucket,
                )
            }
            (None, _) => Self::uncached(start, rotation),
        }
    }

    /// [`LastSecond::start_of`] without remembering the second.
    fn uncached(start: SystemTime, rotation: super::Rotation) -> (OffsetDateTime, i64) {
        let ts = record_time(start);
        (ts, rotation.bucket(ts))
    }
}

/// The earliest time a record can hold: RFC 3339 writes four-digit years.
const TS_MIN: OffsetDateTime = time::macros::datetime!(0000-01-01 00:00:00 UTC);
/// The latest time a record can hold, at the schema's millisecond precision.
const TS_MAX: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59.999 UTC);

/// `start` as a record's time: cut to the millisecond, and within the years
/// 0000 to 9999. A time outside them (a clock set wildly wrong) becomes the
/// nearest time within, so the record is still written, and parses back.
fn record_time(start: SystemTime) -> OffsetDateTime {
    let nanos = match start.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => i128::try_from(before.duration().as_nanos()).map_or(i128::MIN, |n| -n),
    };
    let millis = nanos.div_euclid(1_000_000).saturating_mul(1_000_000);
    match OffsetDateTime::from_unix_timestamp_nanos(millis) {
        Ok(ts) => ts.clamp(TS_MIN, TS_MAX),
        Err(_) if millis < 0 => TS_MIN,
        Err(_) => TS_MAX,
    }
}

/// The label and keys of `ts`'s epoch, derived once per epoch, and whether
/// the epoch is another than the previous record's.
fn epoch_keys<'a>(
    current: &'a mut Option<(i64, String, EpochKeys)>,
    rotation: super::Rotation,
    pseudo: &Pseudonymizer,
    ts: OffsetDateTime,
    bucket: i64,
) -> (bool, &'a str, &'a EpochKeys) {
    if current.as_ref().is_some_and(|(b, _, _)| *b != bucket) {
        *current = None;
    }
    let new = current.is_none();
    let (_, label, keys) = current.get_or_insert_with(|| {
        let epoch = rotation.epoch_of(ts);
        let keys = pseudo.epoch_keys(&epoch);
        (bucket, epoch.as_str().to_owned(), keys)
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
    fn a_reused_record_equals_a_fresh_one() {
        let mut s = Sanitizer::new(Policy::atlassian_connect(), &MasterKey::from_bytes([7; 32]));
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
    fn a_field_that_comes_and_goes_keeps_its_buffer() {
        let mut spares = Spares::default();
        let mut field = Some(String::with_capacity(64));
        let buffer = field.as_ref().map(|f| f.as_ptr());
        spares.fill_opt(&mut field, |_| false);
        assert_eq!(field, None);
        spares.set_opt(&mut field, Some("lic=active"));
        assert_eq!(field.as_deref(), Some("lic=active"));
        assert_eq!(field.as_ref().map(|f| f.as_ptr()), buffer, "the same buffer again");
        for _ in 0..Spares::MAX * 2 {
            spares.clear(&mut Some(String::new()));
        }
        assert_eq!(spares.0.len(), Spares::MAX, "bounded");
    }

    #[test]
    fn the_record_names_the_account_s_source_and_no_source_without_an_account() {
        let mut s = Sanitizer::new(Policy::atlassian_connect(), &MasterKey::from_bytes([7; 32]));
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
    fn the_application_s_account_is_taken_out_of_the_capture() {
        let mut s = Sanitizer::new(Policy::atlassian_connect(), &MasterKey::from_bytes([7; 32]));
        let mut raw = capture("/x", None, None, 200);
        raw.app.account = Some("557058:abc".to_owned());
        let r = s.sanitize(&mut raw);
        assert!(r.account.is_some());
        assert_eq!(raw.app.account, None);
    }
}

#[cfg(test)]
mod token_cache_tests {
    use super::*;

    fn token(sub: &str) -> String {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.c2lnbmF0dXJlLXNhbWUtZm9yLWV2ZXJ5LXRva2VuLWluLXRoaXMtdGVzdA",
            b64(r#"{"alg":"HS256"}"#),
            b64(&format!(r#"{{"sub":"{sub}","iss":"jira:1"}}"#))
        )
    }

    fn payload(token: &str) -> &[u8] {
        payload_segment(token.as_bytes()).unwrap_or_default()
    }

    /// A worker's token cache with the keys and pseudonym caches of one epoch.
    struct Cache {
        tokens: SlotCache<[u8], Token>,
        keys: EpochKeys,
        accounts: SlotCache<[u8], String>,
        tenants: SlotCache<[u8], String>,
    }

    impl Cache {
        fn new() -> Self {
            let pseudo = Pseudonymizer::new(&MasterKey::from_bytes([7; 32]));
            Cache {
                tokens: SlotCache::new(TOKEN_SLOTS),
                keys: pseudo.epoch_keys(&crate::Rotation::None.epoch_of(OffsetDateTime::UNIX_EPOCH)),
                accounts: SlotCache::new(ACCOUNT_SLOTS),
                tenants: SlotCache::new(TENANT_SLOTS),
            }
        }

        /// The (account, tenant) pseudonyms the cache gives the token with
        /// this payload; `None` when it is not readable.
        fn read(&mut self, payload: &[u8]) -> Option<(Option<String>, Option<String>)> {
            let mut ids = Ids {
                keys: &self.keys,
                accounts: &mut self.accounts,
                tenants: &mut self.tenants,
            };
            super::token(&mut self.tokens, payload, |p: &[u8]| Some(p), &mut ids)
                .map(|t| (t.account.pseudonym.clone(), t.tenant.pseudonym.clone()))
        }

        /// The account pseudonym the cache gives `token`.
        fn sub(&mut self, token: &str) -> Option<String> {
            self.read(payload(token)).and_then(|(a, _)| a)
        }

        /// The pseudonym `sub` must have.
        fn expected(&self, purpose: Purpose, id: &str) -> Option<String> {
            Some(self.keys.pseudonym(purpose, id).as_str().to_owned())
        }
    }

    #[test]
    fn a_remembered_token_reads_as_the_first_time() {
        let mut c = Cache::new();
        let t = token("557058:a");
        let first = c.read(payload(&t));
        assert_eq!(
            first,
            Some((
                c.expected(Purpose::Account, "557058:a"),
                c.expected(Purpose::Tenant, "jira:1")
            ))
        );
        assert_eq!(c.read(payload(&t)), first);
    }

    #[test]
    fn tokens_of_the_same_length_are_not_confused() {
        let mut c = Cache::new();
        let (a, b) = (token("557058:a"), token("557058:b"));
        let (pa, pb) = (
            c.expected(Purpose::Account, "557058:a"),
            c.expected(Purpose::Account, "557058:b"),
        );
        assert_eq!(c.sub(&a), pa);
        assert_eq!(c.sub(&b), pb);
        assert_eq!(c.sub(&a), pa);
    }

    #[test]
    fn an_unreadable_token_is_remembered_as_unreadable() {
        let mut c = Cache::new();
        assert!(c.read(b"not").is_none());
        assert!(c.read(b"not").is_none());
    }

    #[test]
    fn a_claim_too_long_for_an_id_has_no_pseudonym() {
        let mut c = Cache::new();
        let long = format!("557058:{}", "a".repeat(MAX_ID_LEN));
        let t = token(&long);
        let read = c.read(payload(&t));
        assert_eq!(read, Some((None, c.expected(Purpose::Tenant, "jira:1"))));
        let t = c.tokens.get_or_fill(payload(&t), |_| {}).map(|t| t.account.present);
        assert_eq!(t, Some(true), "the claim is there, so no other source is used");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let mut c = Cache::new();
        for i in 0..TOKEN_SLOTS * 3 {
            let id = format!("557058:{i}");
            assert_eq!(c.sub(&token(&id)), c.expected(Purpose::Account, &id));
        }
        assert_eq!(c.tokens.slots.len(), TOKEN_SLOTS);
    }

    #[test]
    fn keys_that_differ_in_one_byte_hash_apart() {
        // Tokens of one add-on differ in a few bytes anywhere: in the middle
        // (claims) or in the last word (which the hash reads overlapping).
        for len in [7, 8, 9, 31, 32, 33, 330, 333] {
            let key: Vec<u8> = (0..len).map(|i| b'A' + (i % 26) as u8).collect();
            for seed in [0, 1, 0x0123_4567_89ab_cdef] {
                let h = slot_hash(seed, &key);
                for at in 0..len {
                    let mut other = key.clone();
                    other[at] ^= 0x20;
                    assert_ne!(slot_hash(seed, &other), h, "len {len}, byte {at}");
                }
            }
        }
    }

    #[test]
    fn two_keys_that_pick_the_same_slot_both_stay() {
        let mut c: SlotCache<[u8], u32> = SlotCache::new(64);
        let slot = |c: &SlotCache<[u8], u32>, k: &str| slot_hash(c.seed, k.as_bytes()) % 64;
        let a = "key-0".to_owned();
        let Some(b) = (1..10_000)
            .map(|n| format!("key-{n}"))
            .find(|k| slot(&c, k) == slot(&c, &a))
        else {
            panic!("no two keys share a slot");
        };
        let mut fills = 0;
        for _ in 0..10 {
            for k in [&a, &b] {
                c.get_or_fill(k.as_bytes(), |v| {
                    fills += 1;
                    *v = fills;
                });
            }
        }
        assert_eq!(fills, 2, "each read once");
    }

    #[test]
    fn colliding_tokens_are_read_each_time_and_never_mixed_up() {
        // A cache whose every token lands in one slot (as crafted collisions would).
        let mut c = Cache::new();
        c.tokens.slots.resize_with(1, Slot::default);
        let (a, b) = (token("557058:a"), token("557058:b"));
        let (pa, pb) = (
            c.expected(Purpose::Account, "557058:a"),
            c.expected(Purpose::Account, "557058:b"),
        );
        for _ in 0..3 {
            assert_eq!(c.sub(&a), pa);
            assert_eq!(c.sub(&b), pb);
        }
    }
}

#[cfg(test)]
mod same_short_tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn same_short_is_equality(
            a in "[a-c]{0,20}",
            other in "[a-c]{0,20}",
            at in any::<proptest::sample::Index>(),
            change in 0u8..3,
        ) {
            // Mostly `a` itself or `a` with one byte changed.
            let b = match change {
                0 => other,
                1 => a.clone(),
                _ if a.is_empty() => a.clone(),
                _ => {
                    let i = at.index(a.len());
                    format!("{}{}{}", &a[..i], if &a[i..=i] == "a" { "b" } else { "a" }, &a[i + 1..])
                }
            };
            prop_assert_eq!(same_short(a.as_bytes(), b.as_bytes()), a == b);
            let mut dst = a.clone();
            set_unless_same(&mut dst, &b);
            prop_assert_eq!(dst, b);
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
            let mut worker = Sanitizer::new(policy.clone(), &key);
            let mut out = worker.sanitize(&mut capture_from(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            for (v6, few, bits) in peers {
                // Few distinct networks, so that most are seen again.
                let peer = if v6 {
                    IpAddr::V6(Ipv6Addr::from((u128::from(few) << 80) | (bits & 0xffff)))
                } else {
                    IpAddr::V4(Ipv4Addr::from((few << 8) | (bits as u32 & 0xff)))
                };
                worker.sanitize_into(&mut capture_from(peer), &mut out);
                let fresh = Sanitizer::new(policy.clone(), &key).sanitize(&mut capture_from(peer));
                prop_assert_eq!(&out.client, &fresh.client);
            }
        }
    }

    #[test]
    fn addresses_that_pick_one_slot_are_never_mixed_up() {
        let mut texts: SlotCache<IpAddr, String> = SlotCache::new(1);
        let (a, b) = (
            IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0)),
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 0)),
        );
        for _ in 0..3 {
            for ip in [a, b] {
                let text = texts.get_or_fill(&ip, |buf| {
                    buf.clear();
                    buf.push_str(&ip.to_string());
                });
                assert_eq!(text, Some(&ip.to_string()));
            }
        }
    }

    #[test]
    fn a_cleared_address_cache_fills_afresh() {
        let mut texts: SlotCache<IpAddr, String> = SlotCache::new(IP_SLOTS);
        let ip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 0));
        texts.get_or_fill(&ip, |buf| buf.push_str("old"));
        texts.clear();
        let text = texts.get_or_fill(&ip, |buf| {
            buf.clear();
            buf.push_str("new");
        });
        assert_eq!(text.map(String::as_str), Some("new"));
    }
}

#[cfg(test)]
mod second_tests {
    use std::time::{Duration, SystemTime};

    use proptest::prelude::*;

    use super::*;
    use crate::Rotation;

    proptest! {
        #[test]
        fn start_times_equal_the_calendar_reading(
            starts in proptest::collection::vec((0u64..1 << 34, 0u32..1_000_000_000, 0u64..3), 1..20),
            rotation in prop_oneof![Just(Rotation::None), Just(Rotation::Daily), Just(Rotation::Weekly), Just(Rotation::Monthly)],
        ) {
            let mut last = LastSecond::default();
            let mut secs_before = 0;
            for (secs, nanos, same) in starts {
                // Often within the second of the record before.
                let secs = if same > 0 { secs_before } else { secs };
                secs_before = secs;
                let start = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos);
                prop_assert_eq!(last.start_of(start, rotation), LastSecond::uncached(start, rotation));
            }
        }
    }

    #[test]
    fn a_start_before_1970_is_read_too() {
        let start = SystemTime::UNIX_EPOCH - Duration::from_millis(1500);
        let (ts, _) = LastSecond::default().start_of(start, Rotation::Daily);
        assert_eq!(ts.unix_timestamp_nanos(), -1_500_000_000);
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

    #[test]
    fn a_long_running_worker_forgets_its_pseudonyms_when_the_epoch_changes() {
        // One sanitizer (as the worker keeps for its whole life) across midnight.
        let policy = || Policy::atlassian_connect().rotation(Rotation::Daily);
        let key = MasterKey::from_bytes([7; 32]);
        let (day, next_day) = (1_795_046_400, 1_795_046_400 + 86_400);
        let mut worker = Sanitizer::new(policy(), &key);
        let mut out = worker.sanitize(&mut capture_at(day + 10, "557058:abc"));
        let first = out.account.clone();
        worker.sanitize_into(&mut capture_at(next_day + 10, "557058:abc"), &mut out);
        assert_ne!(out.account, first, "next day, unlinkable");
        // The same as a worker that started on that day, and stable within it.
        let fresh = Sanitizer::new(policy(), &key).sanitize(&mut capture_at(next_day + 20, "557058:abc"));
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
        let mut worker = Sanitizer::new(policy(), &key);
        let mut out = worker.sanitize(&mut at(day + 10));
        let first = out.client.clone();
        assert!(first.is_some());
        worker.sanitize_into(&mut at(next_day + 10), &mut out);
        assert_ne!(out.client, first, "next day, unlinkable");
        let fresh = Sanitizer::new(policy(), &key).sanitize(&mut at(next_day + 20));
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
        let mut worker = Sanitizer::new(policy(), &key);
        let mut out = worker.sanitize(&mut at(day + 10));
        let first = (out.account.clone(), out.tenant.clone());
        assert!(first.0.is_some() && first.1.is_some());
        worker.sanitize_into(&mut at(next_day + 10), &mut out);
        assert_ne!(out.account, first.0, "next day, unlinkable");
        assert_ne!(out.tenant, first.1, "next day, unlinkable");
        let fresh = Sanitizer::new(policy(), &key).sanitize(&mut at(next_day + 20));
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
            let mut worker = Sanitizer::new(policy, &MasterKey::from_bytes([7; 32]));
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
        let mut worker = Sanitizer::new(Policy::atlassian_connect(), &MasterKey::from_bytes([7; 32]));
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
