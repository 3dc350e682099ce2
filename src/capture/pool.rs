//! The capture pool: boxes the worker has read, handed back to the request
//! path to fill again, so that in steady state no request allocates.

use std::sync::{Mutex, MutexGuard, TryLockError};

use crossbeam_queue::ArrayQueue;

use super::{Capture, TEXT_CAPACITY};

/// Boxes made up front for the capture pool: enough for the requests in
/// flight and the records of the millisecond a busy worker parks for. A
/// burst beyond them allocates more boxes, which then stay in the pool.
pub(crate) const PREFILLED_BOXES: usize = 256;

/// The most boxes the pool keeps in its most-recent-first stack; boxes
/// beyond it wait in the overflow queue.
const HOT_BOXES: usize = 1024;

/// Boxes the pool keeps in its overflow queue for a request that finds the
/// stack held (by a request on another thread, or by the worker giving
/// boxes back), so that it takes one of these rather than allocating.
const SPARE_BOXES: usize = 16;

/// A capture on the heap, so the request path moves one pointer around
/// instead of the whole capture (request future, response body, queue).
pub(crate) type CaptureBox = Box<Capture>;

/// Capture boxes the worker has read, for the request path to fill again.
///
/// The boxes come back most recently read first. The worker has just
/// touched those, so the request path writes a capture that is still in the
/// CPU's caches; an oldest-first queue handed out boxes read a whole worker
/// round earlier, which a busy server had pushed out of the caches by then
/// (writing the capture's fields was then the request path's largest cost).
///
/// Neither side ever waits for the other: the stack is only taken with
/// `try_lock` (so its lock is never contended-for, and releasing it never
/// wakes anyone), and whoever finds it busy uses the lock-free overflow
/// queue instead, which keeps a few spare boxes for that, so a request that
/// finds the stack held does not allocate a new box.
#[derive(Debug)]
pub(crate) struct BoxPool {
    hot: Mutex<Vec<CaptureBox>>,
    /// The most boxes `hot` keeps.
    hot_limit: usize,
    overflow: ArrayQueue<CaptureBox>,
    /// How many boxes `give_back` keeps in `overflow`.
    spares: usize,
}

