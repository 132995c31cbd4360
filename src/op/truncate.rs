//! Changing a file's size: Ftruncate (`IORING_OP_FTRUNCATE`, Linux 6.9) sets it, shrinking or
//! growing with a hole; Fallocate (`IORING_OP_FALLOCATE`) reserves blocks and may grow it, but
//! cannot shrink. On epoll, and on io_uring where the kernel lacks the opcode (FTRUNCATE
//! before 6.9), the same syscalls run on the blocking pool.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::blocking::Blocking;
use io_uring::{opcode, squeue};
use std::io;

pub(crate) struct Ftruncate {
    fd: SharedFd,
    len: u64,
}

impl Operation for Ftruncate {
    const OPCODE: Opcode = opcodes::FTRUNCATE;
    const BLOCKING: bool = true;
    fn sqe(&mut self) -> squeue::Entry {
        let len = self.len;
        self.fd
            .file_ref()
            .sqe(|fd| opcode::Ftruncate::new(fd, len).build())
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn blocking(&mut self) -> Option<Blocking> {
        Some(Blocking::Ftruncate {
            fd: self.fd.raw(),
            len: self.len,
        })
    }
}

impl OpAble for Ftruncate {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
}

pub(crate) struct Fallocate {
    fd: SharedFd,
    offset: u64,
    len: u64,
}

impl Operation for Fallocate {
    const OPCODE: Opcode = opcodes::FALLOCATE;
    const BLOCKING: bool = true;
    fn sqe(&mut self) -> squeue::Entry {
        let (offset, len) = (self.offset, self.len);
        self.fd
            .file_ref()
            .sqe(|fd| opcode::Fallocate::new(fd, len).offset(offset).build())
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn blocking(&mut self) -> Option<Blocking> {
        Some(Blocking::Fallocate {
            fd: self.fd.raw(),
            mode: 0,
            offset: self.offset,
            len: self.len,
        })
    }
}

impl OpAble for Fallocate {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
}

/// ftruncate(2): the file is now `len` bytes long.
pub(crate) async fn set_len(fd: &SharedFd, len: u64) -> io::Result<()> {
    crate::sys::blocking::off_t(len)?;
    let op = Ftruncate {
        fd: fd.clone(),
        len,
    };
    Op::new(op).await.result.map(drop)
}

/// fallocate(2) with mode 0: blocks for `offset..offset + len` are reserved, and the file grows
/// to cover them if it is shorter.
pub(crate) async fn allocate(fd: &SharedFd, offset: u64, len: u64) -> io::Result<()> {
    crate::sys::blocking::off_t(offset)?;
    crate::sys::blocking::off_t(len)?;
    let op = Fallocate {
        fd: fd.clone(),
        offset,
        len,
    };
    Op::new(op).await.result.map(drop)
}
