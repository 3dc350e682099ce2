use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::{EpochKeys, Purpose};
use crate::limits::{Limit, OutOfRange};

/// What the `client` field holds.
///
/// Dynamic IP addresses are personal data; the default keeps only the network
/// prefix, which still answers "which region / network" questions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpPolicy {
    /// Keep only the network prefix: `203.0.113.0/24`, `2001:db8:1::/48`.
    /// IPv4-mapped IPv6 addresses are treated as IPv4.
    Truncate {
        /// IPv4 prefix length, 0–32.
        v4_prefix: u8,
        /// IPv6 prefix length, 0–128.
        v6_prefix: u8,
    },
    /// Replace the address with a keyed per-epoch pseudonym.
    Pseudonymize,
    /// Replace the address with a pseudonym under a key of the day that
    /// never leaves memory: 256 bits from the operating system's generator,
    /// drawn at the first record of each UTC day, shared by every pipeline of
    /// the process, and zeroized when the next day begins. It counts distinct
    /// clients per day; nobody, the key holder included, can link a client
    /// across days or find an address's records later (no data-subject
    /// request by IP), and a restart changes the values within the day.
    PseudonymizeDaily,
    /// Leave `client` empty.
    Drop,
    /// Log the full address. Only when your privacy statement says so.
    Keep,
}

impl Default for IpPolicy {
    /// Truncate to [`IPV4_PREFIX`](super::defaults::IPV4_PREFIX) and
    /// [`IPV6_PREFIX`](super::defaults::IPV6_PREFIX).
    fn default() -> Self {
        IpPolicy::Truncate {
            v4_prefix: super::defaults::IPV4_PREFIX,
            v6_prefix: super::defaults::IPV6_PREFIX,
        }
    }
}

impl IpPolicy {
    /// Applies the policy to a (resolved) client address.
    pub fn apply(&self, ip: IpAddr, keys: &EpochKeys) -> Option<String> {
        let mut out = String::with_capacity(44);
        self.apply_into(ip, keys, &mut out).then_some(out)
    }

    /// [`IpPolicy::apply`] appending the text to `out` (a buffer the caller
    /// reuses); returns `false` (nothing written) when the address is dropped.
    #[inline]
    pub(crate) fn apply_into(&self, ip: IpAddr, keys: &EpochKeys, out: &mut String) -> bool {
        let ip = normalize(ip);
        match *self {
            // The formatter machinery costs more than the rest of the step.
            IpPolicy::Truncate { v4_prefix, v6_prefix } => match truncate(ip, v4_prefix, v6_prefix) {
                IpNet::V4(net) => push_ipv4_net(out, net.addr(), net.prefix_len()),
                IpNet::V6(net) => push_ipv6_net(out, net.addr(), net.prefix_len()),
            },
            // Under `PseudonymizeDaily` the sanitizer passes the day's keys.
            IpPolicy::Pseudonymize | IpPolicy::PseudonymizeDaily => {
                out.push_str(keys.pseudonym(Purpose::Ip, &ip.to_string()).as_str())
            }
            IpPolicy::Drop => return false,
            IpPolicy::Keep => out.push_str(&ip.to_string()),
        }
        true
    }

    /// The address [`IpPolicy::apply_into`] writes the same text for as for
    /// `ip`: its network under `Truncate` (the prefix lengths are the
    /// policy's), the address itself otherwise; `None` when the address is
    /// dropped. Texts remembered by this key are what `apply_into` writes.
    pub(crate) fn text_key(&self, ip: IpAddr) -> Option<IpAddr> {
        match *self {
            IpPolicy::Truncate { v4_prefix, v6_prefix } => Some(truncate(ip, v4_prefix, v6_prefix).addr()),
            IpPolicy::Drop => None,
            IpPolicy::Pseudonymize | IpPolicy::PseudonymizeDaily | IpPolicy::Keep => Some(normalize(ip)),
        }
    }
}

/// `a.b.c.d/p`, as `Ipv4Net`'s `Display` writes it.
#[cfg(test)]
fn ipv4_net_text(addr: Ipv4Addr, prefix: u8) -> String {
    let mut out = String::new();
    push_ipv4_net(&mut out, addr, prefix);
    out
}

