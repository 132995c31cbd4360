//! [`TcpStream`]: a TCP connection with owned-buffer reads and writes.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::net::socket::{domain_of, get_opt, set_opt, socket};
use crate::net::stream;
use crate::net::{ReadFuture, WriteAllFuture};
use crate::op::recv::ReadKind;
use crate::op::{close, connect, register, send, shutdown, writev};
use crate::sys::addr::{sock_name, RawAddr};
use std::io;
use std::net::SocketAddr;
use std::time::Instant;

/// A TCP connection.
///
/// ```no_run
/// use corio::net::TcpStream;
/// corio::block_on(async {
///     let stream = TcpStream::connect("127.0.0.1:9000").await?;
///     let (res, _) = stream.write_all(b"ping".to_vec()).await;
///     res?;
///     let (n, buf) = stream.read(Vec::with_capacity(64)).await;
///     println!("got {:?}", &buf[..n?]);
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
pub struct TcpStream {
    pub(crate) fd: SharedFd,
}

impl TcpStream {
    pub(crate) fn from_fd(fd: SharedFd) -> TcpStream {
        TcpStream { fd }
    }

    /// Gives the socket back as a std stream, deregistered from this executor, e.g. to hand it
    /// to another worker (which adopts it with [`from_std`](Self::from_std)). Fails with
    /// `WouldBlock` while an operation on it is still in flight (a dropped read, say), and
    /// with `NotConnected` after `close`. A socket in the ring's registered files
    /// ([`Builder::registered_fds`](crate::Builder::registered_fds)) gets an fd installed if it
    /// has none, and leaves the table.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.fd.check_open()?;
        if self.fd.has_stash() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "bytes from a dropped read are still kept on this stream",
            ));
        }
        self.fd.real_fd()?;
        match self.fd.take_if_last() {
            Some(taken) => {
                use std::os::fd::FromRawFd;
                if let Some(file) = taken.fixed {
                    // Closed now, so the new owner's close closes the socket.
                    self.fd.with_own_driver(|d| d.close_fixed_now(file));
                }
                // SAFETY: `take_if_last` gave us sole ownership of this open fd, which
                // `real_fd` made sure exists.
                Ok(unsafe { std::net::TcpStream::from_raw_fd(taken.fd) })
            }
            None => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "an operation on this stream is still in flight",
            )),
        }
    }

    /// Adopts a connected TCP stream made with std (or inherited), on the current runtime. Must be
    /// called inside a runtime.
    pub fn from_std(socket: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            fd: crate::net::socket::adopt(socket.into())?,
        })
    }

    /// Connects to `addr`, trying each resolved address in turn. A name (`"host:port"`) is
    /// resolved on the blocking pool ([`lookup_host`](crate::net::lookup_host)), so the
    /// executor's thread never waits for DNS; an address is used as it is.
    pub async fn connect(addr: impl crate::net::ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in crate::net::lookup::resolve(&addr).await? {
            match TcpStream::connect_one(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "could not resolve to any address",
            )
        }))
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let fd = SharedFd::new(socket(domain_of(&addr), libc::SOCK_STREAM)?)?;
        connect::connect(&fd, RawAddr::from_socket_addr(&addr)).await?;
        // With `Builder::registered_fds` on io_uring: its ops name a slot from now on.
        register::register(&fd).await;
        Ok(TcpStream { fd })
    }

    /// Sets the read deadline: reads waiting now or started later fail with
    /// `ErrorKind::TimedOut` once `deadline` passes (a read never started after it fails at
    /// once); `None` removes it. The socket stays usable: move or clear the deadline and read
    /// again. On io_uring an expired read is cancelled and its buffer returned; if data raced
    /// the cancel, the data is returned instead of the error. Same on both drivers.
    ///
    /// ```no_run
    /// # corio::block_on(async {
    /// use std::time::{Duration, Instant};
    /// let stream = corio::net::TcpStream::connect("127.0.0.1:7").await?;
    /// stream.set_read_deadline(Some(Instant::now() + Duration::from_secs(5)));
    /// let (res, _buf) = stream.read(Vec::with_capacity(4096)).await;
    /// if let Err(e) = &res {
    ///     assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    /// }
    /// # std::io::Result::Ok(()) });
    /// ```
    pub fn set_read_deadline(&self, deadline: Option<Instant>) {
        self.fd.set_deadline(Direction::Read, deadline);
    }

    /// Sets the write deadline; see [`set_read_deadline`](Self::set_read_deadline). A
    /// `write_all` that passes it fails with `TimedOut` having sent a prefix of the buffer.
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

    /// Reads what is available into `buf`'s spare capacity, `bytes_init..bytes_total` (a `Vec`
    /// keeps its bytes and gets its length set). Returns 0 only at EOF; a buffer with no spare
    /// capacity (e.g. `vec![0; n]` or a `Box<[u8]>`) is `InvalidInput`. Cancel-safe: bytes a
    /// dropped read received are returned next.
    ///
    /// (`read` and `write_all`, the echo path, hand back the op's own future rather than wrap
    /// it in one more state machine: nothing runs until it is polled, and it holds its own
    /// reference to the socket, not a borrow of `self`.)
    pub fn read<B: IoBufMut>(&self, buf: B) -> ReadFuture<B> {
        ReadFuture::new(&self.fd, buf, ReadKind::Tcp)
    }

    /// Reads until `buf` is full (for a `Vec`: until its length reaches its capacity). EOF
    /// before that is `UnexpectedEof`; a buffer already full is `InvalidInput`.
    pub async fn read_exact<B: IoBufMut>(&self, buf: B) -> BufResult<(), B> {
        stream::read_exact(&self.fd, buf, ReadKind::Tcp).await
    }

    /// Writes some of `buf`'s initialized bytes; returns how many.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        send::send(&self.fd, buf).await
    }

    /// Writes all of `buf`'s initialized bytes, looping over short writes.
    #[inline(always)]
    pub fn write_all<B: IoBuf>(&self, buf: B) -> WriteAllFuture<B> {
        WriteAllFuture::new(&self.fd, buf)
    }

    /// Writes the buffers in order with one sendmsg (or SQE); returns how many bytes went.
    pub async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        writev::writev(&self.fd, bufs).await
    }

    /// Waits until a read would not wait — data, EOF or an error is pending — without taking a
    /// buffer: an idle connection then holds none (take one, then `read`). io_uring: one
    /// `IORING_OP_POLL_ADD`; epoll: the read slot of the socket's poll descriptor (no syscall
    /// after a short read, none when the edge wakes it). Observes the read deadline. With
    /// several readers on one socket, another may take the bytes first: `read` then waits.
    pub async fn readable(&self) -> io::Result<()> {
        crate::op::poll::readable(&self.fd).await
    }

    /// Waits until a write would not wait (buffer space, or an error). Observes the write
    /// deadline.
    pub async fn writable(&self) -> io::Result<()> {
        crate::op::poll::writable(&self.fd).await
    }

    pub(crate) fn shared_fd(&self) -> &SharedFd {
        &self.fd
    }

    /// Shuts down the read, write, or both halves.
    pub async fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        shutdown::shutdown(&self.fd, how).await
    }

    /// Closes the stream (Go's Close). Operations parked or in flight on it, in any task, fail
    /// with `NotConnected` ("use of closed network connection"), and so do later ones. If no
    /// operation is using the fd, it is closed now and close(2)'s result is returned;
    /// otherwise the fd number is released once those operations have finished and the stream
    /// is dropped, so it is never reused under them. Idempotent.
    pub async fn close(&self) -> io::Result<()> {
        close::close(&self.fd).await
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.fd.real_fd()?, true)?.to_socket_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.fd.real_fd()?, false)?.to_socket_addr()
    }

    /// Sets TCP_NODELAY (disables Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        set_opt(
            self.fd.real_fd()?,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            nodelay as i32,
        )
    }

    /// Reads TCP_NODELAY.
    pub fn nodelay(&self) -> io::Result<bool> {
        get_opt(self.fd.real_fd()?, libc::IPPROTO_TCP, libc::TCP_NODELAY).map(|v| v != 0)
    }
}

crate::net::fd_traits!(TcpStream);
