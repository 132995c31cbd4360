//! Drivers: the layer that talks to the kernel, one per executor, chosen at run time.
//!
//! Every caller — the executor, the fd layer, the operations — uses the face below and never
//! learns which driver it has:
//!
//! - `register` / `deregister` an fd (epoll registers once, edge-triggered, both directions;
//!   io_uring needs nothing) and `needs_nonblocking_fds`;
//! - `poll_op` starts or continues one [`Operation`]: io_uring pushes its SQE and answers with
//!   its CQE; epoll tries the syscall and parks the task on EAGAIN (Go's netpoller loop);
//!   `orphan_op` takes the resources of an op whose future was dropped in flight, `cancel_op`
//!   asks the kernel to give one back early (a deadline);
//! - `close_fd`: Go's evict — cancel (io_uring) or wake (epoll) every op on an fd being closed,
//!   and `wake_fd`: make the ops parked on an fd poll again;
//! - `park(timeout)`: hand what was prepared to the kernel, wait for at least one event (at most
//!   `timeout`; not at all for zero), wake the tasks whose operations are done;
//! - cross-executor wake-ups: `msg_ring` queues one for another io_uring executor,
//!   `submit_wakes` / `flush` make sure it leaves;
//! - `shutdown`: cancel everything in flight and wait, bounded, until the kernel has let go.
//!
//! The driver knows nothing above it: not the runtime, tasks, fds' owners or futures. It keeps
//! `Waker`s and, for dropped operations, `Box<dyn Orphan>`.

mod epoll;
mod info;
pub(crate) mod notify;
pub(crate) mod op;
mod open;
mod stats;
mod token;
mod uring;

pub use info::{DriverChoice, DriverInfo, DriverKind};
pub(crate) use notify::Notifier;
pub(crate) use op::{Direction, Interest, OpState, Operation, Orphan};
pub(crate) use open::{open, DriverConfig};
pub use stats::DriverStats;
pub(crate) use token::Token;

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The driver of one executor. Not boxed: there is exactly one per executor, and the ring
/// variant is the hot one.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    Uring(uring::Uring),
    Epoll(epoll::Epoll),
}

/// The result of a finished operation: the kernel's result and the CQE's flags (0 on epoll).
pub(crate) type OpResult = (io::Result<u32>, u32);

impl Driver {
    /// True if fds must be non-blocking (epoll); io_uring makes its own non-blocking attempt
    /// and arms its own poll, so it leaves them blocking.
    pub(crate) fn needs_nonblocking_fds(&self) -> bool {
        matches!(self, Driver::Epoll(_))
    }

    /// Registers `fd` for readiness (epoll: once, for both directions); the token names it in
    /// later calls. `None` where nothing needs registering (io_uring).
    pub(crate) fn register(&mut self, fd: RawFd) -> io::Result<Option<Token>> {
        match self {
            Driver::Uring(_) => Ok(None),
            Driver::Epoll(d) => d.register(fd).map(Some),
        }
    }

    /// Forgets `fd`'s registration; the fd is about to be closed or handed elsewhere.
    pub(crate) fn deregister(&mut self, token: Token, fd: RawFd) {
        if let Driver::Epoll(d) = self {
            d.deregister(token, fd);
        }
    }

    /// Go's evict, for an explicit close: every op on `fd` ends (io_uring: cancelled by file;
    /// epoll: its parked tasks woken, to find the fd closing).
    pub(crate) fn close_fd(&mut self, fd: RawFd, token: Option<Token>) {
        match self {
            Driver::Uring(d) => d.cancel_fd(fd),
            Driver::Epoll(d) => {
                if let Some(token) = token {
                    d.wake_all(token);
                }
            }
        }
    }

    /// Makes every op waiting on `fd` poll again without ending it (a deadline moved).
    pub(crate) fn wake_fd(&mut self, fd: RawFd, token: Option<Token>) {
        match self {
            Driver::Uring(d) => d.wake_fd(fd),
            Driver::Epoll(d) => {
                if let Some(token) = token {
                    d.wake_all(token);
                }
            }
        }
    }

    /// Starts or continues `op`: `Ready` with its result, or `Pending` with the task's waker
    /// recorded. `state` must start `Unstarted` and is the driver's to update.
    pub(crate) fn poll_op<O: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut O,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        let poll = match self {
            Driver::Uring(d) => d.poll_op(state, op, cx),
            Driver::Epoll(d) => d.poll_op(state, op, cx),
        };
        if poll.is_ready() {
            *state = OpState::Done;
        }
        poll
    }

    /// The future of an op in `state` was dropped. If the kernel may still use its memory, the
    /// driver takes `data` until the CQE (and cancels the op); otherwise `data` comes back.
    pub(crate) fn orphan_op(
        &mut self,
        state: OpState,
        data: Box<dyn Orphan>,
    ) -> Result<(), Box<dyn Orphan>> {
        match (self, state) {
            (Driver::Uring(d), OpState::InRing(user_data)) => {
                d.orphan(user_data, data);
                Ok(())
            }
            _ => Err(data),
        }
    }

    /// Asks the kernel to end an op in flight early; its CQE still comes (-ECANCELED, or its
    /// result if the cancel lost the race). Nothing to do for an op not in the kernel.
    pub(crate) fn cancel_op(&mut self, state: OpState) {
        if let (Driver::Uring(d), OpState::InRing(user_data)) = (self, state) {
            d.cancel(user_data);
        }
    }

    /// One turn: submit, wait (at most `timeout`; `None`: until an event), reap, wake.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Driver::Uring(d) => d.park(timeout),
            Driver::Epoll(d) => d.park(timeout),
        }
    }

    /// Queues a MSG_RING wake-up for `target`'s ring; false where this driver cannot (epoll,
    /// or no MSG_RING on either end), and the caller writes the target's eventfd instead.
    pub(crate) fn msg_ring(&mut self, target: &Arc<Notifier>) -> bool {
        match self {
            Driver::Uring(d) => d.msg_ring(target),
            Driver::Epoll(_) => false,
        }
    }

    /// Submits a queued MSG_RING wake-up now, without waiting (nothing to do on epoll, whose
    /// wake-ups are immediate eventfd writes).
    pub(crate) fn submit_wakes(&mut self) {
        if let Driver::Uring(d) = self {
            d.submit_wakes();
        }
    }

    /// Submits queued MSG_RING wake-ups before the loop stops turning (nothing to do on epoll).
    pub(crate) fn flush(&mut self) {
        if let Driver::Uring(d) = self {
            d.flush();
        }
    }

    pub(crate) fn stats(&self) -> DriverStats {
        match self {
            Driver::Uring(d) => d.stats(),
            Driver::Epoll(d) => d.stats(),
        }
    }

    /// Cancels everything in flight and waits, bounded; what the kernel keeps is leaked.
    pub(crate) fn shutdown(&mut self) {
        match self {
            Driver::Uring(d) => d.shutdown(),
            Driver::Epoll(d) => d.shutdown(),
        }
    }
}
