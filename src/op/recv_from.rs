//! RecvFrom: one datagram and its sender (recvmsg), into an owned buffer.

use super::{Op, OpAble, Operation};
use crate::buf::{BufResult, IoBufMut};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::{Chunk, SharedFd};
use crate::sys::addr::RawAddr;
use crate::sys::syscall;
use io_uring::{opcode, squeue};
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
    /// The sender of a datagram taken from the stash (dropped receives keep their datagrams).
    stashed_from: Option<Option<SocketAddr>>,
}

impl<B: IoBufMut> RecvFrom<B> {
    fn new(fd: SharedFd, mut buf: B) -> Self {
        let (base, len) = crate::buf::spare_mut(&mut buf);
        let iov = libc::iovec {
            iov_base: base.cast(),
            iov_len: len,
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
        RecvFrom {
            fd,
            buf,
            parts,
            stashed_from: None,
        }
    }

    fn sender(&mut self) -> io::Result<SocketAddr> {
        if let Some(from) = self.stashed_from {
            return from.ok_or_else(|| io::Error::other("sender unknown"));
        }
        self.parts.addr.len = self.parts.msg.msg_namelen;
        self.parts.addr.to_socket_addr()
    }
}

impl<B: IoBufMut> Operation for RecvFrom<B> {
    const OPCODE: Opcode = opcodes::RECVMSG;
    fn sqe(&mut self) -> squeue::Entry {
        let msg: *mut libc::msghdr = &mut self.parts.msg;
        self.fd
            .file_ref()
            .sqe(|fd| opcode::RecvMsg::new(fd, msg).build())
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        syscall!(recvmsg(self.fd.raw(), &mut self.parts.msg, 0)).map(|n| n as u32)
    }
}

impl<B: IoBufMut> OpAble for RecvFrom<B> {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    const ORDERED: Option<Direction> = Some(Direction::Read);
    fn take_stashed(&mut self) -> Option<io::Result<u32>> {
        let kept = self.fd.take_datagram(&mut self.buf)?;
        Some(kept.map(|(n, from)| {
            self.stashed_from = Some(from);
            n
        }))
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
    }
}

/// Receives one datagram; a datagram kept from a dropped receive comes first.
pub(crate) async fn recv_from<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
) -> BufResult<(usize, SocketAddr), B> {
    if let Err(e) = crate::buf::check_room(&buf) {
        return (Err(e), buf);
    }
    let mut done = Op::new(RecvFrom::new(fd.clone(), buf)).await;
    let from = done.data.sender();
    let mut buf = done.data.buf;
    let res = done.result.and_then(|n| {
        // SAFETY: the kernel (or the stash) wrote `n` bytes into the spare capacity.
        unsafe { crate::buf::advance_init(&mut buf, n as usize) };
        from.map(|a| (n as usize, a))
    });
    (res, buf)
}
