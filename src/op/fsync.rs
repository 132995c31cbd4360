//! Fsync: fsync(2) — a file's data and metadata reach the device.

use super::{Op, OpAble};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Fsync {
    fd: SharedFd,
}

impl OpAble for Fsync {
    fn uring_op(&mut self) -> squeue::Entry {
        opcode::Fsync::new(types::Fd(self.fd.raw())).build()
    }
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn readiness_interest(&self) -> Option<Direction> {
        None
    }
    fn readiness_call(&mut self) -> io::Result<u32> {
        syscall!(fsync(self.fd.raw())).map(|_| 0)
    }
}

/// fsync(2): data and metadata reach the device.
pub(crate) async fn fsync(fd: &SharedFd) -> io::Result<()> {
    Op::new(Fsync { fd: fd.clone() }).await.result.map(drop)
}
