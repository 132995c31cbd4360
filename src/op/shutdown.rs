//! Shutdown: close one or both directions of a connection.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::syscall;
use io_uring::{opcode, squeue};
use std::io;
use std::net::Shutdown as How;

pub(crate) struct Shutdown {
    fd: SharedFd,
    how: i32,
}

impl Operation for Shutdown {
    const OPCODE: Opcode = opcodes::SHUTDOWN;
    fn sqe(&mut self) -> squeue::Entry {
        let how = self.how;
        self.fd
            .file_ref()
            .sqe(|fd| opcode::Shutdown::new(fd, how).build())
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn attempt(&mut self) -> io::Result<u32> {
        syscall!(shutdown(self.fd.raw(), self.how)).map(|_| 0)
    }
}

impl OpAble for Shutdown {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
}

pub(crate) async fn shutdown(fd: &SharedFd, how: How) -> io::Result<()> {
    let how = match how {
        How::Read => libc::SHUT_RD,
        How::Write => libc::SHUT_WR,
        How::Both => libc::SHUT_RDWR,
    };
    Op::new(Shutdown {
        fd: fd.clone(),
        how,
    })
    .await
    .result
    .map(drop)
}
