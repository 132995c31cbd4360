//! An fd's read and write deadlines (Go's rd / wd) and the operations watching them.
//!
//! A waiting op must see a deadline that moves, so it re-arms its timer. Until a deadline is
//! first set on an fd nobody watches (the common case costs nothing per op); the first
//! `set` asks the driver to wake every op waiting on the fd instead, and from then on waiting
//! ops register here. See docs/architecture.md, "Deadlines".

use crate::driver::Direction;
use std::cell::{Cell, RefCell};
use std::task::Waker;
use std::time::Instant;

#[derive(Default)]
pub(crate) struct Deadlines {
    /// Indexed by `Direction`.
    at: [Cell<Option<Instant>>; 2],
    /// A deadline was set at least once: waiting ops register in `watchers`.
    watched: Cell<bool>,
    /// Ops waiting on this fd, woken when a deadline moves so they re-read it.
    watchers: RefCell<Vec<(u64, Waker)>>,
    next_watch_id: Cell<u64>,
}

/// What `Deadlines::set` asks of its caller.
#[must_use]
pub(crate) enum Moved {
    /// The waiting ops registered here have been woken.
    Done,
    /// The first deadline on this fd: no op has registered, so the driver must wake the ops
    /// waiting on the fd.
    WakeAll,
}

impl Deadlines {
    pub(crate) fn get(&self, dir: Direction) -> Option<Instant> {
        self.at[dir as usize].get()
    }

    /// Go's SetReadDeadline / SetWriteDeadline: applies to operations already waiting as well
    /// as to later ones; `None` removes it.
    pub(crate) fn set(&self, dir: Direction, deadline: Option<Instant>) -> Moved {
        self.at[dir as usize].set(deadline);
        if !self.watched.replace(true) {
            return Moved::WakeAll;
        }
        let watchers = std::mem::take(&mut *self.watchers.borrow_mut());
        watchers.into_iter().for_each(|(_, w)| w.wake());
        Moved::Done
    }

    /// True once a deadline has been set: waiting ops must `watch`.
    pub(crate) fn watched(&self) -> bool {
        self.watched.get()
    }

    /// Registers (or refreshes) the waker of waiting op `id`, allocated on first use.
    pub(crate) fn watch(&self, id: &mut Option<u64>, waker: &Waker) {
        let id = *id.get_or_insert_with(|| {
            let next = self.next_watch_id.get();
            self.next_watch_id.set(next + 1);
            next
        });
        let mut watchers = self.watchers.borrow_mut();
        match watchers.iter_mut().find(|(w, _)| *w == id) {
            Some((_, w)) if w.will_wake(waker) => {}
            Some((_, w)) => *w = waker.clone(),
            None => watchers.push((id, waker.clone())),
        }
    }

    /// Op `id` stopped waiting.
    pub(crate) fn unwatch(&self, id: u64) {
        self.watchers.borrow_mut().retain(|(w, _)| *w != id);
    }
}
