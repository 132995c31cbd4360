//! WriteAt (pwrite): an owned buffer's initialized bytes to a file at an offset. A plain
//! blocking pwrite(2) on the readiness driver (files cannot be polled), `IORING_OP_WRITE` on
//! io_uring.

use super::{Op, OpAble};
use crate::buf::{BufResult, IoBuf};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct WriteAt<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
}

impl<B: IoBuf> OpAble for WriteAt<B> {
    fn uring_op(&mut self) -> squeue::Entry {
        let len = self.buf.bytes_init() as u32;
        opcode::Write::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .offset(self.offset)
            .build()
    }
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn readiness_interest(&self) -> Option<Direction> {
        None
    }
    fn readiness_call(&mut self) -> io::Result<u32> {
        let (ptr, len) = (self.buf.stable_ptr(), self.buf.bytes_init());
        syscall!(pwrite(
            self.fd.raw(),
            ptr.cast(),
            len,
            self.offset as libc::off_t
        ))
        .map(|n| n as u32)
    }
}

/// Writes once at `offset`; returns how many bytes were written.
pub(crate) async fn write_at<B: IoBuf>(fd: &SharedFd, buf: B, offset: u64) -> BufResult<usize, B> {
    let done = Op::new(WriteAt {
        fd: fd.clone(),
        buf,
        offset,
    })
    .await;
    (done.result.map(|n| n as usize), done.data.buf)
}
