//! [`UnixStream`]: a Unix-domain stream connection, with the same owned-buffer I/O as TCP.

use super::SocketAddr;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::net::socket::socket;
use crate::net::stream;
use crate::net::{ReadFuture, WriteAllFuture};
use crate::op::recv::ReadKind;
use crate::op::{close, connect, pass_fds, send, shutdown, writev};
use crate::sys::addr::{sock_name, RawAddr};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

/// A Unix-domain stream connection.
pub struct UnixStream {
    pub(crate) fd: SharedFd,
}

impl UnixStream {
    pub(crate) fn from_fd(fd: SharedFd) -> UnixStream {
        UnixStream { fd }
    }

    /// Adopts a connected Unix stream made with std (or inherited), on the current runtime. Must be
    /// called inside a runtime.
    pub fn from_std(socket: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            fd: crate::net::socket::adopt(socket.into())?,
        })
    }

    /// Connects to the socket at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let sa = RawAddr::from_path(path.as_ref())?;
        let fd = SharedFd::new(socket(libc::AF_UNIX, libc::SOCK_STREAM)?)?;
        connect::connect(&fd, sa).await?;
        Ok(UnixStream { fd })
    }

    /// A connected pair of unnamed sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (x, y) = super::socketpair(libc::SOCK_STREAM)?;
        Ok((UnixStream { fd: x }, UnixStream { fd: y }))
    }

    /// Sets the read deadline; see [`TcpStream::set_read_deadline`](crate::net::TcpStream::set_read_deadline).
    pub fn set_read_deadline(&self, deadline: Option<Instant>) {
        self.fd.set_deadline(Direction::Read, deadline);
    }

    /// Sets the write deadline; see [`TcpStream::set_write_deadline`](crate::net::TcpStream::set_write_deadline).
    pub fn set_write_deadline(&self, deadline: Option<Instant>) {
        self.fd.set_deadline(Direction::Write, deadline);
    }

    /// Sets both the read and the write deadline.
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        self.set_read_deadline(deadline);
        self.set_write_deadline(deadline);
    }

    /// The read deadline, if set.
    pub fn read_deadline(&self) -> Option<Instant> {
        self.fd.deadline(Direction::Read)
    }

    /// The write deadline, if set.
    pub fn write_deadline(&self) -> Option<Instant> {
        self.fd.deadline(Direction::Write)
    }

    /// Reads what is available into `buf`'s spare capacity; see
    /// [`TcpStream::read`](crate::net::TcpStream::read). Cancel-safe.
    pub fn read<B: IoBufMut>(&self, buf: B) -> ReadFuture<B> {
        ReadFuture::new(&self.fd, buf, ReadKind::UnixStream)
    }

    /// Reads until `buf` is full; EOF before that is `UnexpectedEof`.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
        stream::read_exact(&self.fd, buf, ReadKind::UnixStream).await
    }

    /// Writes some of `buf`'s initialized bytes; returns how many.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        send::send(&self.fd, buf).await
    }

    /// Writes all of `buf`'s initialized bytes, looping over short writes.
    pub fn write_all<B: IoBuf>(&self, buf: B) -> WriteAllFuture<B> {
        WriteAllFuture::new(&self.fd, buf)
    }

    /// Writes the buffers in order with one sendmsg (or SQE); returns how many bytes went.
    pub async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        writev::writev(&self.fd, bufs).await
    }

    pub(crate) fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }

    /// Sends `buf`'s initialized bytes with the descriptors `fds` attached (SCM_RIGHTS), in
    /// one sendmsg (an SQE on io_uring); returns how many bytes went. The descriptors travel
    /// with the first byte sent; write any rest with [`write_all`](Self::write_all). The
    /// receiver gets its own descriptors for the same open files (sockets, pipes, files).
    ///
    /// `buf` must hold at least one byte, and `fds` at most 253 descriptors (the kernel's
    /// SCM_MAX_FD): otherwise `InvalidInput`. The op keeps its own duplicates of `fds` until
    /// the kernel is done with the message, so the caller may close its descriptors as soon as
    /// this returns — or drops the future.
    ///
    /// ```
    /// # corio::block_on(async {
    /// use std::os::fd::AsFd;
    /// let (a, b) = corio::net::UnixStream::pair()?;
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let (res, _) = a.send_fds(vec![b'L'], &[listener.as_fd()]).await;
    /// res?;
    /// let (res, _) = b.recv_fds(Vec::with_capacity(1), 4).await;
    /// let (_n, fds) = res?;
    /// let same = std::net::TcpListener::from(fds.into_iter().next().unwrap());
    /// assert_eq!(same.local_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn send_fds<B: IoBuf>(&self, buf: B, fds: &[BorrowedFd<'_>]) -> BufResult<usize, B> {
        pass_fds::send_fds(&self.fd, buf, fds).await
    }

    /// Reads into `buf`'s spare capacity, like [`read`](Self::read), and takes up to
    /// `max_fds` descriptors sent with those bytes (SCM_RIGHTS): recvmsg, an SQE on io_uring.
    /// Each descriptor comes back as an `OwnedFd` (close-on-exec), closed when dropped.
    ///
    /// One call returns the descriptors of at most one message, with the bytes that came
    /// with them (a read stops where a message with descriptors begins or ends). If more
    /// descriptors arrived than `max_fds` (the kernel sets MSG_CTRUNC and drops the rest), the
    /// ones that were received are closed and the call fails with `InvalidData`; the bytes
    /// are in `buf` all the same. A `recv_fds` future dropped in flight keeps its bytes for
    /// the next read, as every read does, and closes the descriptors that came with them.
    pub async fn recv_fds<B: IoBufMut>(
        &self,
        buf: B,
        max_fds: usize,
    ) -> BufResult<(usize, Vec<OwnedFd>), B> {
        pass_fds::recv_fds(&self.fd, buf, max_fds).await
    }

    /// Shuts down the read, write, or both halves.
    pub async fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        shutdown::shutdown(&self.fd, how).await
    }

    /// Closes the stream (Go's Close); see [`TcpStream::close`](crate::net::TcpStream::close).
    pub async fn close(&self) -> io::Result<()> {
        close::close(&self.fd).await
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sock_name(self.fd.raw(), false)?))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sock_name(self.fd.raw(), true)?))
    }
}

crate::net::fd_traits!(UnixStream);
