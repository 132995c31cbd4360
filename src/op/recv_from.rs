//! RecvFrom: one datagram and its sender (recvmsg), into an owned buffer.

use super::deadline::with_deadline;
use super::{Op, OpAble};
use crate::buf::{BufResult, IoBufMut};
use crate::driver::epoll::Direction;
use crate::fd::{Chunk, SharedFd};
use crate::net::addr::RawAddr;
use crate::sys::syscall;
use io_uring::{opcode, squeue, types};
use std::io;
use std::net::SocketAddr;

/// The kernel-visible parts of a recvmsg, boxed together so their addresses are stable.
struct MsgParts {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: RawAddr,
}

pub(crate) struct RecvFrom<B> {
    fd: SharedFd,
    buf: B,
    parts: Box<MsgParts>,
}

impl<B: IoBufMut> RecvFrom<B> {
    fn new(fd: SharedFd, mut buf: B) -> Self {
        let init = buf.bytes_init();
        // SAFETY: `init <= bytes_total()`: the pointer stays within the buffer.
        let base = unsafe { buf.stable_mut_ptr().add(init) };
        let iov = libc::iovec {
            iov_base: base.cast(),
            iov_len: buf.bytes_total() - init,
        };
        // SAFETY: msghdr is plain data; all-zero is a valid empty header.
        let msg = unsafe { std::mem::zeroed() };
        let mut parts = Box::new(MsgParts {
            msg,
            iov,
            addr: RawAddr::empty(),
        });
        parts.msg.msg_iov = &mut parts.iov;
        parts.msg.msg_iovlen = 1;
        parts.msg.msg_name = parts.addr.as_mut_ptr().cast();
        parts.msg.msg_namelen = parts.addr.len;
        RecvFrom { fd, buf, parts }
    }

    fn sender(&mut self) -> io::Result<SocketAddr> {
        self.parts.addr.len = self.parts.msg.msg_namelen;
        self.parts.addr.to_socket_addr()
    }
}

impl<B: IoBufMut> OpAble for RecvFrom<B> {
    fn uring_op(&mut self) -> squeue::Entry {
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), &mut self.parts.msg).build()
    }
    fn readiness_interest(&self) -> Option<(&SharedFd, Direction)> {
        Some((&self.fd, Direction::Read))
    }
    fn readiness_call(&mut self) -> io::Result<u32> {
        syscall!(recvmsg(self.fd.raw(), &mut self.parts.msg, 0)).map(|n| n as u32)
    }
    fn on_orphaned(&mut self) {
        self.fd.read_side().orphan_started();
    }
    fn orphan_complete(mut self, result: io::Result<u32>, _flags: u32) {
        let from = self.sender().ok();
        let outcome = result.map(|n| {
            // SAFETY: the kernel wrote `n` bytes at the iovec base, inside the buffer we own.
            let data = unsafe {
                std::slice::from_raw_parts(self.parts.iov.iov_base as *const u8, n as usize)
            }
            .to_vec();
            Some(Chunk { data, pos: 0, from })
        });
        self.fd.keep_read(outcome);
        self.fd.read_side().orphan_finished();
    }
}

/// Receives one datagram; a datagram kept from a dropped receive comes first.
pub(crate) async fn recv_from<B: IoBufMut>(
    fd: &SharedFd,
    mut buf: B,
) -> BufResult<(usize, SocketAddr), B> {
    if buf.bytes_init() == buf.bytes_total() {
        return (Err(super::recv::no_room()), buf);
    }
    fd.wait_orphans().await;
    if let Err(e) = fd.check_open() {
        return (Err(e), buf);
    }
    let kept = fd.read_side().chunks.borrow_mut().pop_front();
    if let Some(chunk) = kept {
        let init = buf.bytes_init();
        let n = (chunk.data.len() - chunk.pos).min(buf.bytes_total() - init);
        // SAFETY: `init + n <= bytes_total()`; the source is a separate Vec.
        unsafe {
            std::ptr::copy_nonoverlapping(
                chunk.data[chunk.pos..].as_ptr(),
                buf.stable_mut_ptr().add(init),
                n,
            )
        };
        // SAFETY: the bytes up to `init + n` were just written.
        unsafe { buf.set_init(init + n) };
        let from = chunk.from.ok_or_else(|| io::Error::other("sender unknown"));
        return (from.map(|a| (n, a)), buf);
    }
    let mut done =
        with_deadline(fd, Direction::Read, Op::new(RecvFrom::new(fd.clone(), buf))).await;
    let from = done.data.sender();
    let mut buf = done.data.buf;
    let res = done.result.and_then(|n| {
        // SAFETY: the kernel wrote `n` bytes into the spare capacity.
        unsafe { crate::buf::advance_init(&mut buf, n as usize) };
        from.map(|a| (n as usize, a))
    });
    (res, buf)
}
