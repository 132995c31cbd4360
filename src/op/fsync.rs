//! Fsync: fsync(2), or fdatasync(2) — a file's data (and metadata) reach the device.
//! `IORING_OP_FSYNC` (with `IORING_FSYNC_DATASYNC` for the data only) on io_uring; the syscall
//! on the blocking pool on epoll, and on io_uring where the kernel lacks the opcode.

use super::{Op, OpAble, Operation};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::blocking::Blocking;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Fsync {
    fd: SharedFd,
    /// fdatasync: the data, and only the metadata needed to read it back.
    data_only: bool,
}

impl Operation for Fsync {
    const OPCODE: Opcode = opcodes::FSYNC;
    const BLOCKING: bool = true;
    fn sqe(&mut self) -> squeue::Entry {
        let flags = if self.data_only {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        self.fd
            .file_ref()
            .sqe(|fd| opcode::Fsync::new(fd).flags(flags).build())
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn blocking(&mut self) -> Option<Blocking> {
        Some(Blocking::Fsync {
            fd: self.fd.raw(),
            data_only: self.data_only,
        })
    }
}

impl OpAble for Fsync {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
}

/// fsync(2) (`data_only`: fdatasync(2)).
pub(crate) async fn fsync(fd: &SharedFd, data_only: bool) -> io::Result<()> {
    Op::new(Fsync {
        fd: fd.clone(),
        data_only,
    })
    .await
    .result
    .map(drop)
}
