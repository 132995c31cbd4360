//! Poll: wait until an fd is readable (or writable) without moving any data, so a caller can
//! take a buffer only once bytes are there (a proxy keeps no buffer for an idle connection).
//!
//! - io_uring: one single-shot `IORING_OP_POLL_ADD` (POLLIN or POLLOUT); its CQE carries the
//!   revents mask.
//! - epoll: the poll descriptor's slot for that direction (Go's `pollDesc.wait`). A slot known
//!   to be empty (`Drained`, after a short read) parks at once; a slot with no knowledge is
//!   probed with one `poll(2)` of zero timeout; once parked, the edge that wakes the op
//!   completes it, with no further syscall (`OpAble::readiness_only`).
//!
//! Readable means "a read would not wait": data, EOF, or an error is pending. An error is left
//! for the read to report. Nothing is kept when the future is dropped: no data moved.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::syscall;
use io_uring::{opcode, squeue};
use std::io;

/// A wait for readability.
pub(crate) struct PollIn {
    fd: SharedFd,
}

/// A wait for writability.
pub(crate) struct PollOut {
    fd: SharedFd,
}

const IN: libc::c_short = libc::POLLIN | libc::POLLRDHUP;
const OUT: libc::c_short = libc::POLLOUT;

fn poll_add(fd: &SharedFd, events: libc::c_short) -> squeue::Entry {
    fd.file_ref()
        .sqe(|fd| opcode::PollAdd::new(fd, events as u16 as u32).build())
}

/// The probe for a slot with no knowledge: poll(2) with a zero timeout; "nothing yet" is
/// EAGAIN, so the op parks on the slot.
fn probe(fd: &SharedFd, events: libc::c_short) -> io::Result<u32> {
    let mut pfd = libc::pollfd {
        fd: fd.raw(),
        events,
        revents: 0,
    };
    match syscall!(poll(&mut pfd, 1, 0))? {
        0 => Err(io::Error::from_raw_os_error(libc::EAGAIN)),
        _ => Ok(pfd.revents as u16 as u32),
    }
}

impl Operation for PollIn {
    const OPCODE: Opcode = opcodes::POLL_ADD;
    fn sqe(&mut self) -> squeue::Entry {
        poll_add(&self.fd, IN)
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        probe(&self.fd, IN)
    }
    fn readiness_only(&self) -> bool {
        true
    }
}

impl OpAble for PollIn {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    /// It keeps order with dropped reads: one still in flight may bring bytes (kept for the
    /// next read), and bytes already kept make the socket readable at once.
    const ORDERED: Option<Direction> = Some(Direction::Read);
    fn take_stashed(&mut self) -> Option<io::Result<u32>> {
        self.fd.has_stash().then_some(Ok(0))
    }
}

impl Operation for PollOut {
    const OPCODE: Opcode = opcodes::POLL_ADD;
    fn sqe(&mut self) -> squeue::Entry {
        poll_add(&self.fd, OUT)
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        probe(&self.fd, OUT)
    }
    fn readiness_only(&self) -> bool {
        true
    }
}

impl OpAble for PollOut {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
}

/// Maps the kernel's refusal of the opcode (an io_uring without POLL_ADD answers EINVAL; the
/// arguments here are always valid) to `Unsupported`.
fn unsupported(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::EINVAL) {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel refused IORING_OP_POLL_ADD (EINVAL)",
        )
    } else {
        e
    }
}

/// Waits until a read on `fd` would not wait: bytes kept from a dropped read, data, EOF or
/// an error. Observes the read deadline.
pub(crate) async fn readable(fd: &SharedFd) -> io::Result<()> {
    let op = Op::new(PollIn { fd: fd.clone() });
    op.await.result.map(drop).map_err(unsupported)
}

/// Waits until a write on `fd` would not wait (buffer space, or an error). Observes the write
/// deadline.
pub(crate) async fn writable(fd: &SharedFd) -> io::Result<()> {
    let op = Op::new(PollOut { fd: fd.clone() });
    op.await.result.map(drop).map_err(unsupported)
}
