//! SendFds and RecvFds: bytes with file descriptors attached (SCM_RIGHTS) over a Unix stream;
//! sendmsg/recvmsg as an SQE (SENDMSG/RECVMSG) on io_uring, or after readiness on epoll.
//!
//! Ownership: the descriptors being sent are duplicated into the op, which closes its copies
//! once the kernel is done with the message (after the CQE on io_uring, even when the future
//! was dropped), so the caller's fds may be closed at any time and a reused number is never
//! sent by mistake. Received descriptors come back as `OwnedFd` (close-on-exec): whatever
//! path a received descriptor takes — truncated control data (MSG_CTRUNC), an error after the
//! fact, a dropped future — it is closed by its owner and never leaks.

use super::{Op, OpAble, Operation};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::opcodes::{self, Opcode};
use crate::driver::Direction;
use crate::fd::{Chunk, SharedFd};
use crate::sys::syscall;
use io_uring::{opcode, squeue};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The most descriptors one message may carry (the kernel's SCM_MAX_FD).
pub(crate) const MAX_FDS: usize = 253;

const FD_SIZE: usize = std::mem::size_of::<RawFd>();

/// Bytes of control buffer for `n` descriptors (one SCM_RIGHTS header).
fn control_len(n: usize) -> usize {
    // SAFETY: CMSG_SPACE is arithmetic on its argument; `n <= MAX_FDS` keeps it small.
    unsafe { libc::CMSG_SPACE((n * FD_SIZE) as u32) as usize }
}

/// A control buffer aligned for `cmsghdr` (u64 words), zeroed.
fn control_buf(n: usize) -> Vec<u64> {
    vec![0u64; control_len(n).div_ceil(8)]
}

/// The kernel-visible parts of one sendmsg/recvmsg, boxed together so their addresses stay put
/// while the op moves (and while the driver's slot holds it after a drop).
struct Msg {
    msg: libc::msghdr,
    iov: libc::iovec,
    control: Vec<u64>,
}

impl Msg {
    fn new(base: *mut u8, len: usize, control: Vec<u64>) -> Box<Msg> {
        // SAFETY: msghdr is plain data; all-zero is a valid empty header.
        let msg = unsafe { std::mem::zeroed() };
        let mut m = Box::new(Msg {
            msg,
            iov: libc::iovec {
                iov_base: base.cast(),
                iov_len: len,
            },
            control,
        });
        m.reset();
        m
    }

    /// Points the header at the iovec and the whole control buffer again (the kernel shrinks
    /// `msg_controllen` and sets `msg_flags` on receive; a retry starts from scratch).
    fn reset(&mut self) {
        self.msg.msg_iov = &mut self.iov;
        self.msg.msg_iovlen = 1;
        let len = self.control.len() * 8;
        self.msg.msg_control = if len == 0 {
            std::ptr::null_mut()
        } else {
            self.control.as_mut_ptr().cast()
        };
        self.msg.msg_controllen = len;
        self.msg.msg_flags = 0;
    }

    /// The descriptors the kernel installed for a received message, owned; each one found is
    /// owned exactly once, so dropping the result closes them all.
    fn take_received(&mut self) -> Vec<OwnedFd> {
        let mut fds = Vec::new();
        // The kernel wrote `msg_controllen` bytes; walk only those.
        if self.msg.msg_controllen == 0 || self.msg.msg_control.is_null() {
            return fds;
        }
        // SAFETY: `msg` describes our control buffer, whose length the kernel set to what it
        // wrote; CMSG_FIRSTHDR/NXTHDR stay within it.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&self.msg) };
        while !cmsg.is_null() {
            // SAFETY: CMSG_FIRSTHDR/NXTHDR returned a header inside the buffer.
            let hdr = unsafe { &*cmsg };
            if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
                // SAFETY: CMSG_LEN is arithmetic.
                let head = unsafe { libc::CMSG_LEN(0) } as usize;
                let n = (hdr.cmsg_len as usize).saturating_sub(head) / FD_SIZE;
                // SAFETY: the data of this header follows it inside the buffer.
                let data = unsafe { libc::CMSG_DATA(cmsg) };
                for i in 0..n {
                    // SAFETY: `i < n` descriptors of this header's data, possibly unaligned.
                    let fd = unsafe { data.add(i * FD_SIZE).cast::<RawFd>().read_unaligned() };
                    if fd >= 0 {
                        // SAFETY: the kernel installed this descriptor for us with the message;
                        // nothing else owns it, and this walk visits it once.
                        fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                    }
                }
            }
            // SAFETY: as for CMSG_FIRSTHDR; NXTHDR returns null past the written length.
            cmsg = unsafe { libc::CMSG_NXTHDR(&self.msg, cmsg) };
        }
        // Walked once: a second call finds nothing.
        self.msg.msg_controllen = 0;
        fds
    }
}