/// Appends `a.b.c.d/p`.
fn push_ipv4_net(out: &mut String, addr: Ipv4Addr, prefix: u8) {
    let mut text = Text::new();
    for octet in addr.octets() {
        let i = usize::from(octet);
        text.push_chunk(DECIMAL[i], usize::from(DECIMAL_LEN[i]) + 1);
    }
    // The dot after the last octet becomes the slash.
    text.len -= 1;
    text.push_byte(b'/');
    text.push_decimal_chunk(prefix);
    text.append_to(out);
}

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

/// Each byte value in decimal, followed by a dot (the rest zeros).
const DECIMAL: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut n = 0;
    while n < 256 {
        let d = [
            b'0' + (n / 100) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
        ];
        t[n] = if n >= 100 {
            [d[0], d[1], d[2], b'.']
        } else if n >= 10 {
            [d[1], d[2], b'.', 0]
        } else {
            [d[2], b'.', 0, 0]
        };
        n += 1;
    }
    t
};

/// How many digits each entry of [`DECIMAL`] has.
const DECIMAL_LEN: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut n = 0;
    while n < 256 {
        t[n] = if n >= 100 {
            3
        } else if n >= 10 {
            2
        } else {
            1
        };
        n += 1;
    }
    t
};

/// A network's text, built on the stack and appended to the output in one
/// piece: pushing it a character at a time costs several times more.
// Aligned so that checking it is UTF-8 (it is ASCII) takes whole words.
#[repr(align(8))]
struct Text {
    /// Room for the longest text (`255.255.255.255/32`, 18 bytes) and the
    /// padding of a last 4-byte chunk, in whole 16-byte steps.
    buf: [u8; 32],
    len: usize,
}

impl Text {
    fn new() -> Self {
        Text { buf: [0; 32], len: 0 }
    }

    /// Writes all of `chunk` and keeps its first `used` bytes.
    #[inline(always)]
    fn push_chunk(&mut self, chunk: [u8; 4], used: usize) {
        if let Some(dst) = self.buf.get_mut(self.len..self.len + 4) {
            dst.copy_from_slice(&chunk);
        }
        self.len += used;
    }

    #[inline(always)]
    fn push_byte(&mut self, b: u8) {
        if let Some(dst) = self.buf.get_mut(self.len) {
            *dst = b;
        }
        self.len += 1;
    }

    #[inline(always)]
    fn push_decimal_chunk(&mut self, n: u8) {
        let i = usize::from(n);
        self.push_chunk(DECIMAL[i], usize::from(DECIMAL_LEN[i]));
    }

    #[inline(always)]
    fn append_to(&self, out: &mut String) {
        // The UTF-8 check takes aligned 16-byte steps where it can and goes
        // byte by byte otherwise: it looks at whole steps of the buffer, and
        // the text is cut after. (Always ASCII: the check cannot fail.)
        let checked = self.len.next_multiple_of(16);
        let text = self.buf.get(..checked).and_then(|b| std::str::from_utf8(b).ok());
        if let Some(text) = text.and_then(|t| t.get(..self.len)) {
            out.push_str(text);
        }
    }
}

/// `addr/p` for IPv6, as `Ipv6Net`'s `Display` writes it (RFC 5952: lowercase
/// hex, the first longest run of two or more zero groups as `::`).
#[cfg(test)]
fn ipv6_net_text(addr: Ipv6Addr, prefix: u8) -> String {
    let mut out = String::new();
    push_ipv6_net(&mut out, addr, prefix);
    out
}

