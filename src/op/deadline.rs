//! Per-connection read and write deadlines (Go's SetReadDeadline / SetWriteDeadline), the same
//! on both drivers: the timer and the watch of one waiting op (`Op<T>` does the rest).
//!
//! An op checks its direction's deadline before it starts (a passed deadline fails at once
//! with `TimedOut`, without a syscall) and while it waits, through a user-space timer. When
//! the deadline passes: on epoll the parked op simply stops; on io_uring the op is cancelled
//! and its CQE awaited, so the buffer always comes back — and if data raced the cancel, the
//! data wins. Moving a deadline wakes the waiting op so it re-reads the deadline; the
//! connection stays usable.

use crate::fd::SharedFd;
use crate::time::{sleep_until, Sleep};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Instant;

pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "i/o deadline exceeded")
}

#[derive(Default)]
pub(super) struct DeadlineWait {
    /// The timer of the current deadline, once one applies.
    sleep: Option<Sleep>,
    /// The deadline passed and the op was cancelled; waiting for its CQE.
    expired: bool,
    /// This op's registration in the fd's deadline watchers, while it waits.
    watch: Option<u64>,
    watching: bool,
}

impl DeadlineWait {
    /// Checks `deadline` and arms (or moves) the timer; true if it has passed.
    pub(super) fn passed(&mut self, deadline: Option<Instant>, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = deadline else {
            if self.sleep.is_some() {
                // The deadline was removed: its timer goes.
                self.sleep = None;
            }
            return false;
        };
        if Instant::now() >= deadline {
            return true;
        }
        let sleep = self.sleep.get_or_insert_with(|| sleep_until(deadline));
        if sleep.deadline() != deadline {
            sleep.reset(deadline);
        }
        Pin::new(sleep).poll(cx).is_ready()
    }

    #[inline]
    pub(super) fn expired(&self) -> bool {
        self.expired
    }

    /// True while a timer is armed for a deadline.
    #[inline]
    pub(super) fn armed(&self) -> bool {
        self.sleep.is_some()
    }

    pub(super) fn set_expired(&mut self) {
        self.expired = true;
    }

    /// The op waits: have a moved deadline wake it (unless it already expired).
    #[inline]
    pub(super) fn watch(&mut self, fd: &SharedFd, waker: &Waker) {
        if !self.expired && fd.deadlines_watched() {
            self.watching |= fd.watch_deadline(&mut self.watch, waker);
        }
    }

    /// The op stopped waiting.
    #[inline]
    pub(super) fn unwatch(&mut self, fd: &SharedFd) {
        if std::mem::take(&mut self.watching) {
            if let Some(id) = self.watch {
                fd.unwatch_deadline(id);
            }
        }
    }
}
