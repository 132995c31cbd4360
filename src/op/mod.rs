//! Operations: one type per operation, each stating both of its forms side by side in the
//! driver's words (`driver::Operation`) and what it is to its fd (`OpAble`), and [`Op<T>`],
//! the future that runs one on the current executor's driver.
//!
//! - the completion form, `sqe`: the SQE that performs it on io_uring;
//! - the readiness form, `direction` + `attempt`: the direction to wait on, and the syscall to
//!   retry after readiness (Go's try / EAGAIN / park loop).
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
pub(crate) mod recv_pooled;
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

pub(crate) use crate::driver::Operation;
use crate::driver::{Direction, OpState, Orphan};
use crate::fd::SharedFd;
use crate::runtime::context;
use crate::runtime::executor::Core;
use deadline::DeadlineWait;
use std::future::Future;
use std::io;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// What an operation is to its fd, beside its forms (`Operation`, in the driver's words).
pub(crate) trait OpAble: Operation + Sized + 'static {
    /// The fd the op works on (`None`: a nop, a kernel timeout, the close of a bare number).
    fn fd(&self) -> Option<&SharedFd>;

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
    /// The op's data until its result is returned. Dropped by hand (`Drop for Op`): a
    /// finished op has none, and its drop is then a test of one word.
    data: ManuallyDrop<Option<T>>,
    state: OpState,
    /// The executor it started on (its driver holds the op's slot).
    owner: u64,
    /// The deadline's timer and watch, once the op's fd has had a deadline (boxed: the ops of
    /// an fd that never had one carry a null pointer).
    deadline: Option<Box<DeadlineWait>>,
    /// The CQE's flags, once the op is done.
    flags: u32,
}

// Op never pins its data: the data is moved in and out by value.
impl<T: OpAble> Unpin for Op<T> {}

impl<T: OpAble> Op<T> {
    pub(crate) fn new(data: T) -> Op<T> {
        Op {
            data: ManuallyDrop::new(Some(data)),
            state: OpState::Unstarted,
            owner: 0,
            deadline: None,
            flags: 0,
        }
    }

    fn data(&mut self) -> &mut T {
        self.data
            .as_mut()
            .expect("op data present until completion")
    }

    /// Ends the op with `result` (its data stays until `take_data`).
    #[inline(always)]
    fn finish(&mut self, result: io::Result<u32>, flags: u32) -> Poll<io::Result<u32>> {
        self.state = OpState::Done;
        self.flags = flags;
        Poll::Ready(result)
    }

    /// The data of an op that is done (`poll_result` answered `Ready`), handed back.
    #[inline(always)]
    pub(crate) fn take_data(&mut self) -> T {
        let data = self.data.take().expect("op data taken once, when done");
        if let (Some(wait), Some(fd)) = (&mut self.deadline, data.fd()) {
            wait.unwatch(fd);
        }
        data
    }

    /// The CQE's flags of an op that is done (0 on the readiness driver).
    #[allow(dead_code)]
    pub(crate) fn flags(&self) -> u32 {
        self.flags
    }

