//! The readiness form on the ring, for an op whose opcode this kernel lacks and that has no
//! blocking form (a socket op; files go to the pool): Go's loop, with the ring as the poller —
//! try the syscall; on EAGAIN arm a one-shot IORING_OP_POLL_ADD for the fd's direction; try
//! again when it completes. POLL_ADD is a required opcode for exactly this reason.
//!
//! While the POLL_ADD is in flight the op is `Polling`: a deadline or `close()` cancels the
//! poll by user_data or by fd like any SQE, and its -ECANCELED ends the op the usual way. A
//! dropped op leaves its data in the poll's slot (`NeverRan`): its syscall never ran, so the
//! data completes as cancelled and keeps nothing.

use super::Uring;
use crate::driver::op::{Direction, FileRef, OpFile, OpState, Operation, Orphan};
use crate::driver::OpResult;
use io_uring::opcode;
use std::io;
use std::task::{Context, Poll};

/// What a dropped op waiting for readiness leaves in its POLL_ADD's slot.
pub(crate) struct NeverRan(pub(crate) Box<dyn Orphan>);

impl Orphan for NeverRan {
    fn complete(self: Box<Self>, _poll_result: io::Result<u32>, _flags: u32) {
        // The poll's result is not the op's: the op never made its syscall.
        let cancelled = io::Error::from_raw_os_error(libc::ECANCELED);
        self.0.complete(Err(cancelled), 0);
    }
}

impl Uring {
    /// Starts or continues `op` in readiness form (see the module docs).
    pub(crate) fn poll_readiness<O: Operation>(
        &mut self,
        state: &mut OpState,
        op: &mut O,
        target: Option<OpFile>,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        loop {
            match *state {
                OpState::Polling(user_data) => match self.slots.poll(user_data, cx) {
                    Poll::Pending => return Poll::Pending,
                    // Cancelled (a deadline, close) or refused: the op ends with it.
                    Poll::Ready((res, _)) if res < 0 => {
                        return Poll::Ready((crate::sys::cqe_result(res), 0))
                    }
                    Poll::Ready(_) => *state = OpState::Trying,
                },
                OpState::Unstarted | OpState::Trying => {
                    if *state == OpState::Unstarted {
                        self.stats.ops_submitted += 1;
                        *state = OpState::Trying;
                    }
                    self.stats.io_syscalls += 1;
                    match op.attempt() {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) if crate::sys::would_block(&e) => match (op.direction(), target) {
                            (Some(dir), Some(target)) => {
                                return self.push_poll(state, target.file, dir, cx)
                            }
                            _ => return Poll::Ready((Err(e), 0)),
                        },
                        res => return Poll::Ready((res, 0)),
                    }
                }
                s @ (OpState::InRing(_) | OpState::InPool(_) | OpState::Done) => {
                    unreachable!("readiness form on the ring in state {s:?}")
                }
            }
        }
    }

    /// Arms a one-shot POLL_ADD on `file` (its fd or its slot) for `dir`, and parks the op on
    /// it.
    fn push_poll(
        &mut self,
        state: &mut OpState,
        file: FileRef,
        dir: Direction,
        cx: &Context<'_>,
    ) -> Poll<OpResult> {
        let mask = match dir {
            Direction::Read => libc::POLLIN | libc::POLLRDHUP | libc::POLLPRI,
            Direction::Write => libc::POLLOUT,
        } as u32;
        let user_data = self.slots.insert(Some(file), cx.waker());
        let sqe = file
            .sqe(|fd| opcode::PollAdd::new(fd, mask).build())
            .user_data(user_data);
        // SAFETY: a POLL_ADD SQE carries no pointers.
        match unsafe { self.push(&sqe) } {
            Ok(()) => {
                self.stats.eagain += 1;
                *state = OpState::Polling(user_data);
                Poll::Pending
            }
            Err(e) => {
                self.slots.forget(user_data);
                Poll::Ready((Err(e), 0))
            }
        }
    }
}

#[cfg(test)]
mod tests;
