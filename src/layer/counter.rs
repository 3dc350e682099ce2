//! The request body byte counter, shared by the request body (which counts)
//! and the record guard (which reads) without a heap allocation per request.
//!
//! Counters come from a fixed, process-wide pool of cache-line-sized slots.
//! A slot is taken with one compare-and-swap and given back when both of its
//! two handles are dropped. Each thread starts looking where it last found a
//! free slot, so threads rarely meet on the same slots. Only when every slot
//! the thread looks at is in use (thousands of uploads in flight at once)
//! does a counter fall back to the heap.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Slots in the pool: far more than the request bodies one process reads at once.
const SLOTS: usize = 1024;
/// Slots a thread tries before falling back to the heap.
const PROBES: usize = 8;
/// The top bit of a counter: the request body ended in an error.
const FAILED: u64 = 1 << 63;

/// One counter, alone on its cache line so concurrent uploads don't contend.
#[repr(align(64))]
#[derive(Debug)]
struct Slot {
    bytes: AtomicU64,
    /// Live handles: 0 = free, 2 while both the body and the guard hold it.
    handles: AtomicU32,
}

impl Slot {
    const fn new() -> Self {
        Slot {
            bytes: AtomicU64::new(0),
            handles: AtomicU32::new(0),
        }
    }
}

static POOL: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
/// Where a new thread starts looking; spreads threads over the pool.
static NEXT_START: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Where this thread looks first; `usize::MAX` until the first use.
    static CURSOR: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[derive(Debug)]
enum Place {
    Pooled(&'static Slot),
    Heap(Arc<Slot>),
}

/// One handle to a request's byte counter; see the module docs.
#[derive(Debug)]
pub(crate) struct ByteCounter(Place);

impl ByteCounter {
    /// A fresh counter at zero and its two handles: one for the body, one for the guard.
    pub(crate) fn pair() -> (ByteCounter, ByteCounter) {
        match take_slot() {
            Some(slot) => (ByteCounter(Place::Pooled(slot)), ByteCounter(Place::Pooled(slot))),
            None => {
                let slot = Arc::new(Slot::new());
                (ByteCounter(Place::Heap(slot.clone())), ByteCounter(Place::Heap(slot)))
            }
        }
    }

    fn slot(&self) -> &Slot {
        match &self.0 {
            Place::Pooled(s) => s,
            Place::Heap(s) => s,
        }
    }

    pub(crate) fn add(&self, n: u64) {
        self.slot().bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes counted so far.
    pub(crate) fn get(&self) -> u64 {
        self.slot().bytes.load(Ordering::Relaxed) & !FAILED
    }

    /// Marks the request body as failed (the client went away mid-upload).
    pub(crate) fn fail(&self) {
        self.slot().bytes.fetch_or(FAILED, Ordering::Relaxed);
    }

    /// Whether the request body failed.
    pub(crate) fn failed(&self) -> bool {
        self.slot().bytes.load(Ordering::Relaxed) & FAILED != 0
    }

    #[cfg(test)]
    fn is_pooled(&self) -> bool {
        matches!(self.0, Place::Pooled(_))
    }
}

impl Drop for ByteCounter {
    fn drop(&mut self) {
        if let Place::Pooled(slot) = self.0 {
            // Release: the next owner's acquiring swap sees every count made
            // through this handle before it resets the slot.
            slot.handles.fetch_sub(1, Ordering::Release);
        }
    }
}

fn take_slot() -> Option<&'static Slot> {
    CURSOR.with(|cursor| {
        let mut start = cursor.get();
        if start == usize::MAX {
            start = NEXT_START.fetch_add(SLOTS / 16, Ordering::Relaxed);
        }
        let start = start % SLOTS;
        for i in 0..PROBES {
            let idx = (start + i) % SLOTS;
            let slot = &POOL[idx];
            if slot
                .handles
                .compare_exchange(0, 2, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                slot.bytes.store(0, Ordering::Relaxed);
                cursor.set(idx + 1);
                return Some(slot);
            }
        }
        // Busy here: look elsewhere next time.
        cursor.set(start + PROBES * 7);
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn both_handles_see_the_same_count() {
        let (body, guard) = ByteCounter::pair();
        body.add(5);
        body.add(7);
        assert_eq!(guard.get(), 12);
    }

    #[test]
    fn a_reused_slot_starts_at_zero() {
        let (a, b) = ByteCounter::pair();
        a.add(100);
        drop((a, b));
        // The thread's cursor moved on; take enough pairs to wrap onto slots
        // used before, each released before the next is taken.
        for _ in 0..2 * SLOTS {
            let (x, y) = ByteCounter::pair();
            assert_eq!(y.get(), 0);
            x.add(1);
        }
    }

    #[test]
    fn a_slot_is_not_reused_while_one_handle_lives() {
        let (body, guard) = ByteCounter::pair();
        drop(guard);
        body.add(3);
        let mut others = Vec::new();
        for _ in 0..SLOTS {
            let (x, y) = ByteCounter::pair();
            x.add(1000);
            others.push((x, y));
        }
        assert_eq!(body.get(), 3);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Open,
        Add(usize, u64),
        DropBody(usize),
        DropGuard(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Open),
            (any::<usize>(), 0u64..10_000).prop_map(|(i, n)| Op::Add(i, n)),
            any::<usize>().prop_map(Op::DropBody),
            any::<usize>().prop_map(Op::DropGuard),
        ]
    }

    proptest! {
        /// Whatever the order in which counters are opened, counted and
        /// released, each guard reads exactly what its own body counted: a
        /// slot is never shared by two live requests.
        #[test]
        fn each_guard_reads_exactly_its_own_bodys_bytes(ops in proptest::collection::vec(op(), 1..400)) {
            // (body handle, guard handle, bytes counted through the body)
            let mut live: Vec<(Option<ByteCounter>, Option<ByteCounter>, u64)> = Vec::new();
            for op in ops {
                match op {
                    Op::Open => {
                        let (b, g) = ByteCounter::pair();
                        live.push((Some(b), Some(g), 0));
                    }
                    Op::Add(i, n) if !live.is_empty() => {
                        let k = i % live.len();
                        if let Some(b) = &live[k].0 {
                            b.add(n);
                            live[k].2 += n;
                        }
                    }
                    Op::DropBody(i) if !live.is_empty() => {
                        let k = i % live.len();
                        live[k].0 = None;
                    }
                    Op::DropGuard(i) if !live.is_empty() => {
                        let k = i % live.len();
                        live[k].1 = None;
                    }
                    _ => {}
                }
                for (_, g, expected) in &live {
                    if let Some(g) = g {
                        prop_assert_eq!(g.get(), *expected);
                    }
                }
            }
        }
    }

    #[test]
    fn an_exhausted_pool_falls_back_to_the_heap() {
        let mut held = Vec::new();
        for _ in 0..2 * SLOTS {
            held.push(ByteCounter::pair());
        }
        assert!(held.iter().any(|(a, _)| !a.is_pooled()));
        for (a, b) in &held {
            a.add(2);
            assert_eq!(b.get(), 2);
        }
    }
}