/// Appends `addr/p` for IPv6.
fn push_ipv6_net(out: &mut String, addr: Ipv6Addr, prefix: u8) {
    fn push_hex(out: &mut String, n: u16) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut started = false;
        for shift in [12u16, 8, 4, 0] {
            let d = (n >> shift) & 0xf;
            if d != 0 || started || shift == 0 {
                out.push(char::from(HEX[usize::from(d)]));
                started = true;
            }
        }
    }
    fn push_groups(out: &mut String, groups: &[u16]) {
        for (i, g) in groups.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            push_hex(out, *g);
        }
    }
    if addr.to_ipv4_mapped().is_some() {
        // Written with a dotted tail; never left by truncation, which maps
        // such addresses to IPv4 first.
        out.push_str(&format!("{addr}/{prefix}"));
        return;
    }
    let groups = addr.segments();
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (i, g) in groups.iter().enumerate() {
        if *g == 0 {
            if run_len == 0 {
                run = i;
            }
            run_len += 1;
            if run_len > best_len {
                (best, best_len) = (run, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    match (groups.get(..best), groups.get(best + best_len..)) {
        (Some(head), Some(tail)) if best_len > 1 => {
            push_groups(out, head);
            out.push_str("::");
            push_groups(out, tail);
        }
        _ => push_groups(out, &groups),
    }
    out.push('/');
    push_decimal(out, prefix);
}

/// IPv4-mapped IPv6 (`::ffff:203.0.113.9`) becomes plain IPv4.
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The network of `ip` with the given prefix lengths (clamped to the valid range).
pub(crate) fn truncate(ip: IpAddr, v4_prefix: u8, v6_prefix: u8) -> IpNet {
    match normalize(ip) {
        IpAddr::V4(v4) => {
            let p = v4_prefix.min(32);
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - u32::from(p)) };
            let net = Ipv4Addr::from(u32::from(v4) & mask);
            IpNet::V4(ipnet::Ipv4Net::new(net, p).unwrap_or_default())
        }
        IpAddr::V6(v6) => {
            let p = v6_prefix.min(128);
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - u32::from(p)) };
            let net = Ipv6Addr::from(u128::from(v6) & mask);
            IpNet::V6(ipnet::Ipv6Net::new(net, p).unwrap_or_default())
        }
    }
}

/// The most trusted-proxy entries: enough for the published ranges of the
/// largest CDNs and clouds, small enough that parsing and describing the
/// list stay cheap (a lookup costs O(log n) whatever the number).
pub const MAX_TRUSTED_PROXIES: usize = 4096;

/// `trusted_proxies`: how many entries.
const TRUSTED_PROXIES: Limit = Limit::count("trusted_proxies", 0, MAX_TRUSTED_PROXIES as u64);

/// The networks of the reverse proxies you run. Only when the socket peer is
/// inside one of them do `Forwarded` / `X-Forwarded-For` count, and then the
/// rightmost hop that is not a trusted proxy is the client.
///
/// Empty by default: forwarding headers are attacker-controlled unless a proxy
/// you run wrote them. At most [`MAX_TRUSTED_PROXIES`] entries; each is
/// looked up in O(log n): the networks are held as merged, sorted address
/// ranges and searched by bisection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// As configured, for messages.
    nets: Vec<IpNet>,
    /// The IPv4 networks as inclusive address ranges, sorted, neither
    /// overlapping nor touching.
    v4: Vec<(u32, u32)>,
    /// The IPv6 networks, likewise.
    v6: Vec<(u128, u128)>,
}

/// The longest trusted-proxy entry an error shows.
const MAX_SHOWN_ENTRY: usize = 100;

/// A trusted-proxy entry that is not a network, or too many entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError {
    kind: CidrErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CidrErrorKind {
    /// The entry's position (from 1), and the entry when it is short
    /// enough to show whole: a long one is never cut and shown in part.
    NotANetwork(u64, Option<String>),
    /// More entries than [`MAX_TRUSTED_PROXIES`].
    TooMany(OutOfRange),
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            CidrErrorKind::NotANetwork(position, Some(value)) => write!(
                f,
                "invalid trusted proxy {value:?} (entry {position}): expected an address or a network like \
                 10.0.0.0/8 or fd00::/8"
            ),
            CidrErrorKind::NotANetwork(position, None) => write!(
                f,
                "invalid trusted proxy (entry {position}, longer than {MAX_SHOWN_ENTRY} characters, not shown): \
                 expected an address or a network like 10.0.0.0/8 or fd00::/8"
            ),
            CidrErrorKind::TooMany(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CidrError {}

impl TrustedProxies {
    /// No trusted proxies: the socket peer is always the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses networks (`10.0.0.0/8`) or single addresses (`127.0.0.1`), at
    /// most [`MAX_TRUSTED_PROXIES`] of them.
    ///
    /// # Errors
    /// [`CidrError`] naming the first entry that is neither, or the number
    /// of entries when there are more than [`MAX_TRUSTED_PROXIES`].
    pub fn parse<I, S>(entries: I) -> Result<Self, CidrError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut nets = Vec::new();
        let mut count: u64 = 0;
        for e in entries {
            count += 1;
            let s = e.as_ref().trim();
            let net = s
                .parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| CidrError {
                    kind: CidrErrorKind::NotANetwork(
                        count,
                        (s.chars().count() <= MAX_SHOWN_ENTRY).then(|| s.to_owned()),
                    ),
                })?;
            if nets.len() < MAX_TRUSTED_PROXIES {
                nets.push(net);
            }
        }
        TRUSTED_PROXIES.check(count).map_err(|mut e| {
            e.note = Some("entries; merge neighbouring networks into wider ones, e.g. 10.0.0.0/8".to_owned());
            CidrError {
                kind: CidrErrorKind::TooMany(e),
            }
        })?;
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in &nets {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        Ok(TrustedProxies {
            nets,
            v4: merged(v4),
            v6: merged(v6),
        })
    }

    /// Whether any proxy is configured.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` belongs to a trusted proxy (an IPv4-mapped IPv6 address
    /// counts as its IPv4 address). O(log n) in the number of networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match normalize(ip) {
            IpAddr::V4(a) => in_ranges(&self.v4, u32::from(a)),
            IpAddr::V6(a) => in_ranges(&self.v6, u128::from(a)),
        }
    }

    /// The configured networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.nets
    }
}

