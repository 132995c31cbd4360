//! Anonymous pipes as async byte streams: [`pipe`] gives a [`Sender`] and a [`Receiver`]
//! (tokio's `net::unix::pipe`), which implement `corio::io`'s traits.
//!
//! Both ends are non-blocking on both drivers and use the readiness form: a read(2) or
//! write(2) is tried, and on EAGAIN the task waits for readiness (`POLL_ADD` on io_uring, the
//! poll descriptor on epoll). Nothing is in the kernel between polls, so dropping a read or a
//! write loses nothing (a dropped write wrote nothing, or its count was returned).

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::op::{close, poll};
use crate::sys::{syscall, would_block};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The most one read(2) or write(2) moves on Linux (MAX_RW_COUNT); a longer buffer is a
/// short read or write.
const MAX_RW: usize = 0x7fff_f000;

/// The writing end of a pipe.
pub struct Sender {
    pub(crate) fd: SharedFd,
}

/// The reading end of a pipe.
pub struct Receiver {
    pub(crate) fd: SharedFd,
}

/// A new pipe, both ends non-blocking and close-on-exec. Must be called within a runtime.
///
/// ```
/// corio::block_on(async {
///     let (tx, rx) = corio::net::unix::pipe::pipe()?;
///     let (res, _) = tx.write_all(&b"through a pipe"[..]).await;
///     res?;
///     drop(tx);
///     let (res, buf) = rx.read(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..res?], b"through a pipe");
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
pub fn pipe() -> io::Result<(Sender, Receiver)> {
    let mut fds = [0; 2];
    syscall!(pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC))?;
    // SAFETY: pipe2 just returned these two fds and nothing else owns them.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((Sender::from_owned_fd(w)?, Receiver::from_owned_fd(r)?))
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let mut on: libc::c_int = 1;
    syscall!(ioctl(fd.as_raw_fd(), libc::FIONBIO, &mut on)).map(drop)
}

impl Sender {
    /// Adopts the writing end of a pipe (or a FIFO) made elsewhere; it is made non-blocking.
    pub fn from_owned_fd(fd: OwnedFd) -> io::Result<Sender> {
        set_nonblocking(&fd)?;
        Ok(Sender {
            fd: SharedFd::new(fd)?,
        })
    }

    /// Writes some of `buf`'s initialized bytes; returns how many. Writes of up to
    /// `PIPE_BUF` (4096) bytes are atomic.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        loop {
            let len = buf.bytes_init().min(MAX_RW);
            let res = syscall!(write(self.fd.raw(), buf.stable_ptr().cast(), len));
            match res {
                Ok(n) => return (Ok(n as usize), buf),
                Err(e) if would_block(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return (Err(e), buf),
            }
            if let Err(e) = poll::writable(&self.fd).await {
                return (Err(e), buf);
            }
        }
    }

    /// Writes all of `buf`'s initialized bytes.
    pub async fn write_all<B: IoBuf>(&self, mut buf: B) -> BufResult<(), B> {
        let total = buf.bytes_init();
        let mut written = 0;
        while written < total {
            let (res, slice) = self.write(buf.slice(written..total)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
                Ok(n) => written += n,
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Closes the end (the reader sees end of stream once it has read what was written).
    pub async fn close(&self) -> io::Result<()> {
        close::close(&self.fd).await
    }
}

impl Receiver {
    /// Adopts the reading end of a pipe (or a FIFO) made elsewhere; it is made non-blocking.
    pub fn from_owned_fd(fd: OwnedFd) -> io::Result<Receiver> {
        set_nonblocking(&fd)?;
        Ok(Receiver {
            fd: SharedFd::new(fd)?,
        })
    }

    /// Reads what is there into `buf`'s spare capacity, waiting for some; 0 only once every
    /// writer is gone and the pipe is empty.
    pub async fn read<B: IoBufMut>(&self, mut buf: B) -> BufResult<usize, B> {
        if let Err(e) = crate::buf::check_room(&buf) {
            return (Err(e), buf);
        }
        loop {
            let (ptr, len) = crate::buf::spare_mut(&mut buf);
            let res = syscall!(read(self.fd.raw(), ptr.cast(), len.min(MAX_RW)));
            match res {
                Ok(n) => {
                    // SAFETY: read(2) wrote `n` bytes into the spare capacity.
                    unsafe { crate::buf::advance_init(&mut buf, n as usize) };
                    return (Ok(n as usize), buf);
                }
                Err(e) if would_block(&e) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return (Err(e), buf),
            }
            if let Err(e) = poll::readable(&self.fd).await {
                return (Err(e), buf);
            }
        }
    }

    /// Reads until `buf` is full; end of stream first is `UnexpectedEof`.
    pub async fn read_exact<B: IoBufMut>(&self, mut buf: B) -> BufResult<(), B> {
        if let Err(e) = crate::buf::check_room(&buf) {
            return (Err(e), buf);
        }
        while buf.bytes_init() < buf.bytes_total() {
            let (res, b) = self.read(buf).await;
            buf = b;
            match res {
                Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
                Ok(_) => {}
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Closes the end.
    pub async fn close(&self) -> io::Result<()> {
        close::close(&self.fd).await
    }
}

crate::net::fd_traits!(Sender, Receiver);
