//! Operations: one type per operation, each stating both of its forms side by side.
//!
//! - the completion form, `uring_op`: the SQE that performs it on io_uring;
//! - the readiness form, `legacy_interest` + `legacy_call`: the fd and direction to wait on,
//!   and the syscall to retry after readiness (Go's try / EAGAIN / park loop).
//!
//! [`Op<T>`] is the future that runs either form on the current executor's driver. On
//! io_uring, the op's data (buffer, fd, addresses) is owned by the future while the future
//! lives; if the future is dropped in flight, the data moves into the driver's slot, the op is
//! cancelled, and the data is released only after the CQE (see docs/architecture.md). The
//! `on_orphaned` / `orphan_complete` hooks let an op keep what a late completion carried.

pub(crate) mod accept;
pub(crate) mod close;
pub(crate) mod connect;
pub(crate) mod deadline;
pub(crate) mod nop;
pub(crate) mod poll;
pub(crate) mod read;
pub(crate) mod recv;
pub(crate) mod recv_from;
pub(crate) mod send;
pub(crate) mod send_to;
pub(crate) mod shutdown;
pub(crate) mod splice;
pub(crate) mod timeout;
pub(crate) mod write_at;
pub(crate) mod writev;

pub use nop::nop;
pub use timeout::kernel_sleep;

use crate::driver::epoll::Direction;
use crate::driver::uring::slots::Orphan;
use crate::driver::Backend;
use crate::fd::SharedFd;
use crate::runtime::context;
use io_uring::squeue;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One operation, in both forms.
pub(crate) trait OpAble: Sized + 'static {
    /// Completion form: the SQE (user_data is set by the driver). Every pointer in it must
    /// point into memory that `self` owns and that does not move when `self` does (heap).
    fn uring_op(&mut self) -> squeue::Entry;

    /// Readiness form: the descriptor and direction to wait on after EAGAIN; `None` for an
    /// operation that never blocks.
    fn legacy_interest(&self) -> Option<(&SharedFd, Direction)>;

    /// Readiness form: the syscall to try (again).
    fn legacy_call(&mut self) -> io::Result<u32>;

    /// Readiness form: true if `result` proves the fd has nothing more for now (a stream read
    /// shorter than asked), so the next attempt can park without a syscall.
    fn legacy_drained(&self, _result: u32) -> bool {
        false
    }

    /// Readiness form: the op only waits for readiness (a poll, no data moves), so once it
    /// has parked, the edge that wakes it completes it without another `legacy_call`.
    fn legacy_readiness_only(&self) -> bool {
        false
    }

    /// io_uring only: the future was dropped with the op in flight; its result will arrive
    /// later, at `orphan_complete`.
    fn on_orphaned(&mut self) {}

    /// io_uring only: the result of a dropped op arrived; keep what it carried.
    fn orphan_complete(self, _result: io::Result<u32>, _flags: u32) {}
}

impl<T: OpAble> Orphan for T {
    fn complete(self: Box<Self>, result: io::Result<u32>, flags: u32) {
        (*self).orphan_complete(result, flags)
    }
}

/// What a finished op gives back: the kernel's result, the CQE flags, and the op's data.
pub(crate) struct Completion<T> {
    pub(crate) result: io::Result<u32>,
    #[allow(dead_code)]
    pub(crate) flags: u32,
    pub(crate) data: T,
}

/// Where an op is.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Not yet polled.
    Unstarted,
    /// Its SQE is pushed; the slot `user_data` in executor `core` holds its result.
    InRing { core: u64, user_data: u64 },
    /// Tried at least once on the readiness driver (nothing is in the kernel between polls).
    Trying,
    /// The result was returned.
    Done,
}

/// The future of one operation on the current executor's driver.
pub(crate) struct Op<T: OpAble> {
    data: Option<T>,
    state: State,
}

// Op never pins its data: the data is moved in and out by value.
impl<T: OpAble> Unpin for Op<T> {}

impl<T: OpAble> Op<T> {
    pub(crate) fn new(data: T) -> Op<T> {
        Op {
            data: Some(data),
            state: State::Unstarted,
        }
    }
}

impl<T: OpAble> Future for Op<T> {
    type Output = Completion<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Completion<T>> {
        let this = self.get_mut();
        context::with_core(|core| {
            let mut driver = core.driver.borrow_mut();
            let poll = match &mut *driver {
                Backend::Uring(ring) => this.poll_uring(core.id(), ring, cx),
                Backend::Epoll(epoll) => this.poll_epoll(epoll, cx),
            };
            poll.map(|(result, flags)| {
                this.state = State::Done;
                let data = this.data.take().expect("op data present until completion");
                Completion {
                    result,
                    flags,
                    data,
                }
            })
        })
    }
}

