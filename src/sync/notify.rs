//! `Notify`: wake one waiting task, or all of them, without data.
//!
//! `notify_one` with nobody waiting stores one permit, which the next `notified()` takes at
//! once (so a notification sent before the waiter arrived is not lost). A notification is
//! recorded on the waiter it chose before its waker is taken; a waiter dropped after being
//! chosen by `notify_one` passes it on to the next waiter (or back as the permit), so a
//! dropped waiter never swallows a wake-up.

use super::family::Family;
use super::waiters::{wake_all, Waiters};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// `Waiter::want` of a waiter chosen by `notify_one` (to be passed on if it is dropped);
/// one woken by `notify_waiters` has `want == 0`.
const ONE: usize = 1;

pub(crate) struct State {
    permit: bool,
    waiters: Waiters,
}

impl State {
    fn notify_one(&mut self) -> Option<Waker> {
        match self.waiters.first_waiting() {
            Some((_, w)) => {
                w.granted = true;
                w.want = ONE;
                w.waker.take()
            }
            None => {
                self.permit = true;
                None
            }
        }
    }
}

/// Notify in either form; use [`corio::sync::Notify`](crate::sync::Notify) (thread-safe) or
/// [`corio::sync::local::Notify`](crate::sync::local::Notify).
///
/// ```
/// use corio::sync::Notify;
/// use std::sync::Arc;
///
/// corio::block_on(async {
///     let ready = Arc::new(Notify::new());
///     let r = ready.clone();
///     std::thread::spawn(move || r.notify_one()); // from any thread
///     ready.notified().await;
/// });
/// ```
pub struct Notify<F: Family> {
    state: F::Cell<State>,
}

impl<F: Family> Notify<F> {
    /// A `Notify` with no permit stored.
    pub fn new() -> Self {
        Notify {
            state: F::cell(State {
                permit: false,
                waiters: Waiters::default(),
            }),
        }
    }

    /// Wakes the longest-waiting `notified()`, or stores one permit if none waits (several
    /// calls store one).
    pub fn notify_one(&self) {
        let waker = F::lock(&self.state).notify_one();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wakes every `notified()` waiting now (polled at least once); stores no permit.
    pub fn notify_waiters(&self) {
        let mut wake = Vec::new();
        F::lock(&self.state).waiters.grant_all(&mut wake);
        wake_all(wake);
    }

    /// Waits for a notification. Cancel-safe: see the module docs.
    pub fn notified(&self) -> Notified<'_, F> {
        Notified {
            notify: self,
            ticket: None,
        }
    }
}

impl<F: Family> Default for Notify<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Family> fmt::Debug for Notify<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = F::lock(&self.state);
        f.debug_struct("Notify")
            .field("permit", &s.permit)
            .field("waiters", &s.waiters.len())
            .finish()
    }
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a, F: Family> {
    notify: &'a Notify<F>,
    ticket: Option<u64>,
}

impl<F: Family> Future for Notified<'_, F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = F::lock(&self.notify.state);
        let Some(ticket) = self.ticket else {
            if std::mem::take(&mut s.permit) {
                return Poll::Ready(());
            }
            let t = s.waiters.push(cx.waker(), 0);
            drop(s);
            self.ticket = Some(t);
            return Poll::Pending;
        };
        if s.waiters.get_mut(ticket).is_none_or(|w| w.granted) {
            s.waiters.remove(ticket);
            drop(s);
            self.ticket = None;
            return Poll::Ready(());
        }
        s.waiters.set_waker(ticket, cx.waker());
        Poll::Pending
    }
}

impl<F: Family> Drop for Notified<'_, F> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket else { return };
        let waker = {
            let mut s = F::lock(&self.notify.state);
            match s.waiters.remove(ticket) {
                // Chosen by notify_one and never told: the next waiter gets it.
                Some(w) if w.granted && w.want == ONE => s.notify_one(),
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<F: Family> fmt::Debug for Notified<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("waiting", &self.ticket.is_some())
            .finish()
    }
}
