//! `broadcast`: every receiver gets every value, from a ring of the last `capacity` values.
//!
//! Sending never waits: a receiver that falls more than `capacity` values behind loses the
//! oldest ones and is told how many (`RecvError::Lagged`), then goes on from the oldest kept.
//! Waiting receivers are woken all at once by a send (from any thread, in the thread-safe
//! form); a dropped `recv()` leaves nothing behind and loses no value (the receiver's position
//! only moves when a value is returned).
//!
//! ```
//! corio::block_on(async {
//!     let (tx, mut a) = corio::sync::broadcast::channel(16);
//!     let mut b = tx.subscribe();
//!     tx.send("shutdown").unwrap();
//!     assert_eq!(a.recv().await, Ok("shutdown"));
//!     assert_eq!(b.recv().await, Ok("shutdown"));
//! });
//! ```

use super::family::{Family, Shared};
use super::waiters::{wake_all, Waiters};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::task::Poll;

pub(crate) struct State<T> {
    /// The last `cap` values; `ring[0]` has sequence number `head`.
    ring: VecDeque<T>,
    cap: usize,
    head: u64,
    senders: usize,
    receivers: usize,
    waiters: Waiters,
}

impl<T> State<T> {
    fn tail(&self) -> u64 {
        self.head + self.ring.len() as u64
    }
}

type Chan<T, F> = <F as Family>::Ptr<<F as Family>::Cell<State<T>>>;

/// A sending half; clone it for more senders.
pub struct Sender<T: 'static, F: Family = Shared> {
    chan: Chan<T, F>,
}

/// A receiving half, with its own position in the stream.
pub struct Receiver<T: 'static, F: Family = Shared> {
    chan: Chan<T, F>,
    next: u64,
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
        f.write_str("no receiver")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why `recv` returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// Every sender is gone and every value was received.
    Closed,
    /// This receiver fell behind and this many values were lost; the next `recv` returns
    /// the oldest value still kept.
    Lagged(u64),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => f.write_str("channel closed"),
            RecvError::Lagged(n) => write!(f, "receiver lagged by {n} values"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why `try_recv` returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing new yet.
    Empty,
    /// Every sender is gone and every value was received.
    Closed,
    /// See [`RecvError::Lagged`].
    Lagged(u64),
}

/// A thread-safe broadcast channel keeping the last `capacity` values (at least 1).
pub fn channel<T: Clone + 'static>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    channel_in::<T, Shared>(capacity)
}

pub(crate) fn channel_in<T: Clone + 'static, F: Family>(
    capacity: usize,
) -> (Sender<T, F>, Receiver<T, F>) {
    let chan = F::ptr(F::cell(State {
        ring: VecDeque::new(),
        cap: capacity.max(1),
        head: 0,
        senders: 1,
        receivers: 1,
        waiters: Waiters::default(),
    }));
    (Sender { chan: chan.clone() }, Receiver { chan, next: 0 })
}

impl<T: Clone + 'static, F: Family> Sender<T, F> {
    /// Sends to every receiver; returns how many there are. Never waits: a full ring drops
    /// its oldest value. Fails (giving the value back) when no receiver is left.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut wake = Vec::new();
        let n = {
            let mut s = F::lock(&self.chan);
            if s.receivers == 0 {
                return Err(SendError(value));
            }
            if s.ring.len() == s.cap {
                s.ring.pop_front();
                s.head += 1;
            }
            s.ring.push_back(value);
            s.waiters.grant_all(&mut wake);
            s.receivers
        };
        wake_all(wake);
        Ok(n)
    }

    /// A new receiver that gets the values sent from now on.
    pub fn subscribe(&self) -> Receiver<T, F> {
        let mut s = F::lock(&self.chan);
        s.receivers += 1;
        let next = s.tail();
        drop(s);
        Receiver {
            chan: self.chan.clone(),
            next,
        }
    }

    /// How many receivers are left.
    pub fn receiver_count(&self) -> usize {
        F::lock(&self.chan).receivers
    }
}

impl<T: 'static, F: Family> Clone for Sender<T, F> {
    fn clone(&self) -> Self {
        F::lock(&self.chan).senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T: 'static, F: Family> Drop for Sender<T, F> {
    fn drop(&mut self) {
        let mut wake = Vec::new();
        {
            let mut s = F::lock(&self.chan);
            s.senders -= 1;
            if s.senders == 0 {
                s.waiters.grant_all(&mut wake);
            }
        }
        wake_all(wake);
    }
}

impl<T: Clone + 'static, F: Family> Receiver<T, F> {
    /// The next value. Cancel-safe: a dropped call takes nothing.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        let mut guard = Waiting::<T, F> {
            chan: &self.chan,
            ticket: None,
        };
        let next = &mut self.next;
        poll_fn(move |cx| {
            let mut s = F::lock(guard.chan);
            let out = match take(&s, next) {
                Err(TryRecvError::Empty) => None,
                Ok(v) => Some(Ok(v)),
                Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
                Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
            };
            if let Some(out) = out {
                if let Some(t) = guard.ticket.take() {
                    s.waiters.remove(t);
                }
                return Poll::Ready(out);
            }
            match guard.ticket {
                Some(t) if s.waiters.get_mut(t).is_some_and(|w| !w.granted) => {
                    s.waiters.set_waker(t, cx.waker())
                }
                Some(t) => {
                    // Woken, yet nothing for us (another receiver's value): wait again.
                    s.waiters.remove(t);
                    guard.ticket = Some(s.waiters.push(cx.waker(), 0));
                }
                None => guard.ticket = Some(s.waiters.push(cx.waker(), 0)),
            }
            Poll::Pending
        })
        .await
    }

    /// The next value if one is there.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let s = F::lock(&self.chan);
        take(&s, &mut self.next)
    }

    /// A new receiver at the same position.
    pub fn resubscribe(&self) -> Self {
        F::lock(&self.chan).receivers += 1;
        Receiver {
            chan: self.chan.clone(),
            next: self.next,
        }
    }
}

/// The value at `*next`, advancing it; what is wrong otherwise.
fn take<T: Clone>(s: &State<T>, next: &mut u64) -> Result<T, TryRecvError> {
    if *next < s.head {
        let lost = s.head - *next;
        *next = s.head;
        return Err(TryRecvError::Lagged(lost));
    }
    match s.ring.get((*next - s.head) as usize) {
        Some(v) => {
            *next += 1;
            Ok(v.clone())
        }
        None if s.senders == 0 => Err(TryRecvError::Closed),
        None => Err(TryRecvError::Empty),
    }
}

impl<T: 'static, F: Family> Drop for Receiver<T, F> {
    fn drop(&mut self) {
        F::lock(&self.chan).receivers -= 1;
    }
}

impl<T: 'static, F: Family> fmt::Debug for Sender<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender").finish_non_exhaustive()
    }
}

impl<T: 'static, F: Family> fmt::Debug for Receiver<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// A dropped `recv()` removes its waiter entry.
struct Waiting<'a, T: 'static, F: Family> {
    chan: &'a Chan<T, F>,
    ticket: Option<u64>,
}

impl<T: 'static, F: Family> Drop for Waiting<'_, T, F> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            F::lock(self.chan).waiters.remove(t);
        }
    }
}
