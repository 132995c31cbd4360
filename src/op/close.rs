//! Close: release an fd once no other operation can use it.

use super::{Op, OpAble};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use io_uring::{opcode, squeue, types};
use std::io;
use std::os::fd::RawFd;

pub(crate) struct Close {
    fd: RawFd,
}

impl OpAble for Close {
    const OPCODE: Opcode = opcodes::CLOSE;
    fn uring_op(&mut self) -> squeue::Entry {
        opcode::Close::new(types::Fd(self.fd)).build()
    }
    fn fd(&self) -> Option<&SharedFd> {
        None
    }
    fn readiness_interest(&self) -> Option<Direction> {
        None
    }
    fn readiness_call(&mut self) -> io::Result<u32> {
        crate::sys::close(self.fd).map(|_| 0)
    }
}

/// Go's Close: operations parked or in flight on `fd` fail with "use of closed network
/// connection", later ones too. If none holds the fd any more, it is closed now and close(2)'s
/// result reported; otherwise the number is released when the last of them finishes, so it
/// cannot be reused under them. Idempotent.
pub(crate) async fn close(fd: &SharedFd) -> io::Result<()> {
    fd.close();
    match fd.take_if_last() {
        Some(raw) => Op::new(Close { fd: raw }).await.result.map(drop),
        None => Ok(()),
    }
}
