//! Operations: one type per operation, each stating both of its forms side by side, and
//! [`Op<T>`], the future that runs one on the current executor's driver.
//!
//! - the completion form, `uring_op`: the SQE that performs it on io_uring;
//! - the readiness form, `readiness_interest` + `readiness_call`: the direction to wait on,
//!   and the syscall to retry after readiness (Go's try / EAGAIN / park loop).
//!
//! `Op<T>` does once, for every op, what surrounds the driver call: a closed fd fails fast; a
//! read waits for dropped reads still in flight on its fd and takes what they kept first
//! (lossless cancellation); the fd's deadline bounds the wait; an error on an fd that is
//! closing reads "use of closed network connection". On io_uring the op's data is owned by
//! the future while the future lives; if the future is dropped in flight, the data moves into
//! the driver's slot, the op is cancelled, and the data is released only after the CQE (see
//! docs/architecture.md, "Ownership").

pub(crate) mod accept;
pub(crate) mod close;
pub(crate) mod connect;
mod deadline;
pub(crate) mod fsync;
pub(crate) mod nop;
pub(crate) mod open;
pub(crate) mod pass_fds;
pub(crate) mod path;
pub(crate) mod poll;
pub(crate) mod read;
pub(crate) mod recv;
pub(crate) mod recv_from;
pub(crate) mod register;
pub(crate) mod send;
pub(crate) mod send_to;
pub(crate) mod shutdown;
pub(crate) mod splice;
pub(crate) mod statx;
pub(crate) mod timeout;
pub(crate) mod truncate;
pub(crate) mod write_at;
pub(crate) mod writev;

pub use nop::nop;
pub use timeout::kernel_sleep;

