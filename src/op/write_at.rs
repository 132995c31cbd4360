//! WriteAt (pwrite): an owned buffer's initialized bytes to a file at an offset.
//! `IORING_OP_WRITE` on io_uring; pwrite(2) on the blocking pool on epoll (files cannot be
//! polled), and on io_uring where the kernel lacks the opcode.

use super::{Op, OpAble, Operation};
use crate::buf::{BufResult, IoBuf};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::blocking::Blocking;
use io_uring::{opcode, squeue};

pub(crate) struct WriteAt<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
}

impl<B: IoBuf> Operation for WriteAt<B> {
    const OPCODE: Opcode = opcodes::WRITE;
    const BLOCKING: bool = true;
    fn sqe(&mut self) -> squeue::Entry {
        let ((ptr, len), offset) = (crate::buf::init_bytes(&self.buf), self.offset);
        // `len <= MAX_RW`: it fits.
        let len = len as u32;
        self.fd
            .file_ref()
            .sqe(|fd| opcode::Write::new(fd, ptr, len).offset(offset).build())
    }
    fn direction(&self) -> Option<Direction> {
        None
    }
    fn blocking(&mut self) -> Option<Blocking> {
        let (buf, len) = crate::buf::init_bytes(&self.buf);
        Some(Blocking::Pwrite {
            fd: self.fd.raw(),
            buf,
            len,
            offset: self.offset,
        })
    }
}

impl<B: IoBuf> OpAble for WriteAt<B> {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
}

/// Writes once at `offset`; returns how many bytes were written.
pub(crate) async fn write_at<B: IoBuf>(fd: &SharedFd, buf: B, offset: u64) -> BufResult<usize, B> {
    // An SQE would read u64::MAX as "the current position": refused on every driver.
    if let Err(e) = crate::sys::blocking::off_t(offset) {
        return (Err(e), buf);
    }
    let done = Op::new(WriteAt {
        fd: fd.clone(),
        buf,
        offset,
    })
    .await;
    (done.result.map(|n| n as usize), done.data.buf)
}