/// Inclusive ranges sorted by start, with overlapping and touching ones
/// joined.
fn merged<T: Ord + Copy + Bound>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            // Overlapping, or starting right after the last one ends.
            Some(last) if last.1.next().is_none_or(|after| start <= after) => {
                last.1 = last.1.max(end);
            }
            _ => out.push((start, end)),
        }
    }
    out
}

/// The address after another, for joining touching ranges.
trait Bound: Sized {
    fn next(self) -> Option<Self>;
}

impl Bound for u32 {
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
}

impl Bound for u128 {
    fn next(self) -> Option<Self> {
        self.checked_add(1)
    }
}

/// Whether `x` is in one of `ranges` (as [`merged`] makes them): the last
/// range starting at or before `x` is found by bisection.
fn in_ranges<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let after = ranges.partition_point(|&(start, _)| start <= x);
    after
        .checked_sub(1)
        .and_then(|i| ranges.get(i))
        .is_some_and(|&(_, end)| x <= end)
}

/// The most hops of a forwarding chain that are looked at.
pub const MAX_HOPS: usize = 32;
/// The most bytes of forwarding headers that are looked at (the rightmost ones).
pub(crate) const MAX_FORWARD_BYTES: usize = 4096;

/// One hop of a forwarding chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// A usable address.
    Addr(IpAddr),
    /// `unknown`, `_hidden`-style obfuscated identifiers, or garbage.
    Opaque,
}

/// Resolves the client address: the socket `peer`, or — when the peer is a
/// trusted proxy — the rightmost untrusted hop of the forwarding chain.
///
/// `hops` yields the chain from right (nearest) to left. When the rightmost
/// untrusted hop is opaque (`unknown`, `_hidden`, garbage), the client is
/// unknown (`None`): an earlier hop could have been forged by the client.
pub fn resolve_client<I>(peer: Option<IpAddr>, trusted: &TrustedProxies, hops: I) -> Option<IpAddr>
where
    I: IntoIterator<Item = Hop>,
{
    let peer = normalize(peer?);
    if trusted.is_empty() || !trusted.contains(peer) {
        return Some(peer);
    }
    let mut last_trusted = peer;
    for hop in hops.into_iter().take(MAX_HOPS) {
        match hop {
            Hop::Addr(ip) => {
                let ip = normalize(ip);
                if !trusted.contains(ip) {
                    return Some(ip);
                }
                last_trusted = ip;
            }
            Hop::Opaque => return None,
        }
    }
    // Every hop was a trusted proxy (or the chain was empty or too long): the
    // leftmost trusted address we saw is as close to the client as we can get.
    Some(last_trusted)
}

