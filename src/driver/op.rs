//! What an operation is to a driver: its two forms, and where it stands.
//!
//! The operations themselves (`op/`) implement [`Operation`]; the driver runs whichever form
//! it has — the completion form as an SQE (io_uring), the readiness form as Go's loop (try the
//! syscall, park on EAGAIN, try again when the fd is ready). The driver knows nothing else of
//! them: not their fd type, not their buffers, not their futures.

use super::token::Token;
use io_uring::squeue;
use std::io;
use std::os::fd::RawFd;

/// Which half of a socket an operation uses: the direction it waits on, and the deadline that
/// bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

/// Where the readiness form waits after EAGAIN: the fd's registration with this driver (its
/// poll descriptor's token), and the direction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Interest {
    /// The fd (io_uring finds the ops waiting on one fd by it).
    pub(crate) fd: RawFd,
    /// `None`: the fd is not registered with this driver, so nothing could wake a parked
    /// attempt; an EAGAIN is reported as the op's error instead.
    pub(crate) token: Option<Token>,
    pub(crate) dir: Direction,
}

/// One operation, in both forms.
pub(crate) trait Operation {
    /// Completion form: the SQE (the driver sets its user_data). Every pointer in it points
    /// into memory the operation owns on the heap, so moving the operation moves nothing the
    /// kernel sees.
    fn sqe(&mut self) -> squeue::Entry;

    /// Readiness form: where to wait after EAGAIN; `None` for an operation that never waits.
    fn interest(&self) -> Option<Interest>;

    /// Readiness form: the syscall to try (again).
    fn attempt(&mut self) -> io::Result<u32>;

    /// Readiness form: true if `result` proves the fd has nothing more for now (a TCP read
    /// shorter than asked), so the next attempt may park without a syscall.
    fn drains(&self, result: u32) -> bool;

    /// Readiness form: the operation only waits for readiness (a poll; no data moves), so once
    /// it has parked, the edge that wakes it completes it without another attempt.
    fn readiness_only(&self) -> bool {
        false
    }
}

/// What a dropped operation leaves with the io_uring driver: its resources, and what to do
/// with the result when the CQE arrives (keep bytes read, close a connection accepted, ...).
pub(crate) trait Orphan {
    fn complete(self: Box<Self>, result: io::Result<u32>, flags: u32);
}

/// Where one operation stands with its driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpState {
    /// Not yet started.
    Unstarted,
    /// Its SQE is pushed; the slot named by this user_data holds its result.
    InRing(u64),
    /// Tried at least once on the readiness driver (nothing is in the kernel between polls).
    Trying,
    /// Its result was returned.
    Done,
}

impl OpState {
    /// True while the kernel may still use the operation's memory.
    pub(crate) fn in_kernel(self) -> bool {
        matches!(self, OpState::InRing(_))
    }
}
