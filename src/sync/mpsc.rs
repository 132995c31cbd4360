//! Multi-producer, single-consumer channels, bounded (senders wait when full: backpressure)
//! and unbounded. Senders may live on any worker or plain thread.
//!
//! ```
//! corio::block_on(async {
//!     let (tx, mut rx) = corio::sync::mpsc::bounded(16);
//!     corio::spawn(async move {
//!         for i in 0..100 {
//!             tx.send(i).await.unwrap();
//!         }
//!     });
//!     let mut sum = 0;
//!     while let Some(i) = rx.recv().await {
//!         sum += i;
//!     }
//!     assert_eq!(sum, 4950);
//! });
//! ```

use super::lock;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

struct State<T> {
    queue: VecDeque<T>,
    /// `None`: unbounded.
    cap: Option<usize>,
    rx_waker: Option<Waker>,
    /// Senders waiting for room (bounded only), in arrival order, by ticket. A waiting send
    /// has exactly one entry: a re-poll replaces its waker, a dropped send removes it, and a
    /// send woken here (entry taken) that is dropped before it used the room passes the wake
    /// on to the next one, so no wake-up is spent on a send that is gone.
    tx_waiters: VecDeque<(u64, Waker)>,
    next_ticket: u64,
    senders: usize,
    receiver_gone: bool,
}

type Chan<T> = Arc<Mutex<State<T>>>;

/// The receiver is gone; the value comes back.
#[derive(PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the receiver was dropped")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why `try_send` failed; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is at capacity.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// Why `try_recv` returned no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued now; senders remain.
    Empty,
    /// Nothing queued, and every sender is gone.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty"),
            TryRecvError::Disconnected => f.write_str("channel closed"),
        }
    }
}

impl std::error::Error for TryRecvError {}

fn new<T>(cap: Option<usize>) -> Chan<T> {
    Arc::new(Mutex::new(State {
        queue: VecDeque::new(),
        cap,
        rx_waker: None,
        tx_waiters: VecDeque::new(),
        next_ticket: 0,
        senders: 1,
        receiver_gone: false,
    }))
}

/// A channel holding at most `cap` messages (`cap >= 1`; 0 is taken as 1).
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = new(Some(cap.max(1)));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// A channel without a bound: `send` never waits.
pub fn unbounded<T>() -> (UnboundedSender<T>, Receiver<T>) {
    let chan = new(None);
    (UnboundedSender { chan: chan.clone() }, Receiver { chan })
}

/// Pushes `value` if there is room; wakes the receiver if it waits.
fn try_push<T>(chan: &Chan<T>, value: T) -> Result<(), TrySendError<T>> {
    let waker = {
        let mut s = lock(chan);
        if s.receiver_gone {
            return Err(TrySendError::Closed(value));
        }
        if s.cap.is_some_and(|cap| s.queue.len() >= cap) {
            return Err(TrySendError::Full(value));
        }
        s.queue.push_back(value);
        s.rx_waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
    Ok(())
}

fn add_sender<T>(chan: &Chan<T>) {
    lock(chan).senders += 1;
}

fn drop_sender<T>(chan: &Chan<T>) {
    let waker = {
        let mut s = lock(chan);
        s.senders -= 1;
        if s.senders > 0 {
            return;
        }
        s.rx_waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// The sending half of a bounded channel.
pub struct Sender<T> {
    chan: Chan<T>,
}

impl<T> Sender<T> {
    /// Sends, waiting while the channel is full. Fails only if the receiver is gone.
    /// Cancel-safe: dropping the future drops the value unsent and gives its turn to the next
    /// waiting sender.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut waiter = SendWaiter {
            chan: &self.chan,
            ticket: None,
        };
        let mut value = Some(value);
        poll_fn(|cx| waiter.poll_send(&mut value, cx)).await
    }

    /// Sends without waiting.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        try_push(&self.chan, value)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        add_sender(&self.chan);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        drop_sender(&self.chan);
    }
}

