//! Counting distinct pseudonyms: exact for small sets, a HyperLogLog sketch
//! beyond a threshold. Both merge.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// Up to this many distinct values the count is exact.
pub const EXACT_LIMIT: usize = 1024;
/// log2 of the number of HyperLogLog registers: 4096 registers, about 1.6 %
/// standard error.
const P: u32 = 12;
const M: usize = 1 << P;

/// The values are already mixed 64-bit hashes, so the set hashes them as they are.
#[derive(Default, Clone, Copy)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type HashSet64 = HashSet<u64, BuildHasherDefault<Identity>>;

/// A 64-bit hash of a pseudonym (FNV-1a, then a full avalanche), stable across
/// runs and machines so partial counts from different processes merge.
#[inline]
pub fn hash_value(s: &[u8]) -> u64 {
    finish(fnv(0xcbf2_9ce4_8422_2325, s))
}

/// [`hash_value`] of `a`, a `0xFF` byte (never part of UTF-8) and `b`: two
/// strings hashed as one value, without building it.
#[inline]
pub(crate) fn hash_pair(a: &[u8], b: &[u8]) -> u64 {
    finish(fnv(fnv(fnv(0xcbf2_9ce4_8422_2325, a), &[0xFF]), b))
}

#[inline]
fn fnv(mut h: u64, s: &[u8]) -> u64 {
    for &b in s {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[inline]
fn finish(mut h: u64) -> u64 {
    // MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// How many distinct values (account or tenant pseudonyms) were seen.
///
/// Exact up to [`EXACT_LIMIT`] values, so k-anonymity decisions for any
/// `k ≤ EXACT_LIMIT` are exact; above that a HyperLogLog sketch with 4096
/// registers estimates the count within about 1.6 % (one standard error) in
/// 4 KiB, whatever the number of values.
///
/// ```
/// # #[cfg(feature = "tools")] {
/// let mut d = privlog::usage::DistinctCounter::new();
/// d.insert(b"acc_1");
/// d.insert(b"acc_1");
/// d.insert(b"acc_2");
/// assert_eq!(d.count(), 2);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct DistinctCounter {
    repr: Repr,
    /// Values counted, repeats included: no estimate may exceed it.
    seen: u64,
}

#[derive(Clone)]
enum Repr {
    Exact(HashSet64),
    Sketch(Box<[u8; M]>),
}

impl std::fmt::Debug for Repr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Repr::Exact(s) => write!(f, "Exact({})", s.len()),
            Repr::Sketch(_) => f.write_str("Sketch"),
        }
    }
}

impl Default for DistinctCounter {
    fn default() -> Self {
        DistinctCounter {
            repr: Repr::Exact(HashSet64::default()),
            seen: 0,
        }
    }
}

impl DistinctCounter {
    /// An empty counter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one value.
    #[inline]
    pub fn insert(&mut self, value: &[u8]) {
        self.insert_hash(hash_value(value));
    }

    /// Counts one value already hashed with [`hash_value`].
    #[inline]
    pub fn insert_hash(&mut self, h: u64) {
        self.seen = self.seen.saturating_add(1);
        match &mut self.repr {
            Repr::Exact(set) => {
                if set.insert(h) && set.len() > EXACT_LIMIT {
                    self.promote();
                }
            }
            Repr::Sketch(regs) => sketch_insert(regs, h),
        }
    }

    fn promote(&mut self) {
        if let Repr::Exact(set) = &self.repr {
            let mut regs = Box::new([0u8; M]);
            for &h in set {
                sketch_insert(&mut regs, h);
            }
            self.repr = Repr::Sketch(regs);
        }
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &DistinctCounter) {
        self.seen = self.seen.saturating_add(other.seen);
        match (&mut self.repr, &other.repr) {
            (Repr::Exact(a), Repr::Exact(b)) => {
                a.extend(b.iter().copied());
                if a.len() > EXACT_LIMIT {
                    self.promote();
                }
            }
            (Repr::Sketch(a), Repr::Exact(b)) => {
                for &h in b {
                    sketch_insert(a, h);
                }
            }
            (Repr::Exact(_), Repr::Sketch(b)) => {
                let mut regs = b.clone();
                if let Repr::Exact(a) = &self.repr {
                    for &h in a {
                        sketch_insert(&mut regs, h);
                    }
                }
                self.repr = Repr::Sketch(regs);
            }
            (Repr::Sketch(a), Repr::Sketch(b)) => {
                for (x, y) in a.iter_mut().zip(b.iter()) {
                    *x = (*x).max(*y);
                }
            }
        }
    }

