//! `watch`: one value, many readers that wait for it to change — config fan-out.
//!
//! The sender replaces the value and bumps a version; each receiver remembers the version it
//! has seen, so `changed()` returns once per change however many sends came in between, and
//! a change sent while nobody waited is not missed. Waiting receivers are woken all at once
//! (from any thread, in the thread-safe form); a dropped `changed()` leaves nothing behind.
//!
//! ```
//! corio::block_on(async {
//!     let (tx, mut rx) = corio::sync::watch::channel("v1".to_string());
//!     let reader = corio::spawn(async move {
//!         rx.changed().await.unwrap();
//!         rx.borrow_and_update().clone()
//!     });
//!     tx.send("v2".to_string()).unwrap();
//!     assert_eq!(reader.await.unwrap(), "v2");
//! });
//! ```

use super::family::{Family, Shared};
use super::waiters::{wake_all, Waiters};
use std::fmt;
use std::future::poll_fn;
use std::ops::Deref;
use std::task::Poll;

pub(crate) struct State<T> {
    value: T,
    version: u64,
    receivers: usize,
    sender_gone: bool,
    waiters: Waiters,
}

type Chan<T, F> = <F as Family>::Ptr<<F as Family>::Cell<State<T>>>;

/// The sending half: one per channel.
pub struct Sender<T: 'static, F: Family = Shared> {
    chan: Chan<T, F>,
}

/// A receiving half; clone it for more readers.
pub struct Receiver<T: 'static, F: Family = Shared> {
    chan: Chan<T, F>,
    seen: u64,
}

/// `send` found no receiver; the value comes back.
#[derive(PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("every receiver was dropped")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// The sender is gone and the receiver has seen the last value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the sender was dropped")
    }
}

impl std::error::Error for RecvError {}

/// A thread-safe watch channel holding `init`.
pub fn channel<T: 'static>(init: T) -> (Sender<T>, Receiver<T>) {
    channel_in::<T, Shared>(init)
}

pub(crate) fn channel_in<T: 'static, F: Family>(init: T) -> (Sender<T, F>, Receiver<T, F>) {
    let chan = F::ptr(F::cell(State {
        value: init,
        version: 0,
        receivers: 1,
        sender_gone: false,
        waiters: Waiters::default(),
    }));
    (Sender { chan: chan.clone() }, Receiver { chan, seen: 0 })
}

impl<T: 'static, F: Family> Sender<T, F> {
    /// Replaces the value and wakes the receivers; fails (giving the value back) when no
    /// receiver is left.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if F::lock(&self.chan).receivers == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value whether or not anyone receives, returning the old one.
    pub fn send_replace(&self, value: T) -> T {
        let mut old = value;
        self.send_modify(|v| std::mem::swap(v, &mut old));
        old
    }

    /// Changes the value in place and wakes the receivers.
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        let mut wake = Vec::new();
        {
            let mut s = F::lock(&self.chan);
            modify(&mut s.value);
            s.version += 1;
            s.waiters.grant_all(&mut wake);
        }
        wake_all(wake);
    }

    /// The current value. Holds the channel's lock while the `Ref` lives: keep it short, and
    /// do not send or receive on this channel meanwhile.
    pub fn borrow(&self) -> Ref<'_, T, F> {
        Ref {
            guard: F::lock(&self.chan),
        }
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T, F> {
        let mut s = F::lock(&self.chan);
        s.receivers += 1;
        let seen = s.version;
        drop(s);
        Receiver {
            chan: self.chan.clone(),
            seen,
        }
    }

    /// How many receivers are left.
    pub fn receiver_count(&self) -> usize {
        F::lock(&self.chan).receivers
    }
}

impl<T: 'static, F: Family> Drop for Sender<T, F> {
    fn drop(&mut self) {
        let mut wake = Vec::new();
        {
            let mut s = F::lock(&self.chan);
            s.sender_gone = true;
            s.waiters.grant_all(&mut wake);
        }
        wake_all(wake);
    }
}

impl<T: 'static, F: Family> Receiver<T, F> {
    /// Waits for a value this receiver has not seen, and marks it seen. Fails once the sender
    /// is gone (after the last change was seen). Cancel-safe.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        let mut ticket: Option<u64> = None;
        let guard = TicketGuard::<T, F> {
            chan: &self.chan,
            ticket: &mut ticket,
        };
        let seen = &mut self.seen;
        poll_fn(move |cx| {
            let mut s = F::lock(guard.chan);
            if s.version != *seen {
                *seen = s.version;
                if let Some(t) = guard.ticket.take() {
                    s.waiters.remove(t);
                }
                return Poll::Ready(Ok(()));
            }
            if s.sender_gone {
                if let Some(t) = guard.ticket.take() {
                    s.waiters.remove(t);
                }
                return Poll::Ready(Err(RecvError(())));
            }
            match *guard.ticket {
                Some(t) if s.waiters.get_mut(t).is_some() => s.waiters.set_waker(t, cx.waker()),
                _ => *guard.ticket = Some(s.waiters.push(cx.waker(), 0)),
            }
            Poll::Pending
        })
        .await
    }

    /// True if a value this receiver has not seen is there; `Err` once the sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let s = F::lock(&self.chan);
        if s.version != self.seen {
            return Ok(true);
        }
        if s.sender_gone {
            return Err(RecvError(()));
        }
        Ok(false)
    }

    /// The current value, without marking it seen. Holds the channel's lock while the `Ref`
    /// lives (see [`Sender::borrow`]).
    pub fn borrow(&self) -> Ref<'_, T, F> {
        Ref {
            guard: F::lock(&self.chan),
        }
    }

    /// The current value, marking it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T, F> {
        let guard = F::lock(&self.chan);
        self.seen = guard.version;
        Ref { guard }
    }
}

impl<T: 'static, F: Family> Clone for Receiver<T, F> {
    fn clone(&self) -> Self {
        F::lock(&self.chan).receivers += 1;
        Receiver {
            chan: self.chan.clone(),
            seen: self.seen,
        }
    }
}

impl<T: 'static, F: Family> Drop for Receiver<T, F> {
    fn drop(&mut self) {
        F::lock(&self.chan).receivers -= 1;
    }
}

impl<T: 'static, F: Family> fmt::Debug for Sender<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender").finish_non_exhaustive()
    }
}

impl<T: 'static, F: Family> fmt::Debug for Receiver<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// A dropped `changed()` removes its waiter entry.
struct TicketGuard<'a, T: 'static, F: Family> {
    chan: &'a Chan<T, F>,
    ticket: &'a mut Option<u64>,
}

impl<T: 'static, F: Family> Drop for TicketGuard<'_, T, F> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            F::lock(self.chan).waiters.remove(t);
        }
    }
}

/// A borrowed value; holds the channel's lock.
pub struct Ref<'a, T: 'static, F: Family> {
    guard: F::Guard<'a, State<T>>,
}

impl<T: 'static, F: Family> Deref for Ref<'_, T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard.value
    }
}
