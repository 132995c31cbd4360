//! `Barrier`: `n` tasks wait until all `n` have arrived, then all go on, and the barrier is
//! ready for the next round.
//!
//! Unlike tokio's, a `wait()` dropped before the round completes takes its arrival back, so a
//! cancelled participant never lets a round start one short.

use super::family::Family;
use super::waiters::{wake_all, Waiters};
use std::fmt;
use std::future::poll_fn;
use std::task::Poll;

pub(crate) struct State {
    n: usize,
    arrived: usize,
    waiters: Waiters,
}

/// A barrier in either form; use [`corio::sync::Barrier`](crate::sync::Barrier) or
/// [`corio::sync::local::Barrier`](crate::sync::local::Barrier).
///
/// ```
/// use corio::sync::local::Barrier;
/// use std::rc::Rc;
///
/// corio::block_on(async {
///     let barrier = Rc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let b = barrier.clone();
///             corio::spawn(async move { b.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for t in tasks {
///         leaders += t.await.unwrap() as usize;
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier<F: Family> {
    state: F::Cell<State>,
}

/// What `wait` returns: exactly one waiter of each round is the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for the one task whose arrival completed the round.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl<F: Family> Barrier<F> {
    /// A barrier for `n` tasks (`n == 0` behaves as 1: every `wait` returns at once, leader).
    pub fn new(n: usize) -> Self {
        Barrier {
            state: F::cell(State {
                n: n.max(1),
                arrived: 0,
                waiters: Waiters::default(),
            }),
        }
    }

    /// Arrives and waits for the rest of the round. Cancel-safe: see the module docs.
    pub async fn wait(&self) -> BarrierWaitResult {
        let mut guard = Arrival {
            barrier: self,
            ticket: None,
        };
        poll_fn(|cx| {
            let mut s = F::lock(&guard.barrier.state);
            match guard.ticket {
                None if s.arrived + 1 == s.n => {
                    s.arrived = 0;
                    let mut wake = Vec::new();
                    s.waiters.grant_all(&mut wake);
                    drop(s);
                    wake_all(wake);
                    Poll::Ready(BarrierWaitResult(true))
                }
                None => {
                    s.arrived += 1;
                    guard.ticket = Some(s.waiters.push(cx.waker(), 0));
                    Poll::Pending
                }
                Some(t) if s.waiters.get_mut(t).is_some_and(|w| w.granted) => {
                    s.waiters.remove(t);
                    guard.ticket = None;
                    Poll::Ready(BarrierWaitResult(false))
                }
                Some(t) => {
                    s.waiters.set_waker(t, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl<F: Family> fmt::Debug for Barrier<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = F::lock(&self.state);
        f.debug_struct("Barrier")
            .field("n", &s.n)
            .field("arrived", &s.arrived)
            .finish()
    }
}

/// One `wait` in progress: takes its arrival back if dropped before its round completed.
struct Arrival<'a, F: Family> {
    barrier: &'a Barrier<F>,
    ticket: Option<u64>,
}

impl<F: Family> Drop for Arrival<'_, F> {
    fn drop(&mut self) {
        let Some(t) = self.ticket else { return };
        let mut s = F::lock(&self.barrier.state);
        if let Some(w) = s.waiters.remove(t) {
            if !w.granted {
                s.arrived -= 1;
            }
        }
    }
}
