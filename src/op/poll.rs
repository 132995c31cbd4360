//! Poll: wait until an fd is readable (or writable) without moving any data, so a caller can
//! take a buffer only once bytes are there (a proxy keeps no buffer for an idle connection).
//!
//! - io_uring: one single-shot `IORING_OP_POLL_ADD` (POLLIN or POLLOUT); its CQE carries the
//!   revents mask.
//! - epoll: the poll descriptor's slot for that direction (Go's `pollDesc.wait`). A slot known
//!   to be empty (`Drained`, after a short read) parks at once; a slot with no knowledge is
//!   probed with one `poll(2)` of zero timeout; once parked, the edge that wakes the op
//!   completes it, with no further syscall (`OpAble::legacy_readiness_only`).
//!
//! Readable means "a read would not wait": data, EOF, or an error is pending. An error is left
//! for the read to report. Nothing is kept when the future is dropped: no data moved.

use super::deadline::with_deadline;
use super::{Op, OpAble};
use crate::driver::epoll::Direction;
use crate::fd::SharedFd;
use crate::sys::syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct PollReady {
    fd: SharedFd,
    dir: Direction,
}

impl PollReady {
    fn events(&self) -> libc::c_short {
        match self.dir {
            Direction::Read => libc::POLLIN | libc::POLLRDHUP,
            Direction::Write => libc::POLLOUT,
        }
    }
}

impl OpAble for PollReady {
    fn uring_op(&mut self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd.raw()), self.events() as u16 as u32).build()
    }
    fn legacy_interest(&self) -> Option<(&SharedFd, Direction)> {
        Some((&self.fd, self.dir))
    }
    /// The probe for a slot with no knowledge: poll(2) with a zero timeout; "nothing yet" is
    /// EAGAIN, so the op parks on the slot.
    fn legacy_call(&mut self) -> io::Result<u32> {
        let mut pfd = libc::pollfd {
            fd: self.fd.raw(),
            events: self.events(),
            revents: 0,
        };
        match syscall!(poll(&mut pfd, 1, 0))? {
            0 => Err(io::Error::from_raw_os_error(libc::EAGAIN)),
            _ => Ok(pfd.revents as u16 as u32),
        }
    }
    fn legacy_readiness_only(&self) -> bool {
        true
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

/// Waits until a read on `fd` would not wait: stashed bytes from a dropped read, data, EOF or
/// an error. Observes the read deadline.
pub(crate) async fn readable(fd: &SharedFd) -> io::Result<()> {
    fd.wait_orphans().await;
    fd.check_open()?;
    if fd.read_side().has_stash() {
        return Ok(());
    }
    ready(fd, Direction::Read).await
}

/// Waits until a write on `fd` would not wait (buffer space, or an error). Observes the write
/// deadline.
pub(crate) async fn writable(fd: &SharedFd) -> io::Result<()> {
    fd.check_open()?;
    ready(fd, Direction::Write).await
}

async fn ready(fd: &SharedFd, dir: Direction) -> io::Result<()> {
    let op = Op::new(PollReady {
        fd: fd.clone(),
        dir,
    });
    let done = with_deadline(fd, dir, op).await;
    match done.result {
        Ok(_) => Ok(()),
        Err(e) => Err(fd.check_open().err().unwrap_or_else(|| unsupported(e))),
    }
}