use crate::driver::{Direction, FileRef, Interest, OpState, Opcode, Operation, Orphan};
use crate::fd::SharedFd;
use crate::runtime::context;
use crate::sys::blocking::Blocking;
use deadline::DeadlineWait;
use io_uring::squeue;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One operation, in its forms, and what it is to its fd.
pub(crate) trait OpAble: Sized + 'static {
    /// The opcode of the completion form, named once in `driver::opcodes`: the driver runs the
    /// op natively only where the kernel has it (`Driver::runs_natively`), else in its blocking
    /// form on the pool or its readiness form.
    const OPCODE: Opcode;

    /// The fd the op works on (`None`: a nop, a kernel timeout, the close of a bare number).
    fn fd(&self) -> Option<&SharedFd>;

    /// Completion form: the SQE (user_data is set by the driver). Every pointer in it must
    /// point into memory that `self` owns and that does not move when `self` does (heap). A
    /// file goes in only through `SharedFd::file_ref` and its builders (`FileRef::sqe`,
    /// `FileRef::splice`), which add the flag its kind needs (docs/architecture.md, "What an
    /// SQE names").
    fn uring_op(&mut self) -> squeue::Entry;

    /// Readiness form: the direction to wait on after EAGAIN; `None` for an op that never
    /// waits (or whose fd cannot be polled).
    fn readiness_interest(&self) -> Option<Direction>;

    /// Readiness form: the syscall to try (again). The default makes the blocking call in
    /// place, for ops that have one (files), where it is never reached: their blocking form
    /// always comes first.
    fn readiness_call(&mut self) -> io::Result<u32> {
        match self.blocking_call() {
            Some(call) => call.run(),
            None => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// Blocking form: the syscall a blocking-pool thread makes for this op, built like the SQE
    /// from memory `self` owns on the heap (it stays put until the result is delivered, in the
    /// future or in the driver's slot). `Some` for file operations — on epoll they always run
    /// there, on io_uring where the kernel lacks the opcode; `None` (the default) for socket
    /// operations, which wait for readiness instead.
    fn blocking_call(&mut self) -> Option<Blocking> {
        None
    }

    /// Readiness form: true if `result` proves the fd has nothing more for now (a TCP read
    /// shorter than asked), so the next attempt can park without a syscall.
    fn readiness_drained(&self, _result: u32) -> bool {
        false
    }

    /// Readiness form: the op only waits for readiness (a poll, no data moves), so once it
    /// has parked, the edge that wakes it completes it without another `readiness_call`.
    fn readiness_only(&self) -> bool {
        false
    }

    /// The deadline that bounds this op (Go's read and write deadlines), if any.
    fn deadline(&self) -> Option<Direction> {
        None
    }

    /// The direction in which this op keeps order with dropped ops: before it starts, the ops
    /// of that direction dropped in flight on its fd must have finished (their bytes come
    /// first); and when it is dropped in flight itself, later ones wait for it. A read or an
    /// accept also takes what dropped ones kept (`take_stashed`) before it asks the kernel
    /// (lossless cancellation).
    const ORDERED: Option<Direction> = None;

    /// A read-side op's result from what dropped reads kept, written as the kernel would (a
    /// read fills the spare capacity); `None` if nothing is kept.
    fn take_stashed(&mut self) -> Option<io::Result<u32>> {
        None
    }

    /// io_uring only: whether the op may simply be submitted again when the close of another
    /// fd over the same open file cancelled it (`close()` cancels by file, which dup'd fds
    /// share). False: report -ECANCELED (connect: it may have started the handshake).
    fn restartable(&self) -> bool {
        true
    }

    /// io_uring only: the future was dropped with the op in flight and its result arrived;
    /// keep what it carried.
    fn orphan_complete(self, _result: io::Result<u32>, _flags: u32) {}
}

impl<T: OpAble> Operation for T {
    const OPCODE: Opcode = <T as OpAble>::OPCODE;

    fn sqe(&mut self) -> squeue::Entry {
        self.uring_op()
    }
    fn file(&self) -> Option<FileRef> {
        OpAble::fd(self).map(SharedFd::file_ref)
    }
    fn blocking(&mut self) -> Option<Blocking> {
        self.blocking_call()
    }
    fn interest(&self) -> Option<Interest> {
        let (fd, dir) = (OpAble::fd(self)?, self.readiness_interest()?);
        Some(Interest {
            token: fd.token(),
            dir,
        })
    }
    fn attempt(&mut self) -> io::Result<u32> {
        self.readiness_call()
    }
    fn drains(&self, result: u32) -> bool {
        self.readiness_drained(result)
    }
    fn readiness_only(&self) -> bool {
        OpAble::readiness_only(self)
    }
}

impl<T: OpAble> Orphan for T {
    fn complete(self: Box<Self>, result: io::Result<u32>, flags: u32) {
        let fd = T::ORDERED.and(self.fd().cloned());
        (*self).orphan_complete(result, flags);
        if let (Some(dir), Some(fd)) = (T::ORDERED, fd) {
            // After what it kept is in place: the ops waiting for it find it.
            fd.orphan_finished(dir);
        }
    }
}

/// What a finished op gives back: the kernel's result, the CQE flags, and the op's data.
pub(crate) struct Completion<T> {
    pub(crate) result: io::Result<u32>,
    #[allow(dead_code)]
    pub(crate) flags: u32,
    pub(crate) data: T,
}

/// The future of one operation on the current executor's driver.
pub(crate) struct Op<T: OpAble> {
    data: Option<T>,
    state: OpState,
    /// The executor it started on (its driver holds the op's slot).
    owner: u64,
    /// The deadline's timer and watch, while one applies.
    deadline: DeadlineWait,
}

// Op never pins its data: the data is moved in and out by value.
impl<T: OpAble> Unpin for Op<T> {}

impl<T: OpAble> Op<T> {
    pub(crate) fn new(data: T) -> Op<T> {
        Op {
            data: Some(data),
            state: OpState::Unstarted,
            owner: 0,
            deadline: DeadlineWait::default(),
        }
    }

    fn data(&mut self) -> &mut T {
        self.data
            .as_mut()
            .expect("op data present until completion")
    }

    /// Ends the op with `result`, handing its data back.
    fn finish(&mut self, result: io::Result<u32>, flags: u32) -> Completion<T> {
        self.state = OpState::Done;
        let data = self.data.take().expect("op data present until completion");
        if let Some(fd) = data.fd() {
            self.deadline.unwatch(fd);
        }
        Completion {
            result,
            flags,
            data,
        }
    }

    /// Before each attempt with nothing in the kernel (Go's fdMutex: a closed fd fails fast),
    /// and before the op starts: a read waits for dropped reads still in flight and takes what
    /// they kept. `Ready(None)`: go on to the driver.
    fn prologue(&mut self, cx: &Context<'_>) -> Poll<Option<io::Result<u32>>> {
        let unstarted = self.state == OpState::Unstarted;
        let data = self.data();
        let Some(fd) = data.fd() else {
            return Poll::Ready(None);
        };
        if let Err(e) = fd.check_open() {
            return Poll::Ready(Some(Err(e)));
        }
        if let (Some(dir), true) = (T::ORDERED, unstarted) {
            if fd.poll_orphans(dir, cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(res) = data.take_stashed() {
                return Poll::Ready(Some(res));
            }
        }
        Poll::Ready(None)
    }

    /// One call into the driver (the executor check first, on the op's first poll).
    fn poll_driver(&mut self, cx: &Context<'_>) -> Poll<(io::Result<u32>, u32)> {
        let Op {
            data, state, owner, ..
        } = self;
        let data = data.as_mut().expect("op data present until completion");
        let starting = *state == OpState::Unstarted;
        context::with_op_driver(starting, |id, allowed, driver| {
            if !allowed {
                // This poll of the task has started its share of ops: yield, start next time.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if starting {
                *owner = id;
                // A poll descriptor or a registered slot names the fd only to its own driver.
                if let Some(fd) = data.fd() {
                    let checked = driver.needs_nonblocking_fds() || fd.fixed_index().is_some();
                    if let (true, Err(e)) = (checked, fd.check_executor(id)) {
                        return Poll::Ready((Err(e), 0));
                    }
                }
            } else {
                assert_eq!(
                    *owner, id,
                    "corio op polled on a runtime other than the one it started on"
                );
            }
            driver.poll_op(state, data, cx)
        })
    }

    /// After the driver answered: an -ECANCELED the op did not ask for (a dup's close) is
    /// retried; an error on a closing fd is "closed"; a cancel for a passed deadline is
    /// `TimedOut`. `None`: submit again.
    fn epilogue(&mut self, res: io::Result<u32>) -> Option<io::Result<u32>> {
        let Err(e) = res else { return Some(res) };
        let expired = self.deadline.expired();
        let data = self.data();
        let cancelled = e.raw_os_error() == Some(libc::ECANCELED);
        let open = data.fd().map(SharedFd::check_open);
        if cancelled && !expired && data.restartable() && matches!(open, Some(Ok(()))) {
            self.state = OpState::Unstarted;
            return None;
        }
        if let Some(Err(closed)) = open {
            return Some(Err(closed));
        }
        if expired && e.raw_os_error() == Some(libc::ECANCELED) {
            return Some(Err(deadline::timed_out()));
        }
        Some(Err(e))
    }
}

impl<T: OpAble> Future for Op<T> {
    type Output = Completion<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Completion<T>> {
        let this = self.get_mut();
        loop {
            if !this.state.in_kernel() {
                match this.prologue(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(res)) => return Poll::Ready(this.finish(res, 0)),
                    Poll::Ready(None) => {}
                }
            }
            if let Some(dir) = this.data().deadline() {
                if this.deadline_passed(dir, cx) {
                    return Poll::Ready(this.finish(Err(deadline::timed_out()), 0));
                }
            }
            match this.poll_driver(cx) {
                Poll::Pending => {
                    this.watch_deadline(cx);
                    return Poll::Pending;
                }
                Poll::Ready((res, flags)) => match this.epilogue(res) {
                    Some(res) => return Poll::Ready(this.finish(res, flags)),
                    None => continue,
                },
            }
        }
    }
}

impl<T: OpAble> Op<T> {
    /// The op waits: a deadline that moves must wake it.
    fn watch_deadline(&mut self, cx: &Context<'_>) {
        let Op { data, deadline, .. } = self;
        if let Some(d) = data.as_ref().filter(|d| d.deadline().is_some()) {
            if let Some(fd) = d.fd() {
                deadline.watch(fd, cx.waker());
            }
        }
    }

    /// Checks the fd's deadline for `dir` and arms its timer. True if the op must end now with
    /// `TimedOut`: it passed and nothing is in the kernel (not started, or parked on the
    /// readiness driver). An op in the ring is cancelled instead, and ends with its CQE.
    fn deadline_passed(&mut self, dir: Direction, cx: &mut Context<'_>) -> bool {
        let Op {
            data,
            state,
            owner,
            deadline,
        } = self;
        let Some(fd) = data.as_ref().and_then(|d| d.fd()) else {
            return false;
        };
        let at = fd.deadline(dir);
        if deadline.expired() || (at.is_none() && !deadline.armed()) {
            // No deadline (the common case): nothing to check, no timer.
            return false;
        }
        if !deadline.passed(at, cx) {
            return false;
        }
        if !state.in_kernel() {
            return true;
        }
        deadline.set_expired();
        let (state, owner) = (*state, *owner);
        context::try_with_driver(|id, driver| {
            if id == owner {
                driver.cancel_op(state);
            }
        });
        false
    }
}

impl<T: OpAble> Drop for Op<T> {
    fn drop(&mut self) {
        let Some(data) = self.data.take() else {
            return;
        };
        if let Some(fd) = data.fd() {
            self.deadline.unwatch(fd);
        }
        if !self.state.in_kernel() {
            // Never started, finished, or on the readiness driver: nothing is in the kernel.
            return;
        }
        let (state, owner) = (self.state, self.owner);
        let mut data = Some(data);
        context::try_with_driver(|id, driver| {
            let Some(d) = data.take_if(|_| id == owner) else {
                return;
            };
            if let (Some(dir), Some(fd)) = (T::ORDERED, d.fd()) {
                fd.orphan_started(dir);
            }
            if let Err(back) = driver.orphan_op(state, Box::new(d)) {
                // An op in the kernel always has its slot with its owner; should that fail,
                // keeping the memory is the safe side.
                std::mem::forget(back);
            }
        });
        if let Some(d) = data {
            // The kernel may still write into this op's memory and no driver can take it (the
            // runtime is gone, or another is current): leak it rather than free it.
            std::mem::forget(d);
        }
    }
}

#[cfg(test)]
mod tests;
