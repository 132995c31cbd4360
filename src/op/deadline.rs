//! Per-connection read and write deadlines (Go's SetReadDeadline / SetWriteDeadline), the same
//! on both drivers.
//!
//! An operation checks its direction's deadline before it starts (a passed deadline fails at
//! once with `TimedOut`, without a syscall) and while it waits, through a user-space timer.
//! When the deadline passes: on epoll the parked op simply stops; on io_uring the op is
//! cancelled and its CQE awaited, so the buffer always comes back — and if data raced the
//! cancel, the data wins. Moving a deadline wakes the waiting op so it re-reads the deadline;
//! the connection stays usable.

use super::{Completion, Op, OpAble};
use crate::driver::epoll::Direction;
use crate::fd::SharedFd;
use crate::time::{sleep_until, Sleep};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

pub(crate) fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "i/o deadline exceeded")
}

/// Runs `op` under `fd`'s deadline for `dir`.
pub(crate) struct WithDeadline<'a, T: OpAble> {
    op: Op<T>,
    fd: &'a SharedFd,
    dir: Direction,
    sleep: Option<Sleep>,
    /// The deadline passed and the op was cancelled; waiting for its CQE.
    expired: bool,
    /// This op's registration in the fd's deadline watchers, while it waits.
    watch: Option<u64>,
    watching: bool,
}

pub(crate) fn with_deadline<T: OpAble>(
    fd: &SharedFd,
    dir: Direction,
    op: Op<T>,
) -> WithDeadline<'_, T> {
    WithDeadline {
        op,
        fd,
        dir,
        sleep: None,
        expired: false,
        watch: None,
        watching: false,
    }
}

impl<T: OpAble> WithDeadline<'_, T> {
    fn unwatch(&mut self) {
        if std::mem::take(&mut self.watching) {
            if let Some(id) = self.watch {
                self.fd.unwatch_deadline(id);
            }
        }
    }

    /// Checks the deadline and arms the timer; true if it has passed.
    fn passed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.fd.deadline(self.dir) else {
            self.sleep = None;
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
}

impl<T: OpAble> Future for WithDeadline<'_, T> {
    type Output = Completion<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Completion<T>> {
        let this = self.get_mut();
        if !this.expired && this.passed(cx) {
            this.expired = true;
            if let Some(done) = this.op.expire() {
                return Poll::Ready(done);
            }
        }
        match Pin::new(&mut this.op).poll(cx) {
            Poll::Pending => {
                if !this.expired {
                    this.fd.watch_deadline(&mut this.watch, cx.waker());
                    this.watching = true;
                }
                Poll::Pending
            }
            Poll::Ready(mut done) => {
                this.unwatch();
                if this.expired
                    && matches!(&done.result, Err(e) if e.raw_os_error() == Some(libc::ECANCELED))
                {
                    done.result = Err(timed_out());
                }
                Poll::Ready(done)
            }
        }
    }
}

impl<T: OpAble> Drop for WithDeadline<'_, T> {
    fn drop(&mut self) {
        self.unwatch();
    }
}
