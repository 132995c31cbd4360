//! The executor's timers: an ordered map in user space. Thousands of pending timers cost the
//! kernel nothing: the loop passes only the nearest deadline to its single wait.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::Instant;

/// Identifies one pending timer: its deadline, then an insertion sequence number that keeps
/// equal deadlines distinct and in order.
pub(crate) type TimerKey = (Instant, u64);

#[derive(Default)]
pub(crate) struct Timers {
    pending: BTreeMap<TimerKey, Waker>,
    seq: u64,
}

impl Timers {
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        self.seq += 1;
        let key = (deadline, self.seq);
        self.pending.insert(key, waker);
        key
    }

    /// Replaces the waker of a pending timer; false if it already fired.
    pub(crate) fn update(&mut self, key: &TimerKey, waker: &Waker) -> bool {
        match self.pending.get_mut(key) {
            Some(w) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn remove(&mut self, key: &TimerKey) {
        self.pending.remove(key);
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.pending.first_key_value().map(|(k, _)| k.0)
    }

    /// Wakes every timer whose deadline is at or before `now`, earliest first.
    pub(crate) fn fire(&mut self, now: Instant) {
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            entry.remove().wake();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }
}