    /// Polls the op to its result, which comes alone (a small value, in registers); the data
    /// stays in the op for `take_data`.
    #[inline]
    pub(crate) fn poll_result(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<u32>> {
        context::with_core(|core| match self.poll_fast(core, cx) {
            Some(poll) => poll,
            None => self.poll_on(core, cx),
        })
    }

    /// The common cases, with nothing in the op's way (the fd's one state word says so, no
    /// deadline): a native start on the ring, a CQE collected, a readiness attempt. `None`:
    /// take the general path (`poll_on`), which handles everything.
    #[inline(always)]
    fn poll_fast(&mut self, core: &Core, cx: &mut Context<'_>) -> Option<Poll<io::Result<u32>>> {
        if self.deadline.is_some() {
            return None;
        }
        let id = core.id();
        let Op {
            data, state, owner, ..
        } = self;
        let data = data.as_mut()?;
        let fd = data.fd();
        let polled = match *state {
            OpState::InRing(user_data) => {
                if *owner != id || fd.is_some_and(SharedFd::deadlines_watched) {
                    return None;
                }
                core.driver.borrow_mut().collect(user_data, cx)
            }
            OpState::Unstarted => {
                let target = match fd {
                    Some(fd) => Some(fd.quiet(id, true)?),
                    None => None,
                };
                let mut driver = core.driver.borrow_mut();
                if !driver.runs_inline::<T>() || !core.take_op_budget() {
                    return None;
                }
                *owner = id;
                driver.start_inline(state, data, target, cx)
            }
            OpState::Trying => {
                let target = match fd {
                    Some(fd) => Some(fd.quiet(id, false)?),
                    None => None,
                };
                if *owner != id {
                    return None;
                }
                core.driver.borrow_mut().poll_op(state, data, target, cx)
            }
            _ => return None,
        };
        match polled {
            Poll::Pending => Some(Poll::Pending),
            Poll::Ready((Ok(n), flags)) => Some(self.finish(Ok(n), flags)),
            // `None` when the op must start again (see `epilogue`): the general path does.
            Poll::Ready((Err(e), flags)) => self.epilogue(e).map(|res| self.finish(res, flags)),
        }
    }

    /// The slow road before the driver, for an op whose fd answered that something stands in
    /// its way (`SharedFd::quiet`), or that has a deadline: with nothing in the kernel (Go's
    /// fdMutex) a closed fd fails fast; before the op starts, a read waits for dropped reads
    /// still in flight and takes what they kept, and an fd bound to another executor is
    /// refused; then the deadline. `Ready(None)`: go on to the driver.
    fn prologue(&mut self, core: &Core, cx: &mut Context<'_>) -> Poll<Option<io::Result<u32>>> {
        let unstarted = self.state == OpState::Unstarted;
        let in_kernel = self.state.in_kernel();
        let Op {
            data,
            state,
            owner,
            deadline,
            ..
        } = self;
        let data = data.as_mut().expect("op data present until completion");
        let Some(fd) = data.fd() else {
            return Poll::Ready(None);
        };
        if !in_kernel {
            if let Err(e) = fd.check_open() {
                return Poll::Ready(Some(Err(e)));
            }
        }
        if let (Some(dir), true) = (T::ORDERED, unstarted) {
            if fd.poll_orphans(dir, cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(res) = data.take_stashed() {
                return Poll::Ready(Some(res));
            }
        }
        if let Some(dir) = data.deadline() {
            let fd = data.fd().expect("checked above");
            if deadline.is_none() && fd.deadlines_watched() {
                *deadline = Some(Box::default());
            }
            if let Some(wait) = deadline {
                if deadline_passed(wait, fd, dir, *state, *owner, core, cx) {
                    return Poll::Ready(Some(Err(deadline::timed_out())));
                }
            }
        }
        if unstarted {
            // A poll descriptor or a registered slot names the fd only to its own driver.
            let fd = data.fd().expect("checked above");
            let checked =
                core.driver.borrow().needs_nonblocking_fds() || fd.fixed_index().is_some();
            if let (true, Err(e)) = (checked, fd.check_executor(core.id())) {
                return Poll::Ready(Some(Err(e)));
            }
        }
        Poll::Ready(None)
    }

    /// After the driver answered: an -ECANCELED the op did not ask for (a dup's close) is
    /// retried; an error on a closing fd is "closed"; a cancel for a passed deadline is
    /// `TimedOut`. `None`: submit again.
    fn epilogue(&mut self, e: io::Error) -> Option<io::Result<u32>> {
        let expired = self.deadline.as_ref().is_some_and(|w| w.expired());
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
        if expired && cancelled {
            return Some(Err(deadline::timed_out()));
        }
        Some(Err(e))
    }

    /// One poll, on the current executor (looked up once, by `poll_result`): every case.
    #[inline(never)]
    fn poll_on(&mut self, core: &Core, cx: &mut Context<'_>) -> Poll<io::Result<u32>> {
        loop {
            let starting = self.state == OpState::Unstarted;
            // The one question to the fd (one state word); the slow road only if it says so.
            let quiet = self.deadline.is_none()
                && match self.data.as_ref().and_then(|d| d.fd()) {
                    Some(fd) if self.state.in_kernel() => !fd.deadlines_watched(),
                    Some(fd) => fd.quiet(core.id(), starting).is_some(),
                    None => true,
                };
            if !quiet {
                match self.prologue(core, cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(res)) => return self.finish(res, 0),
                    Poll::Ready(None) => {}
                }
            }
            if starting {
                if !core.take_op_budget() {
                    // This poll of the task has started its share of ops: yield, start next time.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                self.owner = core.id();
            } else {
                assert_eq!(
                    self.owner,
                    core.id(),
                    "corio op polled on a runtime other than the one it started on"
                );
            }
            let Op { data, state, .. } = self;
            let data = data.as_mut().expect("op data present until completion");
            let target = data.fd().map(SharedFd::target);
            let polled = core.driver.borrow_mut().poll_op(state, data, target, cx);
            match polled {
                Poll::Pending => {
                    if !quiet {
                        self.watch_deadline(cx);
                    }
                    return Poll::Pending;
                }
                Poll::Ready((Ok(n), flags)) => return self.finish(Ok(n), flags),
                Poll::Ready((Err(e), flags)) => match self.epilogue(e) {
                    Some(res) => return self.finish(res, flags),
                    None => continue,
                },
            }
        }
    }

    /// The op waits: a deadline that moves must wake it.
    fn watch_deadline(&mut self, cx: &Context<'_>) {
        let Op { data, deadline, .. } = self;
        if let Some(d) = data.as_ref().filter(|d| d.deadline().is_some()) {
            if let Some(fd) = d.fd().filter(|fd| fd.deadlines_watched()) {
                deadline
                    .get_or_insert_with(Box::default)
                    .watch(fd, cx.waker());
            }
        }
    }
}

impl<T: OpAble> Future for Op<T> {
    type Output = Completion<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Completion<T>> {
        let this = self.get_mut();
        let result = ready!(this.poll_result(cx));
        Poll::Ready(Completion {
            result,
            flags: this.flags,
            data: this.take_data(),
        })
    }
}

/// Checks the fd's deadline for `dir` and arms its timer. True if the op must end now with
/// `TimedOut`: it passed and nothing is in the kernel (not started, or parked on the readiness
/// driver). An op in the ring is cancelled instead, and ends with its CQE.
fn deadline_passed(
    wait: &mut DeadlineWait,
    fd: &SharedFd,
    dir: Direction,
    state: OpState,
    owner: u64,
    core: &Core,
    cx: &mut Context<'_>,
) -> bool {
    let at = fd.deadline(dir);
    if wait.expired() || (at.is_none() && !wait.armed()) {
        // No deadline: nothing to check, no timer.
        return false;
    }
    if !wait.passed(at, cx) {
        return false;
    }
    if !state.in_kernel() {
        return true;
    }
    wait.set_expired();
    if owner == core.id() {
        if let Ok(mut driver) = core.driver.try_borrow_mut() {
            driver.cancel_op(state);
        }
    }
    false
}

impl<T: OpAble> Drop for Op<T> {
    #[inline]
    fn drop(&mut self) {
        if self.data.is_some() {
            self.drop_unfinished();
        }
    }
}

impl<T: OpAble> Op<T> {
    /// The future was dropped before its result was returned.
    #[cold]
    fn drop_unfinished(&mut self) {
        let Some(data) = self.data.take() else {
            return;
        };
        if let (Some(wait), Some(fd)) = (&mut self.deadline, data.fd()) {
            wait.unwatch(fd);
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
