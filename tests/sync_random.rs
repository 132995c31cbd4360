//! Randomized interleavings of watch, broadcast and barrier, in both forms, with real tasks on
//! a runtime (both drivers): a seeded script sends, yields, starts receivers or waiters and
//! aborts them while they are parked (their wait dropped mid-flight), and after every settle
//! checks the channel against a model. A lost wake-up shows as a receiver that never catches
//! up, or a full barrier round that never releases.

mod support;

use corio::sync::{self, broadcast, generic::Barrier, watch, Family};
use corio::task::{yield_now, JoinHandle};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use support::run_test;

/// Scripts per form and primitive.
const SEEDS: u64 = 60;
/// Steps per script.
const STEPS: usize = 200;

/// A seeded xorshift: `rand(n)` is in `0..n`.
fn rng(seed: u64) -> impl FnMut(usize) -> usize {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    }
}

/// Yields until `done` holds, at most 200 times; whether it held.
async fn settle(done: impl Fn() -> bool) -> bool {
    for _ in 0..200 {
        if done() {
            return true;
        }
        yield_now().await;
    }
    done()
}

/// watch: every live receiver ends up having seen the last value sent, whatever was sent,
/// aborted or subscribed in between.
async fn watch_script<F: Family>(
    seed: u64,
    (tx, rx): (watch::Sender<u64, F>, watch::Receiver<u64, F>),
) {
    let mut rand = rng(seed);
    let mut sent = 0u64;
    let mut live: Vec<(JoinHandle<()>, Rc<Cell<u64>>)> = Vec::new();
    let start = |mut rx: watch::Receiver<u64, F>| {
        let last = Rc::new(Cell::new(*rx.borrow()));
        let l = last.clone();
        let task = corio::spawn(async move {
            while rx.changed().await.is_ok() {
                l.set(*rx.borrow_and_update());
            }
        });
        (task, last)
    };
    live.push(start(rx));
    for step in 0..STEPS {
        match rand(6) {
            0..=2 => {
                sent += 1;
                tx.send(sent).unwrap();
            }
            3 if !live.is_empty() => {
                // Parked in changed() or about to be woken: the wait is dropped either way.
                let (task, _) = live.swap_remove(rand(live.len()));
                task.abort();
            }
            4 => live.push(start(tx.subscribe())),
            _ => {
                let caught_up = settle(|| live.iter().all(|(_, l)| l.get() == sent)).await;
                let seen: Vec<u64> = live.iter().map(|(_, l)| l.get()).collect();
                assert!(
                    caught_up,
                    "seed {seed} step {step}: sent {sent}, receivers saw {seen:?}: a lost wake-up"
                );
            }
        }
    }
    drop(tx);
    for (task, _) in live {
        task.await.unwrap();
    }
}

/// What a broadcast receiver task saw: the value it expects next, and a broken rule if any.
#[derive(Default)]
struct Seen {
    next: Cell<u64>,
    broken: RefCell<Option<String>>,
}

