//! A log-bucketed latency histogram: constant work per value, mergeable, and
//! within about 1.6 % of the true value at every percentile.

/// Values below this are counted exactly, one bucket each.
const EXACT: u64 = 32;
/// Sub-buckets per power of two above [`EXACT`] (log2 of 32).
const SUB_BITS: u32 = 5;

/// A histogram of microsecond latencies.
///
/// Values under 32 µs have a bucket each; above that every power of two is cut
/// into 32 equal buckets, so a bucket is at most 1/32 of its value wide and a
/// percentile read from its midpoint is within about 1.6 % of the true value.
/// Two histograms merge by adding their buckets, so partial results from
/// threads, files or periods combine exactly. Only the buckets from the
/// lowest to the highest value seen are kept, so a histogram of one value
/// (a group seen once) takes one bucket, not every bucket below it.
///
/// ```
/// # #[cfg(feature = "tools")] {
/// let mut h = privlog::usage::LatencyHistogram::new();
/// for us in 1..=1000 {
///     h.record(us);
/// }
/// let p50 = h.percentile(50.0);
/// assert!((485..=515).contains(&p50));
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    /// The counts of buckets `first..first + counts.len()`; the first and the
    /// last are never 0, so equal histograms are stored alike.
    counts: Vec<u64>,
    first: usize,
    total: u64,
    max: u64,
}

fn index_of(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let octave = 63 - v.leading_zeros(); // >= SUB_BITS
    let sub = (v >> (octave - SUB_BITS)) & (EXACT - 1);
    ((octave - SUB_BITS + 1) as usize) * EXACT as usize + sub as usize
}

/// The lowest value and the width of bucket `i`.
fn bounds_of(i: usize) -> (u64, u64) {
    let e = EXACT as usize;
    if i < e {
        return (i as u64, 1);
    }
    let octave = (i / e) as u32 + SUB_BITS - 1;
    let sub = (i % e) as u64;
    let width = 1u64 << (octave - SUB_BITS);
    ((1u64 << octave) + sub * width, width)
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one value.
    #[inline]
    pub fn record(&mut self, us: u64) {
        let i = index_of(us);
        self.cover(i, i + 1);
        self.counts[i - self.first] += 1;
        self.total += 1;
        self.max = self.max.max(us);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if !other.counts.is_empty() {
            self.cover(other.first, other.first + other.counts.len());
            let at = other.first - self.first;
            for (a, b) in self.counts[at..].iter_mut().zip(&other.counts) {
                *a += b;
            }
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Makes room for the buckets `start..end` (`start < end`).
    #[inline]
    fn cover(&mut self, start: usize, end: usize) {
        if self.counts.is_empty() {
            self.first = start;
        } else if start < self.first {
            let grow = self.first - start;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first = start;
        }
        if end - self.first > self.counts.len() {
            self.counts.resize(end - self.first, 0);
        }
    }

    /// How many values were recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The largest value recorded (exact), 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at percentile `p` (0–100): the midpoint of the bucket holding
    /// the ⌈p/100 · n⌉-th smallest value, never above [`max`](Self::max).
    /// 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let p = if p.is_nan() { 50.0 } else { p.clamp(0.0, 100.0) };
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bounds_of(self.first + i);
                return (low + width / 2).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_are_contiguous_and_cover_their_values() {
        let mut next = 0u64;
        for i in 0..1800 {
            let (low, width) = bounds_of(i);
            assert_eq!(low, next, "bucket {i}");
            assert_eq!(index_of(low), i);
            assert_eq!(index_of(low + width - 1), i);
            next = low + width;
        }
    }

    #[test]
    fn largest_value_is_reported_within_its_bucket() {
        let mut h = LatencyHistogram::new();
        h.record(u64::MAX);
        assert!(h.percentile(99.0) >= u64::MAX - u64::MAX / 32);
        assert_eq!(h.max(), u64::MAX);
    }

    #[test]
    fn one_value_takes_one_bucket() {
        let mut h = LatencyHistogram::new();
        h.record(10_000_000);
        assert_eq!(h.counts.len(), 1);
        h.record(10_000_000);
        assert_eq!(h.counts, vec![2]);
    }

    proptest! {
        #[test]
        fn stored_buckets_span_exactly_the_values_seen(a in prop::collection::vec(any::<u64>(), 0..50), b in prop::collection::vec(any::<u64>(), 0..50)) {
            let mut ha = LatencyHistogram::new();
            let mut hb = LatencyHistogram::new();
            let mut all = LatencyHistogram::new();
            for &v in &a { ha.record(v); all.record(v); }
            for &v in &b { hb.record(v); all.record(v); }
            ha.merge(&hb);
            prop_assert_eq!(&ha, &all);
            let indexes: Vec<usize> = a.iter().chain(&b).map(|&v| index_of(v)).collect();
            match (indexes.iter().min(), indexes.iter().max()) {
                (Some(&lo), Some(&hi)) => {
                    prop_assert_eq!(all.first, lo);
                    prop_assert_eq!(all.counts.len(), hi - lo + 1);
                }
                _ => prop_assert!(all.counts.is_empty()),
            }
        }

        #[test]
        fn percentile_is_within_two_percent_of_the_exact_rank(mut values in prop::collection::vec(0u64..50_000_000, 1..400), p in 0.0f64..=100.0) {
            let mut h = LatencyHistogram::new();
            for &v in &values { h.record(v); }
            values.sort_unstable();
            let rank = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize;
            let exact = values[rank - 1];
            let got = h.percentile(p);
            let tolerance = (exact as f64 * 0.02).max(1.0);
            prop_assert!((got as f64 - exact as f64).abs() <= tolerance, "p{p}: got {got}, exact {exact}");
        }

        #[test]
        fn merging_equals_recording_everything_in_one(a in prop::collection::vec(any::<u64>(), 0..200), b in prop::collection::vec(any::<u64>(), 0..200)) {
            let mut ha = LatencyHistogram::new();
            let mut hb = LatencyHistogram::new();
            let mut all = LatencyHistogram::new();
            for &v in &a { ha.record(v); all.record(v); }
            for &v in &b { hb.record(v); all.record(v); }
            ha.merge(&hb);
            prop_assert_eq!(ha.len(), all.len());
            for p in [50.0, 95.0, 99.0] {
                prop_assert_eq!(ha.percentile(p), all.percentile(p));
            }
        }
    }
}
