//! Send (write): the initialized bytes of an owned buffer.

use super::{Op, OpAble};
use crate::buf::{BufResult, IoBuf};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::sys::syscall;
use io_uring::{opcode, squeue};
use std::io;

pub(crate) struct Send<B> {
    fd: SharedFd,
    buf: B,
}

impl<B: IoBuf> OpAble for Send<B> {
    const OPCODE: Opcode = opcodes::SEND;
    fn uring_op(&mut self) -> squeue::Entry {
        let (ptr, len) = crate::buf::init_bytes(&self.buf);
        self.fd.file_ref().sqe(|fd| {
            // `len <= MAX_RW`: it fits.
            opcode::Send::new(fd, ptr, len as u32)
                .flags(libc::MSG_NOSIGNAL)
                .build()
        })
    }
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn readiness_interest(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    const ORDERED: Option<Direction> = Some(Direction::Write);
    fn readiness_call(&mut self) -> io::Result<u32> {
        let (ptr, len) = crate::buf::init_bytes(&self.buf);
        syscall!(send(self.fd.raw(), ptr.cast(), len, libc::MSG_NOSIGNAL)).map(|n| n as u32)
    }
}

/// Sends once; returns how many bytes went out.
pub(crate) async fn send<B: IoBuf>(fd: &SharedFd, buf: B) -> BufResult<usize, B> {
    let done = Op::new(Send {
        fd: fd.clone(),
        buf,
    })
    .await;
    (done.result.map(|n| n as usize), done.data.buf)
}
