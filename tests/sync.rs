//! The sync primitives (local and thread-safe forms), JoinSet, yield_now and
//! CancellationToken, under both drivers: limits hold, waiters dropped at every point lose no
//! wake-up, and wakes from another executor's thread arrive.

mod support;

use corio::sync::{self, broadcast, local, mpsc, watch, CancellationToken};
use corio::task::{yield_now, JoinSet};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use support::run_test;

/// A waker that counts its wakes.
#[derive(Default)]
struct Flag(AtomicUsize);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn flag() -> (Arc<Flag>, Waker) {
    let f = Arc::new(Flag::default());
    (f.clone(), Waker::from(f))
}

fn poll<F: Future + ?Sized>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(w))
}

#[test]
fn a_semaphore_limits_concurrency_in_both_forms() {
    run_test(|| async {
        let shared = Arc::new(sync::Semaphore::new(3));
        let local = Rc::new(local::Semaphore::new(3));
        let inside = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));
        let mut set = JoinSet::new();
        for i in 0..20 {
            let (shared, local, inside, peak) =
                (shared.clone(), local.clone(), inside.clone(), peak.clone());
            set.spawn(async move {
                let _a = shared.acquire_owned().await.unwrap();
                let _b = local.acquire().await.unwrap();
                inside.set(inside.get() + 1);
                peak.set(peak.get().max(inside.get()));
                corio::time::sleep(Duration::from_millis(1 + i % 3)).await;
                inside.set(inside.get() - 1);
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        assert_eq!(peak.get(), 3);
        assert_eq!(shared.available_permits(), 3);
        assert_eq!(local.available_permits(), 3);
    });
}

#[test]
fn a_granted_acquire_dropped_before_its_poll_passes_the_permit_on() {
    // Stepped by hand: A waits, B waits; the permit goes to A (woken), A is dropped unpolled:
    // B must be woken and get it.
    fn check<F: sync::Family>() {
        let sem = sync::generic::Semaphore::<F>::new(1);
        let held = sem.try_acquire().unwrap();
        let (fa, wa) = flag();
        let (fb, wb) = flag();
        let mut a = Box::pin(sem.acquire());
        let mut b = Box::pin(sem.acquire());
        assert!(poll(a.as_mut(), &wa).is_pending());
        assert!(poll(b.as_mut(), &wb).is_pending());
        drop(held);
        assert_eq!(fa.0.load(Ordering::SeqCst), 1, "A is first in line");
        assert_eq!(fb.0.load(Ordering::SeqCst), 0);
        drop(a);
        assert_eq!(fb.0.load(Ordering::SeqCst), 1, "B woken by A's drop");
        let Poll::Ready(Ok(p)) = poll(b.as_mut(), &wb) else {
            panic!("B did not get the permit");
        };
        drop(p);
        assert_eq!(sem.available_permits(), 1);
    }
    check::<sync::Local>();
    check::<sync::Shared>();
}

#[test]
fn a_big_acquire_dropped_at_the_front_lets_the_small_ones_behind_it_go() {
    let sem = local::Semaphore::new(1);
    let (_, wa) = flag();
    let (fb, wb) = flag();
    let mut big = Box::pin(sem.acquire_many(2));
    let mut small = Box::pin(sem.acquire());
    assert!(poll(big.as_mut(), &wa).is_pending());
    assert!(
        poll(small.as_mut(), &wb).is_pending(),
        "FIFO: behind the big one"
    );
    drop(big);
    assert_eq!(fb.0.load(Ordering::SeqCst), 1);
    assert!(poll(small.as_mut(), &wb).is_ready());
}

/// A loom-style check by random interleaving: acquires are polled, dropped and released in a
/// random order under seeded xorshift; at the end, every acquire still pending must be
/// completed by following wakes alone. A lost wake-up leaves one pending and unwoken.
#[test]
fn random_interleavings_of_acquire_drop_and_release_lose_no_wake_up() {
    fn run<F: sync::Family>(seed: u64) {
        let mut x = seed | 1;
        let mut rand = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let permits = 1 + rand(3);
        let sem = sync::generic::Semaphore::<F>::new(permits);
        type Acq<'a, F> = Pin<
            Box<
                dyn Future<
                        Output = Result<sync::generic::SemaphorePermit<'a, F>, sync::AcquireError>,
                    > + 'a,
            >,
        >;
        let mut pending: Vec<(Acq<'_, F>, Arc<Flag>, Waker)> = Vec::new();
        let mut held = Vec::new();
        for _ in 0..200 {
            match rand(5) {
                0 | 1 => {
                    let (f, w) = flag();
                    let n = 1 + rand(permits);
                    pending.push((Box::pin(sem.acquire_many(n)), f, w));
                }
                2 if !pending.is_empty() => {
                    let i = rand(pending.len());
                    let (fut, _, w) = &mut pending[i];
                    if let Poll::Ready(p) = poll(fut.as_mut(), w) {
                        held.push(p.unwrap());
                        drop(pending.swap_remove(i));
                    }
                }
                3 if !pending.is_empty() => {
                    let i = rand(pending.len());
                    drop(pending.swap_remove(i));
                }
                4 if !held.is_empty() => {
                    let i = rand(held.len());
                    drop(held.swap_remove(i));
                }
                _ => {}
            }
            let out: usize = held.iter().map(|p| p.num_permits()).sum();
            assert!(
                out + sem.available_permits() <= permits,
                "seed {seed}: permits overdrawn"
            );
        }
        held.clear();
        // Poll everything once (registering the never-polled), then follow wakes only.
        let mut i = 0;
        while i < pending.len() {
            let (fut, _, w) = &mut pending[i];
            match poll(fut.as_mut(), w) {
                Poll::Ready(p) => drop(p.unwrap()),
                Poll::Pending => {
                    i += 1;
                    continue;
                }
            }
            drop(pending.swap_remove(i));
        }
        while !pending.is_empty() {
            let woken = pending
                .iter()
                .position(|(_, f, _)| f.0.swap(0, Ordering::SeqCst) > 0);
            let Some(i) = woken else {
                panic!(
                    "seed {seed}: {} acquires pending, none woken, {} of {permits} permits free: a lost wake-up",
                    pending.len(),
                    sem.available_permits()
                );
            };
            let (fut, _, w) = &mut pending[i];
            if let Poll::Ready(p) = poll(fut.as_mut(), w) {
                drop(p.unwrap());
                drop(pending.swap_remove(i));
            }
        }
        assert_eq!(sem.available_permits(), permits, "seed {seed}");
    }
    for seed in 1..=300 {
        run::<sync::Local>(seed);
        run::<sync::Shared>(seed);
    }
}

/// The same kind of check for Notify, against a model: waiters are made, polled and dropped at
/// random between `notify_one` calls. A `notify_one` while some registered waiter holds no
/// notification must give one to exactly one more waiter (its waker fires); dropping a waiter
/// that holds one must hand it to another waiting one. A notification swallowed by a dropped
/// waiter shows as one holder fewer.
#[test]
fn random_interleavings_of_notify_and_drop_lose_no_notification() {
    struct W<'a, F: sync::Family> {
        fut: Pin<Box<sync::Notified<'a, F>>>,
        flag: Arc<Flag>,
        waker: Waker,
        registered: bool,
    }
    fn holders<F: sync::Family>(ws: &[W<'_, F>]) -> (usize, usize) {
        let reg = ws.iter().filter(|w| w.registered).count();
        let hold = ws
            .iter()
            .filter(|w| w.registered && w.flag.0.load(Ordering::SeqCst) > 0)
            .count();
        (reg, hold)
    }
    fn run<F: sync::Family>(seed: u64) {
        let mut x = seed | 1;
        let mut rand = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let n = sync::generic::Notify::<F>::new();
        let mut ws: Vec<W<'_, F>> = Vec::new();
        for step in 0..300 {
            match rand(4) {
                0 => {
                    let (flag, waker) = flag();
                    ws.push(W {
                        fut: Box::pin(n.notified()),
                        flag,
                        waker,
                        registered: false,
                    });
                }
                1 if !ws.is_empty() => {
                    let i = rand(ws.len());
                    let w = &mut ws[i];
                    if poll(w.fut.as_mut(), &w.waker).is_ready() {
                        drop(ws.swap_remove(i));
                    } else {
                        w.registered = true;
                        w.flag.0.store(0, Ordering::SeqCst);
                    }
                }
                2 if !ws.is_empty() => {
                    let i = rand(ws.len());
                    let (reg, hold) = holders(&ws);
                    let was_holder = ws[i].registered && ws[i].flag.0.load(Ordering::SeqCst) > 0;
                    drop(ws.swap_remove(i));
                    if was_holder && reg - hold > 0 {
                        assert_eq!(
                            holders(&ws).1,
                            hold,
                            "seed {seed} step {step}: a dropped holder's notification was lost"
                        );
                    }
                }
                _ => {
                    let (reg, hold) = holders(&ws);
                    n.notify_one();
                    if reg > hold {
                        assert_eq!(
                            holders(&ws).1,
                            hold + 1,
                            "seed {seed} step {step}: notify_one reached nobody"
                        );
                    }
                }
            }
        }
    }
    for seed in 1..=300 {
        run::<sync::Local>(seed);
        run::<sync::Shared>(seed);
    }
}

#[test]
fn a_notification_given_to_a_dropped_waiter_goes_to_the_next() {
    fn check<F: sync::Family>() {
        let n = sync::generic::Notify::<F>::new();
        let (_, wa) = flag();
        let (fb, wb) = flag();
        let mut a = Box::pin(n.notified());
        let mut b = Box::pin(n.notified());
        assert!(poll(a.as_mut(), &wa).is_pending());
        assert!(poll(b.as_mut(), &wb).is_pending());
        n.notify_one();
        drop(a);
        assert_eq!(fb.0.load(Ordering::SeqCst), 1);
        assert!(poll(b.as_mut(), &wb).is_ready());
        // With nobody waiting, a dropped chosen waiter leaves the permit behind.
        let mut c = Box::pin(n.notified());
        assert!(poll(c.as_mut(), &wa).is_pending());
        n.notify_one();
        drop(c);
        let mut d = Box::pin(n.notified());
        assert!(poll(d.as_mut(), &wa).is_ready(), "the permit was kept");
        // notify_waiters stores nothing.
        n.notify_waiters();
        let mut e = Box::pin(n.notified());
        assert!(poll(e.as_mut(), &wa).is_pending());
    }
    check::<sync::Local>();
    check::<sync::Shared>();
}

#[test]
fn shared_primitives_wake_tasks_on_another_executor() {
    run_test(|| async {
        let sem = Arc::new(sync::Semaphore::new(0));
        let notify = Arc::new(sync::Notify::new());
        let token = CancellationToken::new();
        let (wtx, mut wrx) = watch::channel(0u32);
        let (btx, mut brx) = broadcast::channel::<u32>(4);
        let (s, n, t) = (sem.clone(), notify.clone(), token.child_token());
        let builder = support::builder();
        let other = std::thread::spawn(move || {
            let rt = builder.build().unwrap();
            rt.block_on(async move {
                corio::time::sleep(Duration::from_millis(20)).await;
                s.add_permits(1);
                n.notify_one();
                wtx.send(7).unwrap();
                btx.send(9).unwrap();
                corio::time::sleep(Duration::from_millis(20)).await;
                assert!(!t.is_cancelled());
                t.cancelled().await; // woken from this thread's runtime, by the other
            })
        });
        sem.acquire().await.unwrap().forget();
        notify.notified().await;
        wrx.changed().await.unwrap();
        assert_eq!(*wrx.borrow_and_update(), 7);
        assert_eq!(brx.recv().await, Ok(9));
        corio::time::sleep(Duration::from_millis(40)).await;
        token.cancel();
        blocking_join(other).await;
    });
}

#[test]
fn many_waiters_dropped_by_timeouts_across_threads_lose_no_permit() {
    // Randomized, real threads: four executors race to take 2 permits with short timeouts
    // (dropping the waits at every point); the count stays within bounds and ends whole.
    run_test(|| async {
        let sem = Arc::new(sync::Semaphore::new(2));
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3u64)
            .map(|t| {
                let (sem, inside, builder) = (sem.clone(), inside.clone(), support::builder());
                std::thread::spawn(move || {
                    builder.build().unwrap().block_on(async move {
                        let mut x = t * 7919 + 1;
                        for _ in 0..200 {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            let wait = Duration::from_micros(x % 300);
                            if let Ok(p) = corio::time::timeout(wait, sem.acquire()).await {
                                let p = p.unwrap();
                                assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
                                if x % 2 == 0 {
                                    yield_now().await;
                                }
                                inside.fetch_sub(1, Ordering::SeqCst);
                                drop(p);
                            }
                        }
                    })
                })
            })
            .collect();
        for t in threads {
            blocking_join(t).await;
        }
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn a_mutex_serializes_across_awaits_and_an_rwlock_does_not_starve_its_writer() {
    run_test(|| async {
        let m = Rc::new(local::Mutex::new(Vec::new()));
        let mut set = JoinSet::new();
        for i in 0..5 {
            let m = m.clone();
            set.spawn(async move {
                let mut g = m.lock().await;
                g.push(i);
                yield_now().await; // held across an await: nobody else gets in
                g.push(i);
            });
        }
        while set.join_next().await.is_some() {}
        let v = m.lock().await.clone();
        assert!(v.chunks(2).all(|c| c[0] == c[1]), "{v:?}");

        let lock = Rc::new(sync::RwLock::new(0));
        let r1 = lock.read().await;
        let l = lock.clone();
        let writer = corio::spawn(async move { *l.write().await += 1 });
        yield_now().await;
        assert!(
            lock.try_read().is_none(),
            "a reader behind the waiting writer waits"
        );
        drop(r1);
        writer.await.unwrap();
        assert_eq!(*lock.read().await, 1);
        let shared = Arc::new(sync::Mutex::new(0u64));
        let s = shared.clone();
        let builder = support::builder();
        let t = std::thread::spawn(move || {
            builder.build().unwrap().block_on(async move {
                for _ in 0..1000 {
                    *s.lock().await += 1;
                }
            })
        });
        for _ in 0..1000 {
            *shared.lock().await += 1;
            if shared.try_lock().is_some() {
                yield_now().await;
            }
        }
        blocking_join(t).await;
        assert_eq!(*shared.lock().await, 2000);
    });
}

#[test]
fn a_barrier_round_needs_everyone_and_a_dropped_wait_takes_its_arrival_back() {
    run_test(|| async {
        let b = Rc::new(local::Barrier::new(2));
        let early = corio::time::timeout(Duration::from_millis(10), b.wait()).await;
        assert!(early.is_err(), "one of two cannot pass");
        // The dropped wait did not count: two more arrivals are needed, not one.
        let b2 = b.clone();
        let first = corio::spawn(async move { b2.wait().await.is_leader() });
        yield_now().await;
        assert!(!first.is_finished());
        let second = b.wait().await.is_leader();
        assert!(first.await.unwrap() ^ second, "exactly one leader");
        let shared = sync::Barrier::new(1);
        assert!(shared.wait().await.is_leader());
    });
}

#[test]
fn watch_coalesces_changes_and_reports_the_sender_gone() {
    run_test(|| async {
        let (tx, mut rx) = local::watch::channel(1);
        let mut rx2 = tx.subscribe();
        tx.send(2).unwrap();
        tx.send(3).unwrap();
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), 3);
        assert!(!rx.has_changed().unwrap());
        // A changed() dropped while waiting leaves nothing behind.
        assert!(corio::time::timeout(Duration::from_millis(5), rx.changed())
            .await
            .is_err());
        tx.send_modify(|v| *v += 1);
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 4);
        rx2.changed().await.unwrap();
        drop(tx);
        assert!(rx.changed().await.is_err());
        let (tx, rx) = watch::channel(0);
        drop(rx);
        assert_eq!(tx.send(1), Err(watch::SendError(1)));
    });
}

#[test]
fn broadcast_delivers_to_every_receiver_and_reports_lag() {
    run_test(|| async {
        let (tx, mut a) = local::broadcast::channel(2);
        let mut b = tx.subscribe();
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        assert_eq!(a.recv().await, Err(local::broadcast::RecvError::Lagged(1)));
        assert_eq!(a.recv().await, Ok(1));
        assert_eq!(a.recv().await, Ok(2));
        assert_eq!(a.try_recv(), Err(local::broadcast::TryRecvError::Empty));
        assert_eq!(b.try_recv(), Err(local::broadcast::TryRecvError::Lagged(1)));
        let waiting = corio::spawn(async move { a.recv().await });
        yield_now().await;
        tx.send(5).unwrap();
        assert_eq!(waiting.await.unwrap(), Ok(5));
        drop(tx);
        // The ring (2 values) moved on again: b lost 1 as well.
        assert_eq!(b.recv().await, Err(local::broadcast::RecvError::Lagged(1)));
        assert_eq!(b.recv().await, Ok(2));
        assert_eq!(b.recv().await, Ok(5));
        assert_eq!(b.recv().await, Err(local::broadcast::RecvError::Closed));
    });
}

#[test]
fn cancelling_a_token_cancels_its_children_not_its_parent() {
    run_test(|| async {
        let root = CancellationToken::new();
        let child = root.child_token();
        let grandchild = child.child_token();
        let sibling = root.child_token();
        let waiting = corio::spawn({
            let g = grandchild.clone();
            async move { g.cancelled().await }
        });
        // A cancelled() dropped while waiting leaves nothing behind.
        assert!(
            corio::time::timeout(Duration::from_millis(5), child.cancelled())
                .await
                .is_err()
        );
        child.cancel();
        waiting.await.unwrap();
        assert!(grandchild.is_cancelled() && !root.is_cancelled() && !sibling.is_cancelled());
        let guard = root.clone().drop_guard();
        drop(guard);
        assert!(sibling.is_cancelled());
        assert!(
            root.child_token().is_cancelled(),
            "a child of a cancelled token is born cancelled"
        );
    });
}

#[test]
fn a_join_set_yields_in_finish_order_and_aborts_on_drop() {
    run_test(|| async {
        let mut set = JoinSet::new();
        for ms in [30u64, 10, 20] {
            set.spawn(async move {
                corio::time::sleep(Duration::from_millis(ms)).await;
                ms
            });
        }
        let mut got = Vec::new();
        // A join_next dropped by a timeout loses no output.
        let _ = corio::time::timeout(Duration::from_millis(1), set.join_next()).await;
        while let Some(r) = set.join_next().await {
            got.push(r.unwrap());
        }
        assert_eq!(got, [10, 20, 30]);
        assert!(set.join_next().await.is_none());

        struct Dropped(Rc<Cell<bool>>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let dropped = Rc::new(Cell::new(false));
        let mut set = JoinSet::new();
        let d = Dropped(dropped.clone());
        set.spawn(async move {
            let _d = d;
            std::future::pending::<()>().await
        });
        set.spawn(async { panic!("boom") });
        let r = set.join_next().await.unwrap();
        assert!(r.unwrap_err().is_panic());
        assert_eq!(set.len(), 1);
        drop(set);
        yield_now().await;
        assert!(dropped.get(), "dropping the set aborted its task");
        let mut set = JoinSet::new();
        set.spawn(std::future::pending::<()>());
        set.shutdown().await;
        assert!(set.is_empty());
    });
}

#[test]
fn yield_now_lets_queued_tasks_run() {
    run_test(|| async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let _t = corio::spawn(async move { r.set(true) });
        assert!(!ran.get());
        yield_now().await;
        assert!(ran.get());
    });
}

#[test]
fn try_recv_tells_empty_from_disconnected() {
    run_test(|| async {
        let (tx, mut rx) = mpsc::unbounded::<u8>();
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
    });
}

/// Joins a thread without blocking the executor; its panic fails the test.
async fn blocking_join(t: std::thread::JoinHandle<()>) {
    corio::spawn_blocking(move || t.join())
        .await
        .unwrap()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
}