/// A `send` waiting for room: its place among the waiting senders (see `State::tx_waiters`).
struct SendWaiter<'a, T> {
    chan: &'a Chan<T>,
    ticket: Option<u64>,
}

impl<T> SendWaiter<'_, T> {
    fn poll_send(
        &mut self,
        value: &mut Option<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let v = value.take().expect("send polled after completion");
        let mut s = lock(self.chan);
        if s.receiver_gone {
            return Poll::Ready(Err(SendError(v)));
        }
        if s.cap.is_none_or(|cap| s.queue.len() < cap) {
            s.queue.push_back(v);
            if let Some(t) = self.ticket.take() {
                s.tx_waiters.retain(|(w, _)| *w != t);
            }
            let rx = s.rx_waker.take();
            drop(s);
            if let Some(w) = rx {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        *value = Some(v);
        let waiting = self
            .ticket
            .and_then(|t| s.tx_waiters.iter_mut().find(|(w, _)| *w == t));
        match waiting {
            Some((_, w)) if w.will_wake(cx.waker()) => {}
            Some((_, w)) => *w = cx.waker().clone(),
            // Woken, then beaten to the room (by `try_send`): first in line again.
            None if self.ticket.is_some() => {
                let t = self.ticket.unwrap_or_default();
                s.tx_waiters.push_front((t, cx.waker().clone()));
            }
            None => {
                let t = s.next_ticket;
                s.next_ticket += 1;
                self.ticket = Some(t);
                s.tx_waiters.push_back((t, cx.waker().clone()));
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for SendWaiter<'_, T> {
    fn drop(&mut self) {
        let Some(t) = self.ticket else { return };
        let next = {
            let mut s = lock(self.chan);
            match s.tx_waiters.iter().position(|(w, _)| *w == t) {
                Some(i) => {
                    s.tx_waiters.remove(i);
                    None
                }
                // Woken for room it will not use: the next sender gets it.
                None if s.cap.is_some_and(|cap| s.queue.len() < cap) => s.tx_waiters.pop_front(),
                None => None,
            }
        };
        if let Some((_, w)) = next {
            w.wake();
        }
    }
}

/// The sending half of an unbounded channel.
pub struct UnboundedSender<T> {
    chan: Chan<T>,
}

impl<T> UnboundedSender<T> {
    /// Sends; never waits. Fails only if the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        try_push(&self.chan, value).map_err(|e| match e {
            TrySendError::Full(v) | TrySendError::Closed(v) => SendError(v),
        })
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        add_sender(&self.chan);
        UnboundedSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        drop_sender(&self.chan);
    }
}

/// The receiving half (of either kind).
pub struct Receiver<T> {
    chan: Chan<T>,
}

impl<T> Receiver<T> {
    /// The next message, or `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The poll form of [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let (out, waker) = {
            let mut s = lock(&self.chan);
            match s.queue.pop_front() {
                Some(v) => (Poll::Ready(Some(v)), s.tx_waiters.pop_front()),
                None if s.senders == 0 => (Poll::Ready(None), None),
                None => {
                    match &mut s.rx_waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        slot => *slot = Some(cx.waker().clone()),
                    }
                    (Poll::Pending, None)
                }
            }
        };
        if let Some((_, w)) = waker {
            w.wake();
        }
        out
    }

    /// A message if one is queued; otherwise whether more may come (`Empty`) or not
    /// (`Disconnected`: every sender is gone), as tokio's.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let (v, waker) = {
            let mut s = lock(&self.chan);
            match s.queue.pop_front() {
                Some(v) => (Ok(v), s.tx_waiters.pop_front()),
                None if s.senders == 0 => (Err(TryRecvError::Disconnected), None),
                None => (Err(TryRecvError::Empty), None),
            }
        };
        if let Some((_, w)) = waker {
            w.wake();
        }
        v
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (items, wakers) = {
            let mut s = lock(&self.chan);
            s.receiver_gone = true;
            (
                std::mem::take(&mut s.queue),
                std::mem::take(&mut s.tx_waiters),
            )
        };
        drop(items);
        wakers.into_iter().for_each(|(_, w)| w.wake());
    }
}
