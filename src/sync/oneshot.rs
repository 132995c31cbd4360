//! A one-value channel: `send` once, `.await` the receiver.
//!
//! ```
//! corio::block_on(async {
//!     let (tx, rx) = corio::sync::oneshot::channel();
//!     std::thread::spawn(move || tx.send(42).unwrap());
//!     assert_eq!(rx.await, Ok(42));
//! });
//! ```

use super::lock;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

/// The sending half.
pub struct Sender<T> {
    inner: Arc<Mutex<State<T>>>,
}

/// The receiving half: a future of the value, or `RecvError` if the sender was dropped.
pub struct Receiver<T> {
    inner: Arc<Mutex<State<T>>>,
}

/// The sender was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the sender was dropped without sending")
    }
}

impl std::error::Error for RecvError {}

/// Creates a one-value channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Mutex::new(State {
        value: None,
        waker: None,
        sender_gone: false,
        receiver_gone: false,
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
    )
}

impl<T> Sender<T> {
    /// Sends the value; gives it back if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut s = lock(&self.inner);
            if s.receiver_gone {
                return Err(value);
            }
            s.value = Some(value);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// True if the receiver was dropped.
    pub fn is_closed(&self) -> bool {
        lock(&self.inner).receiver_gone
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = lock(&self.inner);
            s.sender_gone = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = lock(&self.inner);
        if let Some(v) = s.value.take() {
            return Poll::Ready(Ok(v));
        }
        if s.sender_gone {
            return Poll::Ready(Err(RecvError));
        }
        match &mut s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        lock(&self.inner).receiver_gone = true;
    }
}