impl BoxPool {
    /// A pool of up to [`HOT_BOXES`] boxes in its stack and `capacity` in its
    /// overflow queue, `PREFILLED_BOXES` of them made now.
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_limits(PREFILLED_BOXES.min(capacity.max(1)), HOT_BOXES, capacity, SPARE_BOXES)
    }

    /// A pool with `prefilled` boxes, `spares` of them in an overflow queue of
    /// `overflow` (at least one) and the rest in a stack of at most `hot_limit`.
    fn with_limits(prefilled: usize, hot_limit: usize, overflow: usize, spares: usize) -> Self {
        let overflow = ArrayQueue::new(overflow.max(1));
        let spares = spares.min(overflow.capacity());
        let new_box = || Box::new(Capture::with_capacity(TEXT_CAPACITY));
        for _ in 0..spares.min(prefilled) {
            let _ = overflow.push(new_box());
        }
        let mut hot = Vec::with_capacity(hot_limit);
        hot.extend((0..prefilled.saturating_sub(spares).min(hot_limit)).map(|_| new_box()));
        BoxPool {
            hot: Mutex::new(hot),
            hot_limit,
            overflow,
            spares,
        }
    }

    /// The stack, unless someone else holds it right now.
    fn try_hot(&self) -> Option<MutexGuard<'_, Vec<CaptureBox>>> {
        match self.hot.try_lock() {
            Ok(hot) => Some(hot),
            // Nothing panics while holding it; the boxes are fine either way.
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// The most recently returned box, if the pool has one.
    #[inline]
    pub(crate) fn take(&self) -> Option<CaptureBox> {
        if let Some(raw) = self.try_hot().and_then(|mut hot| hot.pop()) {
            return Some(raw);
        }
        self.overflow.pop()
    }

    /// Returns `boxes` (oldest first, so the last one is handed out next);
    /// leaves `boxes` empty. Boxes neither the stack nor the overflow queue
    /// has room for are freed.
    pub(crate) fn give_back(&self, boxes: &mut Vec<CaptureBox>) {
        if boxes.is_empty() {
            return;
        }
        if let Some(mut hot) = self.try_hot() {
            // The oldest go to the overflow queue: to keep its spares, and
            // what the stack has no room for.
            let room = self.hot_limit.saturating_sub(hot.len());
            let spares = self.spares.saturating_sub(self.overflow.len());
            let cold = boxes.len().saturating_sub(room).max(spares).min(boxes.len());
            for raw in boxes.drain(..cold) {
                let _ = self.overflow.push(raw);
            }
            hot.append(boxes);
            return;
        }
        for raw in boxes.drain(..) {
            let _ = self.overflow.push(raw);
        }
    }

    /// Returns one box.
    #[inline]
    pub(crate) fn put(&self, raw: CaptureBox) {
        let _ = self.overflow.push(raw);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn new_box() -> CaptureBox {
        Box::new(Capture::with_capacity(16))
    }

    /// Where a box lives: its identity across the pool.
    fn id(raw: &CaptureBox) -> *const Capture {
        &**raw
    }

    /// Gives `n` new boxes back to `pool` as the worker does after reading
    /// them; their identities, oldest first.
    fn give_back_new(pool: &BoxPool, n: usize) -> Vec<*const Capture> {
        let mut read: Vec<_> = (0..n).map(|_| new_box()).collect();
        let ids = read.iter().map(id).collect();
        pool.give_back(&mut read);
        assert!(read.is_empty());
        ids
    }

    #[test]
    fn the_box_read_last_is_handed_out_first() {
        let pool = BoxPool::with_limits(0, 8, 8, 0);
        let ids = give_back_new(&pool, 3);
        let out: Vec<_> = (0..3).filter_map(|_| pool.take()).map(|b| id(&b)).collect();
        assert_eq!(out, [ids[2], ids[1], ids[0]]);
        assert!(pool.take().is_none());
    }

    #[test]
    fn a_busy_stack_sends_boxes_to_the_overflow_queue_and_neither_side_waits() {
        let pool = BoxPool::with_limits(1, 8, 8, 0);
        let held = pool.hot.lock().unwrap_or_else(|p| p.into_inner());
        let ids = give_back_new(&pool, 2);
        // The stack's box is out of reach while it is held; the overflow
        // queue hands out its boxes oldest first.
        let out: Vec<_> = (0..2).filter_map(|_| pool.take()).map(|b| id(&b)).collect();
        assert_eq!(out, ids);
        assert!(pool.take().is_none());
        drop(held);
        assert!(
            pool.take().is_some(),
            "the prefilled box is there once the stack is free"
        );
    }

    #[test]
    fn a_full_stack_keeps_the_newest_boxes_and_the_rest_overflow_or_are_freed() {
        let pool = BoxPool::with_limits(0, 2, 1, 0);
        let ids = give_back_new(&pool, 4);
        // The two newest in the stack, the oldest in the overflow queue, the
        // second oldest freed (no room anywhere).
        let out: Vec<_> = std::iter::from_fn(|| pool.take()).map(|b| id(&b)).collect();
        assert_eq!(out, [ids[3], ids[2], ids[0]]);
    }

    #[test]
    fn a_request_that_finds_the_stack_held_takes_a_spare_box_rather_than_a_new_one() {
        let pool = BoxPool::with_limits(0, 8, 8, 2);
        let ids = give_back_new(&pool, 5);
        let held = pool.hot.lock().unwrap_or_else(|p| p.into_inner());
        // The two oldest were kept as spares.
        let out: Vec<_> = (0..3).filter_map(|_| pool.take()).map(|b| id(&b)).collect();
        assert_eq!(out, [ids[0], ids[1]]);
        drop(held);
        assert_eq!(pool.take().map(|b| id(&b)), Some(ids[4]));
        // Given back again, spent spares are made up first.
        let refill = give_back_new(&pool, 3);
        let held = pool.hot.lock().unwrap_or_else(|p| p.into_inner());
        let out: Vec<_> = (0..3).filter_map(|_| pool.take()).map(|b| id(&b)).collect();
        assert_eq!(out, [refill[0], refill[1]]);
        drop(held);
        // A new pool starts with its spares.
        let pool = BoxPool::with_limits(4, 8, 8, 2);
        let _held = pool.hot.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!((0..3).filter_map(|_| pool.take()).count(), 2);
    }

    #[test]
    fn boxes_taken_and_given_back_from_several_threads_are_all_kept() {
        const PREFILLED: usize = 32;
        // Room for every box that could ever be made: none is freed.
        let pool = BoxPool::with_limits(PREFILLED, 64, 10_000 + PREFILLED, 4);
        let made = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            // Two request threads take a box each round (or make one), and
            // hand it to a worker thread, which gives boxes back in batches.
            let (tx, rx) = std::sync::mpsc::channel::<CaptureBox>();
            for _ in 0..2 {
                let tx = tx.clone();
                let (pool, made) = (&pool, &made);
                s.spawn(move || {
                    for _ in 0..5_000 {
                        let raw = pool.take().unwrap_or_else(|| {
                            made.fetch_add(1, Relaxed);
                            new_box()
                        });
                        let _ = tx.send(raw);
                    }
                });
            }
            drop(tx);
            let pool = &pool;
            s.spawn(move || {
                let mut read = Vec::new();
                for raw in rx {
                    read.push(raw);
                    if read.len() == 8 {
                        pool.give_back(&mut read);
                    }
                }
                pool.give_back(&mut read);
            });
        });
        let kept = {
            let _held = pool.hot.lock().unwrap_or_else(|p| p.into_inner());
            std::iter::from_fn(|| pool.take()).count()
        } + pool.hot.lock().unwrap_or_else(|p| p.into_inner()).len();
        assert_eq!(kept, PREFILLED + made.load(Relaxed));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Take,
        /// Give back this many of the boxes taken so far (oldest taken first).
        GiveBack(usize),
        /// The same while the stack is held by someone else.
        GiveBackBusy(usize),
        TakeBusy,
        /// Return one box the way a full hand-off queue does.
        Put,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Take),
            3 => (0usize..6).prop_map(Op::GiveBack),
            1 => (0usize..6).prop_map(Op::GiveBackBusy),
            1 => Just(Op::TakeBusy),
            1 => Just(Op::Put),
        ]
    }

    proptest! {
        /// Against a model (a stack and a queue): every box taken is the one
        /// the model says, and no box is lost or handed out twice while
        /// there is room for it.
        #[test]
        fn the_pool_hands_out_exactly_the_boxes_a_stack_and_a_queue_would(ops in proptest::collection::vec(op(), 1..60)) {
            const HOT: usize = 4;
            const OVERFLOW: usize = 4;
            const SPARES: usize = 1;
            let pool = BoxPool::with_limits(3, HOT, OVERFLOW, SPARES);
            let mut stack: Vec<*const Capture> = pool.hot.lock().unwrap_or_else(|p| p.into_inner()).iter().map(id).collect();
            let mut queue: VecDeque<*const Capture> = VecDeque::new();
            // The pool starts with one spare in its queue: the model's too.
            let spares: Vec<CaptureBox> = {
                let _held = pool.hot.lock().unwrap_or_else(|p| p.into_inner());
                std::iter::from_fn(|| pool.take()).collect()
            };
            prop_assert_eq!(spares.len(), SPARES);
            for spare in spares {
                queue.push_back(id(&spare));
                pool.put(spare);
            }
            let mut out: Vec<CaptureBox> = Vec::new();
            for op in ops {
                match op {
                    Op::Take | Op::TakeBusy => {
                        let held = matches!(op, Op::TakeBusy).then(|| pool.hot.lock().unwrap_or_else(|p| p.into_inner()));
                        let want = if held.is_none() { stack.pop().or_else(|| queue.pop_front()) } else { queue.pop_front() };
                        let got = pool.take();
                        drop(held);
                        prop_assert_eq!(got.as_ref().map(id), want);
                        out.extend(got);
                    }
                    Op::GiveBack(n) | Op::GiveBackBusy(n) => {
                        let n = n.min(out.len());
                        let mut back: Vec<CaptureBox> = out.drain(..n).collect();
                        let ids: Vec<_> = back.iter().map(id).collect();
                        let busy = matches!(op, Op::GiveBackBusy(_));
                        let held = busy.then(|| pool.hot.lock().unwrap_or_else(|p| p.into_inner()));
                        pool.give_back(&mut back);
                        drop(held);
                        prop_assert!(back.is_empty());
                        let cold = if busy {
                            ids.len()
                        } else {
                            ids.len().saturating_sub(HOT - stack.len()).max(SPARES.saturating_sub(queue.len())).min(ids.len())
                        };
                        let (cold, warm) = ids.split_at(cold);
                        for &c in cold {
                            if queue.len() < OVERFLOW {
                                queue.push_back(c);
                            }
                        }
                        stack.extend_from_slice(warm);
                    }
                    Op::Put => {
                        if let Some(raw) = out.pop() {
                            let i = id(&raw);
                            pool.put(raw);
                            if queue.len() < OVERFLOW {
                                queue.push_back(i);
                            }
                        }
                    }
                }
            }
        }
    }
}