impl<T: OpAble> Op<T> {
    fn poll_uring(
        &mut self,
        core: u64,
        ring: &mut crate::driver::uring::Uring,
        cx: &Context<'_>,
    ) -> Poll<(io::Result<u32>, u32)> {
        match self.state {
            State::Unstarted => {
                let data = self
                    .data
                    .as_mut()
                    .expect("op data present until completion");
                let sqe = data.uring_op();
                // SAFETY: the SQE points into `data`'s heap memory (OpAble contract); `data`
                // stays in this future until `poll_op` returns Ready, or moves to the slot in
                // `Drop` (orphan), so it outlives the kernel's use.
                let user_data = unsafe { ring.submit(sqe, cx) };
                self.state = State::InRing { core, user_data };
                Poll::Pending
            }
            State::InRing {
                core: owner,
                user_data,
            } => {
                assert_eq!(
                    owner, core,
                    "corio op polled on a runtime other than the one it started on"
                );
                ring.poll_op(user_data, cx)
                    .map(|(res, flags)| (crate::sys::cqe_result(res), flags))
            }
            state @ (State::Trying | State::Done) => unreachable!("io_uring op in state {state:?}"),
        }
    }

    /// Go's loop: try the syscall; on EAGAIN consume readiness and retry, or park.
    fn poll_epoll(
        &mut self,
        epoll: &mut crate::driver::epoll::Epoll,
        cx: &Context<'_>,
    ) -> Poll<(io::Result<u32>, u32)> {
        let data = self
            .data
            .as_mut()
            .expect("op data present until completion");
        let parked_before = matches!(self.state, State::Trying);
        if let State::Unstarted = self.state {
            self.state = State::Trying;
            epoll.stats.ops_submitted += 1;
        }
        let interest = data.legacy_interest().map(|(fd, dir)| (fd.token(), dir));
        let readiness_only = data.legacy_readiness_only();
        if let (true, true, Some((Some(token), dir))) = (parked_before, readiness_only, interest) {
            // A readiness wait that parked: the edge that woke it completes it, no syscall
            // needed. (Before it has parked, a Ready slot may be stale — an edge from before
            // the last read — so the first poll always asks the kernel.)
            return epoll.poll_ready(token, dir, cx).map(|r| (r.map(|()| 0), 0));
        }
        loop {
            if let Some((Some(token), dir)) = interest {
                if epoll.is_drained(token, dir) {
                    // A short read emptied the socket and no edge has come since: park
                    // without the syscall that would only say EAGAIN.
                    match epoll.poll_ready(token, dir, cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready((Err(e), 0)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                if let Err(e) = epoll.check_open(token) {
                    return Poll::Ready((Err(e), 0));
                }
            }
            match data.legacy_call() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if crate::sys::would_block(&e) => match interest {
                    Some((Some(token), dir)) => match epoll.poll_ready(token, dir, cx) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(e)) => return Poll::Ready((Err(e), 0)),
                        Poll::Pending => return Poll::Pending,
                    },
                    // Not registered with epoll: nothing would ever wake us, so report it.
                    _ => return Poll::Ready((Err(e), 0)),
                },
                Ok(n) => {
                    if let Some((Some(token), dir)) = interest {
                        if data.legacy_drained(n) {
                            epoll.mark_drained(token, dir);
                        }
                    }
                    return Poll::Ready((Ok(n), 0));
                }
                res => return Poll::Ready((res, 0)),
            }
        }
    }
}

impl<T: OpAble> Op<T> {
    /// The op's deadline passed. Nothing in the kernel (not started, or parked on the
    /// readiness driver): finish now with `TimedOut` and give the data back. In the ring: ask
    /// the kernel to cancel it and return `None`; the op completes when its CQE arrives
    /// (-ECANCELED, or the data if the cancel lost the race).
    pub(crate) fn expire(&mut self) -> Option<Completion<T>> {
        match self.state {
            State::Unstarted | State::Trying => {
                self.state = State::Done;
                let data = self.data.take()?;
                Some(Completion {
                    result: Err(deadline::timed_out()),
                    flags: 0,
                    data,
                })
            }
            State::InRing {
                core: owner,
                user_data,
            } => {
                context::try_with_core(|core| {
                    if core.id() != owner {
                        return;
                    }
                    if let Backend::Uring(ring) = &mut *core.driver.borrow_mut() {
                        ring.cancel(user_data);
                    }
                });
                None
            }
            State::Done => None,
        }
    }
}

impl<T: OpAble> Drop for Op<T> {
    fn drop(&mut self) {
        let State::InRing {
            core: owner,
            user_data,
        } = self.state
        else {
            // Never started, finished, or on the readiness driver: nothing is in the kernel.
            return;
        };
        let mut data = self.data.take();
        context::try_with_core(|core| {
            if core.id() != owner {
                return;
            }
            let Ok(mut driver) = core.driver.try_borrow_mut() else {
                return;
            };
            if let (Backend::Uring(ring), Some(mut d)) = (&mut *driver, data.take()) {
                d.on_orphaned();
                ring.orphan(user_data, Box::new(d));
            }
        });
        if let Some(d) = data {
            // The kernel may still write into this op's memory and no driver can take it (the
            // runtime is gone): leak it rather than free it.
            std::mem::forget(d);
        }
    }
}
