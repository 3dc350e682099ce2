//! A small seeded cache by key whose values are refilled in place, so a warm
//! cache allocates nothing; the sanitizer keeps pseudonyms, client texts and
//! token readings in it.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;

/// One remembered key (as the slot keeps it) and its value.
#[derive(Default)]
pub(super) struct Slot<S, V> {
    pub(super) hash: u64,
    pub(super) filled: bool,
    pub(super) key: S,
    pub(super) value: V,
}

/// A key a [`SlotCache`] looks values up by: how it hashes, and the copy of
/// it a slot keeps to compare with.
pub(super) trait SlotKey {
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

    #[inline]
    fn hash(&self, seed: u64) -> u64 {
        slot_hash(seed, self)
    }

    #[inline]
    fn is(&self, stored: &Vec<u8>) -> bool {
        stored.as_slice() == self
    }

    #[inline]
    fn store(&self, stored: &mut Vec<u8>) {
        stored.clear();
        stored.extend_from_slice(self);
    }
}

/// Client addresses or networks: one multiplication mixes the address.
impl SlotKey for IpAddr {
    type Stored = Option<IpAddr>;

    #[inline]
    fn hash(&self, seed: u64) -> u64 {
        let bits = match self {
            IpAddr::V4(a) => u128::from(a.to_bits()),
            IpAddr::V6(a) => a.to_bits(),
        };
        let h = (bits as u64 ^ (bits >> 64) as u64 ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // The low bits pick the slot: fold in the high ones, which every bit of the address reaches.
        h ^ (h >> 32)
    }

    #[inline]
    fn is(&self, stored: &Option<IpAddr>) -> bool {
        *stored == Some(*self)
    }

    #[inline]
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
pub(super) struct SlotCache<K: SlotKey + ?Sized, V> {
    pub(super) seed: u64,
    pub(super) size: usize,
    pub(super) slots: Vec<Slot<K::Stored, V>>,
}

impl<K: SlotKey + ?Sized, V: Default> SlotCache<K, V> {
    /// A cache of `size` slots, allocated on first use.
    pub(super) fn new(size: usize) -> Self {
        SlotCache {
            seed: RandomState::new().hash_one(0x0070_7269_766c_6f67_u64),
            size: size.max(1),
            slots: Vec::new(),
        }
    }

    /// The value remembered for `key`, or the one `fill` writes into the
    /// slot's old value (whose buffers it may reuse).
    #[inline]
    pub(super) fn get_or_fill(&mut self, key: &K, fill: impl FnOnce(&mut V)) -> Option<&V> {
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
    pub(super) fn clear(&mut self) {
        for s in &mut self.slots {
            s.filled = false;
        }
    }
}

/// A fast seeded 64-bit hash of `bytes` (multiply-rotate over 8-byte words,
/// four independent lanes so long keys such as tokens hash in parallel).
/// It only picks a cache slot: equality is always checked on the bytes.
#[inline]
pub(super) fn slot_hash(seed: u64, bytes: &[u8]) -> u64 {
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

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::sanitize::IP_SLOTS;

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
}