/// broadcast: values come in order, every gap is announced by exactly its `Lagged(n)`, and
/// every live receiver ends up past the last value sent.
async fn broadcast_script<F: Family>(
    seed: u64,
    (tx, rx): (broadcast::Sender<u64, F>, broadcast::Receiver<u64, F>),
) {
    let mut rand = rng(seed);
    let mut sent = 0u64;
    let mut live: Vec<(JoinHandle<()>, Rc<Seen>)> = Vec::new();
    let start = |mut rx: broadcast::Receiver<u64, F>, next: u64| {
        let seen = Rc::new(Seen::default());
        seen.next.set(next);
        let s = seen.clone();
        let task = corio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(v) if v == s.next.get() => s.next.set(v + 1),
                    Ok(v) => {
                        *s.broken.borrow_mut() =
                            Some(format!("got {v}, expected {}", s.next.get()));
                        return;
                    }
                    Err(broadcast::RecvError::Lagged(n)) => s.next.set(s.next.get() + n),
                    Err(_) => return,
                }
            }
        });
        (task, seen)
    };
    live.push(start(rx, 1));
    for step in 0..STEPS {
        match rand(6) {
            0..=2 => {
                sent += 1;
                tx.send(sent).unwrap();
            }
            3 if live.len() > 1 => {
                let (task, _) = live.swap_remove(rand(live.len()));
                task.abort();
            }
            4 => live.push(start(tx.subscribe(), sent + 1)),
            _ => {
                let caught_up = settle(|| {
                    live.iter()
                        .all(|(_, s)| s.next.get() == sent + 1 || s.broken.borrow().is_some())
                })
                .await;
                for (_, s) in &live {
                    assert_eq!(*s.broken.borrow(), None, "seed {seed} step {step}");
                }
                let next: Vec<u64> = live.iter().map(|(_, s)| s.next.get()).collect();
                assert!(
                    caught_up,
                    "seed {seed} step {step}: sent {sent}, receivers expect {next:?}: a lost wake-up"
                );
            }
        }
    }
    drop(tx);
    for (task, seen) in live {
        task.await.unwrap();
        assert_eq!(*seen.broken.borrow(), None, "seed {seed}");
    }
}

/// barrier: a round releases exactly when its last party arrives, a wait dropped while parked
/// takes its arrival back, and each round has one leader.
async fn barrier_script<F: Family + 'static>(seed: u64) {
    let mut rand = rng(seed);
    let parties = 2 + rand(3);
    let barrier = Rc::new(Barrier::<F>::new(parties));
    let passed = Rc::new(Cell::new(0usize));
    let leaders = Rc::new(Cell::new(0usize));
    let mut waiting: Vec<JoinHandle<()>> = Vec::new();
    for step in 0..STEPS {
        if rand(3) > 0 {
            let (b, p, l) = (barrier.clone(), passed.clone(), leaders.clone());
            waiting.push(corio::spawn(async move {
                if b.wait().await.is_leader() {
                    l.set(l.get() + 1);
                }
                p.set(p.get() + 1);
            }));
            continue;
        }
        // Settled: every released waiter has run (passes match rounds), and fewer than a
        // round are parked; a round that never released would keep `parties` parked.
        let settled = settle(|| {
            let parked = waiting.iter().filter(|t| !t.is_finished()).count();
            passed.get() == leaders.get() * parties && parked < parties
        })
        .await;
        waiting.retain(|t| !t.is_finished());
        assert!(
            settled,
            "seed {seed} step {step}: {} parked at a barrier of {parties}, {} passed in {} rounds",
            waiting.len(),
            passed.get(),
            leaders.get()
        );
        if !waiting.is_empty() && rand(2) == 0 {
            // A parked wait dropped: its arrival is taken back, so the round needs one more
            // (were it counted, a later round would release one party short: passes would
            // fall behind rounds).
            let task = waiting.swap_remove(rand(waiting.len()));
            task.abort();
            assert!(
                task.await.is_err(),
                "seed {seed} step {step}: an aborted wait passed"
            );
        }
    }
}

#[test]
fn watch_survives_random_sends_aborts_and_subscriptions() {
    run_test(|| async {
        for seed in 1..=SEEDS {
            watch_script::<sync::Shared>(seed, watch::channel(0)).await;
            watch_script::<sync::Local>(seed, sync::local::watch::channel(0)).await;
        }
    });
}

#[test]
fn broadcast_survives_random_sends_aborts_and_subscriptions() {
    run_test(|| async {
        for seed in 1..=SEEDS {
            let capacity = 1 + (seed as usize % 4);
            broadcast_script::<sync::Shared>(seed, broadcast::channel(capacity)).await;
            broadcast_script::<sync::Local>(seed, sync::local::broadcast::channel(capacity)).await;
        }
    });
}

#[test]
fn barrier_survives_random_arrivals_and_dropped_waits() {
    run_test(|| async {
        for seed in 1..=SEEDS {
            barrier_script::<sync::Shared>(seed).await;
            barrier_script::<sync::Local>(seed).await;
        }
    });
}
