//! ReadAt (pread): a file's bytes at an offset, into an owned buffer's spare capacity.
//!
//! Regular files cannot be polled, so on the readiness driver this is a plain blocking pread(2)
//! on the executor's thread (page-cache reads are short; a slow disk stalls the loop for the
//! duration of the call). On io_uring it is an `IORING_OP_READ` like any other op.

use super::{Op, OpAble};
use crate::buf::{BufResult, IoBufMut};
use crate::driver::epoll::Direction;
use crate::fd::SharedFd;
use crate::sys::syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct ReadAt<B> {
    fd: SharedFd,
    buf: B,
    offset: u64,
}

impl<B: IoBufMut> ReadAt<B> {
    fn spare(&mut self) -> (*mut u8, usize) {
        let init = self.buf.bytes_init();
        let len = self.buf.bytes_total() - init;
        // SAFETY: `init <= bytes_total()`, so the pointer stays within the buffer.
        (unsafe { self.buf.stable_mut_ptr().add(init) }, len)
    }
}

impl<B: IoBufMut> OpAble for ReadAt<B> {
    fn uring_op(&mut self) -> squeue::Entry {
        let (ptr, len) = self.spare();
        opcode::Read::new(types::Fd(self.fd.raw()), ptr, len as u32)
            .offset(self.offset)
            .build()
    }
    fn legacy_interest(&self) -> Option<(&SharedFd, Direction)> {
        None
    }
    fn legacy_call(&mut self) -> io::Result<u32> {
        let (ptr, len) = self.spare();
        syscall!(pread(
            self.fd.raw(),
            ptr.cast(),
            len,
            self.offset as libc::off_t
        ))
        .map(|n| n as u32)
    }
}

/// Reads at `offset` into `buf`'s spare capacity; 0 means end of file.
pub(crate) async fn read_at<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
    offset: u64,
) -> BufResult<usize, B> {
    if buf.bytes_init() == buf.bytes_total() {
        return (Err(super::recv::no_room()), buf);
    }
    if let Err(e) = fd.check_open() {
        return (Err(e), buf);
    }
    let done = Op::new(ReadAt {
        fd: fd.clone(),
        buf,
        offset,
    })
    .await;
    let mut buf = done.data.buf;
    let res = done.result.map(|n| {
        let init = buf.bytes_init();
        // SAFETY: the kernel initialized `n` bytes after the old initialized length.
        unsafe { buf.set_init(init + n as usize) };
        n as usize
    });
    (res, buf)
}