pub(crate) struct SendFds<B> {
    fd: SharedFd,
    buf: B,
    /// Our copies of the descriptors in flight; closed when the op is dropped, which on
    /// io_uring is after its CQE.
    _fds: Vec<OwnedFd>,
    parts: Box<Msg>,
}

impl<B: IoBuf> SendFds<B> {
    fn new(fd: SharedFd, buf: B, fds: Vec<OwnedFd>) -> SendFds<B> {
        let mut control = control_buf(fds.len());
        if fds.is_empty() {
            control.clear();
        }
        let base = buf.stable_ptr() as *mut u8;
        let parts = Msg::new(base, buf.bytes_init(), control);
        if !fds.is_empty() {
            // SAFETY: `parts.msg` points at our control buffer, sized by CMSG_SPACE for
            // `fds.len()` descriptors: the first header and its data fit inside it.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&parts.msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN((fds.len() * FD_SIZE) as u32) as usize;
                let data = libc::CMSG_DATA(cmsg);
                for (i, f) in fds.iter().enumerate() {
                    data.add(i * FD_SIZE)
                        .cast::<RawFd>()
                        .write_unaligned(f.as_raw_fd());
                }
            }
        }
        SendFds {
            fd,
            buf,
            _fds: fds,
            parts,
        }
    }
}

impl<B: IoBuf> Operation for SendFds<B> {
    const OPCODE: Opcode = opcodes::SENDMSG;
    fn sqe(&mut self) -> squeue::Entry {
        let msg: *const libc::msghdr = &self.parts.msg;
        self.fd.file_ref().sqe(|fd| {
            opcode::SendMsg::new(fd, msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
        })
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        // MSG_DONTWAIT: never blocks, even on a blocking socket adopted as it was (a ring never
        // runs this: SENDMSG and RECVMSG are required opcodes, driver/opcodes.rs).
        let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
        syscall!(sendmsg(self.fd.raw(), &self.parts.msg, flags)).map(|n| n as u32)
    }
}

impl<B: IoBuf> OpAble for SendFds<B> {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Write)
    }
    const ORDERED: Option<Direction> = Some(Direction::Write);
}

pub(crate) struct RecvFds<B> {
    fd: SharedFd,
    buf: B,
    parts: Box<Msg>,
}

impl<B: IoBufMut> RecvFds<B> {
    fn new(fd: SharedFd, mut buf: B, max_fds: usize) -> RecvFds<B> {
        let (ptr, len) = crate::buf::spare_mut(&mut buf);
        let parts = Msg::new(ptr, len, control_buf(max_fds));
        RecvFds { fd, buf, parts }
    }
}

impl<B: IoBufMut> Operation for RecvFds<B> {
    const OPCODE: Opcode = opcodes::RECVMSG;
    fn sqe(&mut self) -> squeue::Entry {
        self.parts.reset();
        let msg: *mut libc::msghdr = &mut self.parts.msg;
        self.fd.file_ref().sqe(|fd| {
            opcode::RecvMsg::new(fd, msg)
                .flags(libc::MSG_CMSG_CLOEXEC as u32)
                .build()
        })
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        self.parts.reset();
        let flags = libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT;
        syscall!(recvmsg(self.fd.raw(), &mut self.parts.msg, flags)).map(|n| n as u32)
    }
}