/// Hops of `X-Forwarded-For` values (in header order), right to left, bounded.
pub fn xff_hops<'a>(values: &'a [&'a [u8]]) -> impl Iterator<Item = Hop> + 'a {
    values
        .iter()
        .rev()
        .flat_map(|v| tail(v).rsplit(|b| *b == b','))
        .map(|h| parse_node(trim(h)))
}

/// Hops of `Forwarded` values (RFC 7239), right to left, bounded. Elements
/// without a `for=` parameter are opaque.
pub fn forwarded_hops<'a>(values: &'a [&'a [u8]]) -> impl Iterator<Item = Hop> + 'a {
    values
        .iter()
        .rev()
        .flat_map(|v| split_unquoted(tail(v)).into_iter().rev())
        .map(|element| {
            for pair in element.split(|b| *b == b';') {
                let pair = trim(pair);
                if pair.len() > 4 && pair[..4].eq_ignore_ascii_case(b"for=") {
                    return parse_node(trim(&pair[4..]));
                }
            }
            Hop::Opaque
        })
}

/// The last [`MAX_FORWARD_BYTES`] of a header value.
fn tail(v: &[u8]) -> &[u8] {
    &v[v.len().saturating_sub(MAX_FORWARD_BYTES)..]
}

/// Splits on commas outside double quotes, at most `MAX_HOPS` pieces from the right.
fn split_unquoted(v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, b) in v.iter().enumerate() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    let skip = out.len().saturating_sub(MAX_HOPS);
    out.drain(..skip);
    out
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

/// Parses a node: `203.0.113.9`, `203.0.113.9:8080`, `2001:db8::1`,
/// `[2001:db8::1]:443`, `"[2001:db8::1]:443"`, `unknown`, `_hidden`.
fn parse_node(v: &[u8]) -> Hop {
    let v = if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
        &v[1..v.len() - 1]
    } else {
        v
    };
    let Ok(s) = std::str::from_utf8(v) else {
        return Hop::Opaque;
    };
    if s.len() > 64 {
        return Hop::Opaque;
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Hop::Addr(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        if let Some(end) = rest.find(']')
            && let Ok(ip) = rest[..end].parse::<Ipv6Addr>()
        {
            return Hop::Addr(IpAddr::V6(ip));
        }
        return Hop::Opaque;
    }
    if let Some((host, port)) = s.rsplit_once(':')
        && port.bytes().all(|b| b.is_ascii_digit())
        && let Ok(ip) = host.parse::<Ipv4Addr>()
    {
        return Hop::Addr(IpAddr::V4(ip));
    }
    Hop::Opaque
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MasterKey, Pseudonymizer, Rotation};
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn keys() -> EpochKeys {
        Pseudonymizer::new(&MasterKey::from_bytes([3; 32]))
            .epoch_keys(&Rotation::None.epoch_of(time::OffsetDateTime::UNIX_EPOCH))
    }

    #[test]
    fn ip_policy_table() {
        let k = keys();
        let d = IpPolicy::default();
        let cases = [
            ("203.0.113.77", Some("203.0.113.0/24")),
            ("::ffff:203.0.113.77", Some("203.0.113.0/24")),
            ("2001:db8:abcd:1234::1", Some("2001:db8:abcd::/48")),
            ("127.0.0.1", Some("127.0.0.0/24")),
        ];
        for (input, want) in cases {
            assert_eq!(d.apply(ip(input), &k).as_deref(), want, "{input}");
        }
        assert_eq!(IpPolicy::Drop.apply(ip("203.0.113.77"), &k), None);
        assert_eq!(
            IpPolicy::Keep.apply(ip("203.0.113.77"), &k).as_deref(),
            Some("203.0.113.77")
        );
        let p = IpPolicy::Pseudonymize.apply(ip("203.0.113.77"), &k).expect("some");
        assert!(!p.contains("203"));
        assert_eq!(p.len(), 22);
        assert_eq!(IpPolicy::Pseudonymize.apply(ip("::ffff:203.0.113.77"), &k), Some(p));
    }

    fn resolve_xff(peer: &str, trusted: &[&str], xff: &[&str]) -> Option<IpAddr> {
        let t = TrustedProxies::parse(trusted).expect("cidrs");
        let vals: Vec<&[u8]> = xff.iter().map(|s| s.as_bytes()).collect();
        resolve_client(Some(ip(peer)), &t, xff_hops(&vals))
    }

    fn resolve_fwd(peer: &str, trusted: &[&str], fwd: &[&str]) -> Option<IpAddr> {
        let t = TrustedProxies::parse(trusted).expect("cidrs");
        let vals: Vec<&[u8]> = fwd.iter().map(|s| s.as_bytes()).collect();
        resolve_client(Some(ip(peer)), &t, forwarded_hops(&vals))
    }

    #[test]
    fn spoofing_matrix() {
        let proxy = ["10.0.0.0/8"];
        // untrusted peer: headers ignored
        assert_eq!(
            resolve_xff("198.51.100.7", &proxy, &["1.2.3.4"]),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(resolve_xff("198.51.100.7", &[], &["1.2.3.4"]), Some(ip("198.51.100.7")));
        // trusted peer: rightmost untrusted hop wins, a forged left part is ignored
        assert_eq!(
            resolve_xff("10.0.0.1", &proxy, &["6.6.6.6, 203.0.113.9"]),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            resolve_xff("10.0.0.1", &proxy, &["6.6.6.6, 203.0.113.9, 10.0.0.2"]),
            Some(ip("203.0.113.9"))
        );
        // repeated headers are one list
        assert_eq!(
            resolve_xff("10.0.0.1", &proxy, &["6.6.6.6", "203.0.113.9"]),
            Some(ip("203.0.113.9"))
        );
        // garbage at the rightmost untrusted position: unknown, not a forged address
        assert_eq!(resolve_xff("10.0.0.1", &proxy, &["6.6.6.6, garbage"]), None);
        // all hops trusted: the leftmost one
        assert_eq!(resolve_xff("10.0.0.1", &proxy, &["10.1.1.1"]), Some(ip("10.1.1.1")));
        // no header at all
        assert_eq!(resolve_xff("10.0.0.1", &proxy, &[]), Some(ip("10.0.0.1")));
        // Forwarded, quoted v6 with port, obfuscated identifiers
        assert_eq!(
            resolve_fwd(
                "10.0.0.1",
                &proxy,
                &["for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https"]
            ),
            Some(ip("2001:db8::7"))
        );
        assert_eq!(resolve_fwd("10.0.0.1", &proxy, &["for=6.6.6.6, for=_hidden"]), None);
        assert_eq!(resolve_fwd("10.0.0.1", &proxy, &["for=unknown"]), None);
        assert_eq!(
            resolve_fwd("10.0.0.1", &proxy, &["For=203.0.113.9:80;by=10.0.0.1"]),
            Some(ip("203.0.113.9"))
        );
        // IPv4-mapped peer counts as the IPv4 proxy
        assert_eq!(
            resolve_xff("::ffff:10.0.0.1", &proxy, &["203.0.113.9"]),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn ten_thousand_hops_are_bounded() {
        let long = vec!["10.0.0.3"; 10_000].join(", ");
        let hops: Vec<&[u8]> = vec![long.as_bytes()];
        let n = xff_hops(&hops).count();
        assert!(n <= MAX_FORWARD_BYTES / 9 + 1, "looked at {n} hops");
        assert_eq!(resolve_xff("10.0.0.1", &["10.0.0.0/8"], &[&long]), Some(ip("10.0.0.3")));
    }

    #[test]
    fn bad_trusted_proxy_is_named() {
        let e = TrustedProxies::parse(["10.0.0.0/8", "not-a-net"]).expect_err("error");
        assert!(e.to_string().contains("\"not-a-net\""));
    }

    #[test]
    fn more_trusted_proxies_than_the_limit_are_refused_with_the_count_and_range() {
        let nets: Vec<String> = (0..=MAX_TRUSTED_PROXIES as u32)
            .map(|i| Ipv4Addr::from(0x0a00_0000 + (i << 8)).to_string() + "/24")
            .collect();
        let at = TrustedProxies::parse(&nets[..MAX_TRUSTED_PROXIES]).expect("at the limit");
        assert_eq!(at.networks().len(), MAX_TRUSTED_PROXIES);
        // 10.0.0.0/24 … 10.15.255.0/24 touch: one range.
        assert_eq!(at.v4, vec![(0x0a00_0000, 0x0a0f_ffff)]);
        let e = TrustedProxies::parse(&nets).expect_err("past the limit").to_string();
        assert_eq!(
            e,
            "trusted_proxies = 4097 is out of range; use a value from 0 to 4096 (entries; merge neighbouring \
             networks into wider ones, e.g. 10.0.0.0/8)"
        );
    }

    #[test]
    fn ranges_join_overlapping_and_touching_networks_and_keep_gaps() {
        let t = TrustedProxies::parse([
            "10.0.1.0/24",
            "10.0.0.0/24",
            "10.0.0.128/25",
            "10.0.3.7",
            "255.255.255.255",
            "0.0.0.0/32",
            "fd00::/8",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
        ])
        .expect("nets");
        assert_eq!(
            t.v4,
            vec![
                (0, 0),
                (0x0a00_0000, 0x0a00_01ff),
                (0x0a00_0307, 0x0a00_0307),
                (u32::MAX, u32::MAX)
            ]
        );
        assert_eq!(t.v6.len(), 2);
        for (addr, inside) in [
            ("10.0.1.255", true),
            ("10.0.2.0", false),
            ("10.0.3.7", true),
            ("10.0.3.8", false),
            ("255.255.255.255", true),
            ("0.0.0.0", true),
            ("0.0.0.1", false),
            ("::ffff:10.0.0.1", true),
            ("fdff::1", true),
            ("fe00::", false),
        ] {
            assert_eq!(t.contains(ip(addr)), inside, "{addr}");
        }
        let all = TrustedProxies::parse(["0.0.0.0/0", "::/0"]).expect("nets");
        assert!(all.contains(ip("203.0.113.9")) && all.contains(ip("2001:db8::1")));
    }

    proptest! {
        #[test]
        fn truncation_is_idempotent_and_clears_host_bits(a in any::<u32>(), b in any::<u128>(), p4 in 0u8..=32, p6 in 0u8..=128) {
            let v4 = IpAddr::V4(Ipv4Addr::from(a));
            let t = truncate(v4, p4, p6);
            prop_assert_eq!(truncate(t.network(), p4, p6), t);
            prop_assert_eq!(t.network(), t.trunc().network());
            prop_assert_eq!(t.prefix_len(), p4);
            let v6 = IpAddr::V6(Ipv6Addr::from(b));
            let t6 = truncate(v6, p4, p6);
            prop_assert_eq!(truncate(t6.network(), p4, p6), t6);
            prop_assert_eq!(t6.network(), t6.trunc().network());
            prop_assert!(t6.contains(&normalize(v6)));
        }

        #[test]
        fn ipv4_text_matches_display(a in any::<u32>(), p in 0u8..=32) {
            let addr = Ipv4Addr::from(a);
            let net = ipnet::Ipv4Net::new(addr, p).expect("prefix in range");
            prop_assert_eq!(ipv4_net_text(addr, p), net.to_string());
        }

        #[test]
        fn ipv6_text_matches_display(
            groups in proptest::array::uniform8(prop_oneof![3 => Just(0u16), 1 => Just(0xffff), 2 => any::<u16>(), 1 => 0u16..0x10]),
            p in 0u8..=128,
        ) {
            let addr = Ipv6Addr::from(groups);
            let net = ipnet::Ipv6Net::new(addr, p).expect("prefix in range");
            prop_assert_eq!(ipv6_net_text(addr, p), net.to_string());
        }

        #[test]
        fn apply_into_appends_what_apply_returns(a in any::<u32>(), b in any::<u128>(), v6 in any::<bool>()) {
            let key = MasterKey::from_bytes([3; 32]);
            let keys = Pseudonymizer::new(&key).epoch_keys(&Rotation::Daily.epoch_of(time::OffsetDateTime::UNIX_EPOCH));
            let ip = if v6 { IpAddr::V6(Ipv6Addr::from(b)) } else { IpAddr::V4(Ipv4Addr::from(a)) };
            for policy in [IpPolicy::default(), IpPolicy::Pseudonymize, IpPolicy::Drop, IpPolicy::Keep] {
                let mut out = String::from("x");
                let kept = policy.apply_into(ip, &keys, &mut out);
                let want = policy.apply(ip, &keys).map(|t| format!("x{t}"));
                prop_assert_eq!(kept.then_some(out), want);
            }
        }

        #[test]
        fn addresses_with_one_text_key_have_one_text(a in any::<u32>(), b in any::<u128>(), low in any::<u128>(), v6 in any::<bool>(), v4_prefix in 0u8..=32, v6_prefix in 0u8..=128) {
            let key = MasterKey::from_bytes([3; 32]);
            let keys = Pseudonymizer::new(&key).epoch_keys(&Rotation::Daily.epoch_of(time::OffsetDateTime::UNIX_EPOCH));
            let ip = if v6 { IpAddr::V6(Ipv6Addr::from(b)) } else { IpAddr::V4(Ipv4Addr::from(a)) };
            // An address of the same network (the bits past the prefix changed).
            let other = if v6 {
                let host = u128::MAX.checked_shr(u32::from(v6_prefix)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from((b & !host) | (low & host)))
            } else {
                let host = u32::MAX.checked_shr(u32::from(v4_prefix)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from((a & !host) | (low as u32 & host)))
            };
            let policies = [IpPolicy::Truncate { v4_prefix, v6_prefix }, IpPolicy::Pseudonymize, IpPolicy::Drop, IpPolicy::Keep];
            for policy in policies {
                let text = policy.apply(ip, &keys);
                prop_assert_eq!(policy.text_key(ip).is_some(), text.is_some());
                prop_assert_eq!(policy.text_key(ip).and_then(|k| policy.apply(k, &keys)), text.clone());
                if policy.text_key(other) == policy.text_key(ip) {
                    prop_assert_eq!(policy.apply(other, &keys), text);
                }
            }
            let truncate = IpPolicy::Truncate { v4_prefix, v6_prefix };
            if !v6 || Ipv6Addr::from(b).to_ipv4_mapped().is_none() {
                prop_assert_eq!(truncate.text_key(other), truncate.text_key(ip), "one network, one key");
            }
        }

        #[test]
        fn lookup_by_bisection_agrees_with_scanning_every_network(
            nets in proptest::collection::vec(
                prop_oneof![
                    (any::<u32>(), 0u8..=32).prop_map(|(a, p)| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(a), p).expect("prefix"))),
                    // Near one another, so that ranges overlap, touch and nest.
                    (0u32..4096, 20u8..=32).prop_map(|(a, p)| IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (a << 4)), p).expect("prefix"))),
                    (any::<u128>(), 0u8..=128).prop_map(|(a, p)| IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from(a), p).expect("prefix"))),
                    (0u128..4096, 110u8..=128).prop_map(|(a, p)| IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from((0xfd00u128 << 112) + (a << 6)), p).expect("prefix"))),
                ],
                0..64,
            ),
            probes in proptest::collection::vec(
                prop_oneof![
                    any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
                    (0u32..(4096 << 4) + 64).prop_map(|a| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + a))),
                    any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
                    (0u128..(4096 << 6) + 256).prop_map(|a| IpAddr::V6(Ipv6Addr::from((0xfd00u128 << 112) + a))),
                    any::<u32>().prop_map(|a| IpAddr::V6(Ipv4Addr::from(a).to_ipv6_mapped())),
                ],
                1..64,
            ),
        ) {
            let texts: Vec<String> = nets.iter().map(ToString::to_string).collect();
            let t = TrustedProxies::parse(&texts).expect("nets");
            // The ranges are sorted, apart, and each non-empty.
            for w in t.v4.windows(2) {
                prop_assert!(w[0].1 < w[1].0 && w[0].1.checked_add(1) != Some(w[1].0));
            }
            for w in t.v6.windows(2) {
                prop_assert!(w[0].1 < w[1].0 && w[0].1.checked_add(1) != Some(w[1].0));
            }
            // The edges of every network, and the addresses just outside.
            let mut probes = probes;
            for n in &nets {
                match n {
                    IpNet::V4(n) => {
                        let (a, b) = (u32::from(n.network()), u32::from(n.broadcast()));
                        for x in [Some(a), Some(b), a.checked_sub(1), b.checked_add(1)].into_iter().flatten() {
                            probes.push(IpAddr::V4(Ipv4Addr::from(x)));
                        }
                    }
                    IpNet::V6(n) => {
                        let (a, b) = (u128::from(n.network()), u128::from(n.broadcast()));
                        for x in [Some(a), Some(b), a.checked_sub(1), b.checked_add(1)].into_iter().flatten() {
                            probes.push(IpAddr::V6(Ipv6Addr::from(x)));
                        }
                    }
                }
            }
            for p in probes {
                // The reference: every configured network, one by one.
                let scanned = nets.iter().any(|n| n.contains(&normalize(p)));
                prop_assert_eq!(t.contains(p), scanned, "{} in {:?}", p, texts);
            }
        }

        #[test]
        fn forwarding_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let vals: Vec<&[u8]> = vec![&bytes];
            let _ = xff_hops(&vals).count();
            let _ = forwarded_hops(&vals).count();
        }
    }
}