    /// Whether the count is exact (at most [`EXACT_LIMIT`] values seen).
    pub fn is_exact(&self) -> bool {
        matches!(self.repr, Repr::Exact(_))
    }

    /// The number of distinct values: exact, or the sketch's estimate
    /// held within what is known for sure: a sketch holds more than
    /// [`EXACT_LIMIT`] distinct values, and never more than were counted.
    pub fn count(&self) -> u64 {
        match &self.repr {
            Repr::Exact(set) => set.len() as u64,
            Repr::Sketch(regs) => estimate(regs).max(EXACT_LIMIT as u64 + 1).min(self.seen),
        }
    }
}

#[inline]
fn sketch_insert(regs: &mut [u8; M], h: u64) {
    let idx = (h >> (64 - P)) as usize;
    let rest = (h << P) | (1 << (P - 1)); // the guard bit caps the rank at 64 - P + 1
    let rank = rest.leading_zeros() as u8 + 1;
    if regs[idx] < rank {
        regs[idx] = rank;
    }
}

fn estimate(regs: &[u8; M]) -> u64 {
    let m = M as f64;
    let mut sum = 0.0;
    let mut zeros = 0usize;
    for &r in regs.iter() {
        sum += 1.0 / f64::from(1u32 << r.min(31));
        if r == 0 {
            zeros += 1;
        }
    }
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let raw = alpha * m * m / sum;
    let est = if raw <= 2.5 * m && zeros > 0 {
        // Linear counting is far more accurate while registers are still empty.
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    est.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn counter_of(range: std::ops::Range<u64>) -> DistinctCounter {
        let mut d = DistinctCounter::new();
        for i in range {
            d.insert(format!("acc_{i}").as_bytes());
        }
        d
    }

    #[test]
    fn small_sets_are_counted_exactly() {
        let d = counter_of(0..EXACT_LIMIT as u64);
        assert!(d.is_exact());
        assert_eq!(d.count(), EXACT_LIMIT as u64);
    }

    #[test]
    fn large_sets_are_estimated_within_five_percent() {
        for n in [2_000u64, 20_000, 200_000] {
            let d = counter_of(0..n);
            assert!(!d.is_exact());
            let err = (d.count() as f64 - n as f64).abs() / n as f64;
            assert!(err < 0.05, "n={n}: estimate {} is {:.1}% off", d.count(), err * 100.0);
        }
    }

    #[test]
    fn an_estimate_stays_between_the_exact_limit_and_the_values_counted() {
        // Just past the exact limit the sketch estimates 1034 for these 1030
        // values; the count is held to what is known for sure.
        let mut d = counter_of(0..1_030);
        assert!(!d.is_exact());
        assert_eq!(d.count(), 1_030);
        d.insert(b"acc_0");
        assert!((EXACT_LIMIT as u64 + 1..=1_031).contains(&d.count()));
        let mut merged = counter_of(0..600);
        merged.merge(&counter_of(600..1_030));
        assert!(!merged.is_exact());
        assert!((EXACT_LIMIT as u64 + 1..=1_030).contains(&merged.count()));
    }

    #[test]
    fn merging_sketches_counts_the_union() {
        let mut a = counter_of(0..30_000);
        let b = counter_of(15_000..45_000);
        a.merge(&b);
        let err = (a.count() as f64 - 45_000.0).abs() / 45_000.0;
        assert!(err < 0.05, "estimate {}", a.count());
    }

    #[test]
    fn a_pair_hashes_as_its_parts_joined_by_a_byte_utf8_never_has() {
        assert_eq!(hash_pair(b"k_1", b"2026-11"), hash_value(b"k_1\xFF2026-11"));
        assert_ne!(hash_pair(b"k_1", b"2026-11"), hash_pair(b"k_12", b"026-11"));
    }

    proptest! {
        #[test]
        fn merge_of_exact_sets_is_the_exact_union(a in prop::collection::hash_set(0u32..3000, 0..700), b in prop::collection::hash_set(0u32..3000, 0..700)) {
            let mut da = DistinctCounter::new();
            let mut db = DistinctCounter::new();
            for v in &a { da.insert(&v.to_le_bytes()); }
            for v in &b { db.insert(&v.to_le_bytes()); }
            da.merge(&db);
            let union = a.union(&b).count() as u64;
            if da.is_exact() {
                prop_assert_eq!(da.count(), union);
            } else {
                prop_assert!(union as usize > EXACT_LIMIT);
                let err = (da.count() as f64 - union as f64).abs() / union as f64;
                prop_assert!(err < 0.06);
            }
        }
    }
}
