//! A one-way flag that tasks on any worker can wait for (a listener told to stop, the admin
//! socket handed over): set once, from any thread; every waiter wakes.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Poll, Waker};

#[derive(Default)]
pub struct Latch {
    set: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl Latch {
    /// Sets it and wakes every waiter; false if it was set already.
    pub fn set(&self) -> bool {
        if self.set.swap(true, Ordering::AcqRel) {
            return false;
        }
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        wakers.into_iter().for_each(Waker::wake);
        true
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    /// Resolves once it is set.
    pub async fn stopped(&self) {
        poll_fn(|cx| {
            if self.is_set() {
                return Poll::Ready(());
            }
            let mut w = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
            if !w.iter().any(|x| x.will_wake(cx.waker())) {
                w.push(cx.waker().clone());
            }
            drop(w);
            // Set between the check and the push: the setter may have found no waker.
            if self.is_set() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
