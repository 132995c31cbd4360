//! Read: read(2) on a pollable non-socket fd (a signalfd, an eventfd, a pipe), into an owned
//! buffer's spare capacity. On io_uring an `IORING_OP_READ` at offset -1 (the file position, as
//! non-seekable fds require).

use super::{Op, OpAble};
use crate::buf::{BufResult, IoBufMut};
use crate::driver::epoll::Direction;
use crate::fd::SharedFd;
use crate::sys::syscall;
use io_uring::{opcode, squeue, types};
use std::io;

pub(crate) struct Read<B> {
    fd: SharedFd,
    buf: B,
}

impl<B: IoBufMut> Read<B> {
    fn spare(&mut self) -> (*mut u8, usize) {
        let init = self.buf.bytes_init();
        let len = self.buf.bytes_total() - init;
        // SAFETY: `init <= bytes_total()`, so the pointer stays within the buffer.
        (unsafe { self.buf.stable_mut_ptr().add(init) }, len)
    }
}

impl<B: IoBufMut> OpAble for Read<B> {
    fn uring_op(&mut self) -> squeue::Entry {
        let (ptr, len) = self.spare();
        opcode::Read::new(types::Fd(self.fd.raw()), ptr, len as u32)
            .offset(u64::MAX)
            .build()
    }
    fn legacy_interest(&self) -> Option<(&SharedFd, Direction)> {
        Some((&self.fd, Direction::Read))
    }
    fn legacy_call(&mut self) -> io::Result<u32> {
        let (ptr, len) = self.spare();
        syscall!(read(self.fd.raw(), ptr.cast(), len)).map(|n| n as u32)
    }
}

/// Reads once into `buf`'s spare capacity.
pub(crate) async fn read<B: IoBufMut>(fd: &SharedFd, buf: B) -> BufResult<usize, B> {
    if buf.bytes_init() == buf.bytes_total() {
        return (Err(super::recv::no_room()), buf);
    }
    if let Err(e) = fd.check_open() {
        return (Err(e), buf);
    }
    let done = Op::new(Read {
        fd: fd.clone(),
        buf,
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
