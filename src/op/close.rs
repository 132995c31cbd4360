//! Close: release an fd, or a slot of the ring's registered files, once no other operation can
//! use it.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::{SharedFd, Taken};
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::RawFd;

pub(crate) struct Close {
    fd: RawFd,
}

impl Operation for Close {
    const OPCODE: Opcode = opcodes::CLOSE;
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Close::new(types::Fd(self.fd)).build()
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn attempt(&mut self) -> io::Result<u32> {
        crate::sys::close(self.fd).map(|_| 0)
    }
}

impl OpAble for Close {
    fn fd(&self) -> Option<&SharedFd> {
        None
    }
}

/// IORING_OP_CLOSE of a registered slot (io_uring only: only a ring has slots).
pub(crate) struct CloseFixed {
    index: u32,
}

impl Operation for CloseFixed {
    const OPCODE: Opcode = opcodes::CLOSE;
    fn sqe(&mut self) -> squeue::Entry {
        opcode::Close::new(types::Fixed(self.index)).build()
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn attempt(&mut self) -> io::Result<u32> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

impl OpAble for CloseFixed {
    fn fd(&self) -> Option<&SharedFd> {
        None
    }
}

/// Go's Close: operations parked or in flight on `fd` fail with "use of closed network
/// connection", later ones too. If none holds the fd any more, it is closed now — its slot in
/// the ring's registered files, then its fd — and the first error reported; otherwise they are
/// released when the last of those operations finishes, so neither is reused under them.
/// Idempotent.
pub(crate) async fn close(fd: &SharedFd) -> io::Result<()> {
    fd.close();
    let Some(Taken { fd, fixed }) = fd.take_if_last() else {
        return Ok(());
    };
    let mut res = Ok(());
    if let Some(file) = fixed {
        let (index, table) = file.into_index();
        res = Op::new(CloseFixed { index }).await.result.map(drop);
        table.unreserve();
    }
    if fd >= 0 {
        let closed = Op::new(Close { fd }).await.result.map(drop);
        res = res.and(closed);
    }
    res
}
