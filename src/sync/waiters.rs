//! A FIFO of waiting futures, by ticket: the one waiter list every primitive uses.
//!
//! A waiting future holds a ticket and has exactly one entry here: a re-poll replaces its
//! waker, a dropped future removes its entry (`remove`). Whatever a primitive grants a waiter
//! (a permit, a notification) is recorded on the entry before its waker is taken, so a future
//! dropped after being granted finds the grant and hands it back or on — the rule that keeps
//! wake-ups from being lost under cancellation.

use std::collections::BTreeMap;
use std::task::Waker;

/// One waiting future.
pub(crate) struct Waiter {
    /// Its waker; `None` once taken to be woken.
    pub(crate) waker: Option<Waker>,
    /// How much it asks for (a semaphore's permits; unused elsewhere).
    pub(crate) want: usize,
    /// Set when the primitive granted what it waited for.
    pub(crate) granted: bool,
}

/// The waiters in arrival order.
#[derive(Default)]
pub(crate) struct Waiters {
    queue: BTreeMap<u64, Waiter>,
    next: u64,
}

impl Waiters {
    /// Queues a new waiter; returns its ticket.
    pub(crate) fn push(&mut self, waker: &Waker, want: usize) -> u64 {
        let ticket = self.next;
        self.next += 1;
        self.queue.insert(
            ticket,
            Waiter {
                waker: Some(waker.clone()),
                want,
                granted: false,
            },
        );
        ticket
    }

    /// The waiter holding `ticket`, if it is still queued.
    pub(crate) fn get_mut(&mut self, ticket: u64) -> Option<&mut Waiter> {
        self.queue.get_mut(&ticket)
    }

    /// Replaces the waker of `ticket` unless it would wake the same task.
    pub(crate) fn set_waker(&mut self, ticket: u64, waker: &Waker) {
        if let Some(w) = self.queue.get_mut(&ticket) {
            match &mut w.waker {
                Some(old) if old.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
    }

    /// Removes `ticket`'s entry, returning it.
    pub(crate) fn remove(&mut self, ticket: u64) -> Option<Waiter> {
        self.queue.remove(&ticket)
    }

    /// The first waiter not yet granted: its ticket and entry.
    pub(crate) fn first_waiting(&mut self) -> Option<(u64, &mut Waiter)> {
        self.queue
            .iter_mut()
            .find(|(_, w)| !w.granted)
            .map(|(t, w)| (*t, w))
    }

    /// Takes every waiter's waker (a broadcast wake), leaving the entries queued.
    pub(crate) fn take_all_wakers(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.queue.values_mut().filter_map(|w| w.waker.take()));
    }

    /// Grants every waiter and takes its waker.
    pub(crate) fn grant_all(&mut self, out: &mut Vec<Waker>) {
        for w in self.queue.values_mut() {
            w.granted = true;
            out.extend(w.waker.take());
        }
    }

    /// How many wait.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

/// Wakes each waker, after the caller released its cell.
pub(crate) fn wake_all(wakers: Vec<Waker>) {
    wakers.into_iter().for_each(Waker::wake);
}