impl<B: IoBufMut> OpAble for RecvFds<B> {
    fn fd(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }
    fn deadline(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    const ORDERED: Option<Direction> = Some(Direction::Read);
    fn take_stashed(&mut self) -> Option<io::Result<u32>> {
        // Bytes a dropped read kept come first, without descriptors (none are kept).
        self.parts.msg.msg_controllen = 0;
        self.parts.msg.msg_flags = 0;
        self.fd.take_stream(&mut self.buf)
    }
    fn orphan_complete(mut self, result: io::Result<u32>, _flags: u32) {
        // Descriptors that came with a dropped receive are closed here; its bytes are kept
        // for the next read, like any dropped read's.
        drop(self.parts.take_received());
        let outcome = result.map(|n| {
            if n == 0 {
                return None;
            }
            // SAFETY: the kernel wrote `n` bytes at the iovec base, inside the buffer we own.
            let data = unsafe {
                std::slice::from_raw_parts(self.parts.iov.iov_base as *const u8, n as usize)
            }
            .to_vec();
            Some(Chunk {
                data,
                pos: 0,
                from: None,
            })
        });
        self.fd.keep_read(outcome);
    }
}

/// Sends `buf`'s initialized bytes with `fds` attached to the first of them; returns how many
/// bytes went (the descriptors went with them; write the rest without descriptors).
pub(crate) async fn send_fds<B: IoBuf>(
    fd: &SharedFd,
    buf: B,
    fds: &[BorrowedFd<'_>],
) -> BufResult<usize, B> {
    if buf.bytes_init() == 0 {
        let e = io::Error::new(
            io::ErrorKind::InvalidInput,
            "send_fds needs at least one byte to carry the descriptors",
        );
        return (Err(e), buf);
    }
    if fds.len() > MAX_FDS {
        let e = io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "send_fds: {} descriptors, at most {MAX_FDS} per message",
                fds.len()
            ),
        );
        return (Err(e), buf);
    }
    let mut owned = Vec::with_capacity(fds.len());
    for f in fds {
        match f.try_clone_to_owned() {
            Ok(o) => owned.push(o),
            Err(e) => return (Err(e), buf),
        }
    }
    let done = Op::new(SendFds::new(fd.clone(), buf, owned)).await;
    (done.result.map(|n| n as usize), done.data.buf)
}

/// Receives bytes into `buf`'s spare capacity and up to `max_fds` descriptors sent with them.
/// More descriptors than that (MSG_CTRUNC) is an error; the ones that did arrive are closed.
pub(crate) async fn recv_fds<B: IoBufMut>(
    fd: &SharedFd,
    buf: B,
    max_fds: usize,
) -> BufResult<(usize, Vec<OwnedFd>), B> {
    if let Err(e) = crate::buf::check_room(&buf) {
        return (Err(e), buf);
    }
    let max = max_fds.min(MAX_FDS);
    let mut done = Op::new(RecvFds::new(fd.clone(), buf, max)).await;
    let received = done.data.parts.take_received();
    let truncated = done.data.parts.msg.msg_flags & libc::MSG_CTRUNC != 0;
    let mut buf = done.data.buf;
    let res = done.result.and_then(|n| {
        // SAFETY: the kernel (or the stash) wrote `n` bytes into the spare capacity.
        unsafe { crate::buf::advance_init(&mut buf, n as usize) };
        if truncated {
            drop(received);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "recv_fds: more descriptors arrived than the {max} asked for (MSG_CTRUNC); \
                     the ones received were closed"
                ),
            ));
        }
        Ok((n as usize, received))
    });
    (res, buf)
}
