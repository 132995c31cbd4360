//! TCP: [`TcpListener`] and [`TcpStream`].

use super::addr::{sock_name, RawAddr};
use super::socket::{domain_of, each_addr, get_opt, set_opt, socket};
use crate::fd::SharedFd;
use crate::op::{accept, close, connect};
use crate::sys::syscall;
use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

const BACKLOG: i32 = 1024;

/// A TCP socket listening for connections.
///
/// ```no_run
/// use corio::net::TcpListener;
/// corio::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:9000")?;
///     loop {
///         let (stream, _peer) = listener.accept().await?;
///         corio::spawn(async move {
///             let mut buf = vec![0u8; 16 * 1024];
///             loop {
///                 buf.clear();
///                 let (n, b) = stream.read(buf).await;
///                 buf = b;
///                 if n.unwrap_or(0) == 0 { break; }
///                 let (r, b) = stream.write_all(buf).await;
///                 buf = b;
///                 if r.is_err() { break; }
///             }
///         });
///     }
///     #[allow(unreachable_code)]
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
pub struct TcpListener {
    fd: SharedFd,
    backoff: Cell<Duration>,
}

impl TcpListener {
    /// Adopts a listening TCP socket made with std (or inherited), on the current runtime. Must be
    /// called inside a runtime.
    pub fn from_std(socket: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            fd: super::socket::adopt(socket.into())?,
            backoff: Default::default(),
        })
    }

    /// Binds with SO_REUSEADDR and listens. Must be called within a runtime.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |a| TcpListener::bind_one(a, false))
    }

    /// Like [`bind`](Self::bind), also setting SO_REUSEPORT so several listeners (one per
    /// worker) can share the address and the kernel spreads connections among them.
    pub fn bind_reuseport(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, |a| TcpListener::bind_one(a, true))
    }

    fn bind_one(addr: &SocketAddr, reuseport: bool) -> io::Result<TcpListener> {
        let fd = socket(domain_of(addr), libc::SOCK_STREAM)?;
        use std::os::fd::AsRawFd;
        let raw = fd.as_raw_fd();
        set_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        if reuseport {
            set_opt(raw, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        let sa = RawAddr::from_socket_addr(addr);
        syscall!(bind(raw, sa.as_ptr(), sa.len))?;
        syscall!(listen(raw, BACKLOG))?;
        Ok(TcpListener {
            fd: SharedFd::new(fd)?,
            backoff: Cell::new(Duration::ZERO),
        })
    }

    /// Sets a deadline for `accept` (Go's Listener.SetDeadline): accepts waiting now or
    /// started later fail with `ErrorKind::TimedOut` once it passes; `None` removes it.
    pub fn set_deadline(&self, deadline: Option<std::time::Instant>) {
        self.fd
            .set_deadline(crate::driver::epoll::Direction::Read, deadline);
    }

    /// Accepts a connection. Cancel-safe: a connection accepted by a dropped `accept` future
    /// is returned by the next call. ECONNABORTED is retried; EMFILE/ENFILE back off (5 ms
    /// doubling to 1 s) and retry rather than spin.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (conn, addr) = accept::accept(&self.fd, &self.backoff).await?;
        let stream = TcpStream {
            fd: SharedFd::new(conn)?,
        };
        let peer = match addr.to_socket_addr() {
            Ok(a) => a,
            Err(_) => stream.peer_addr()?,
        };
        Ok((stream, peer))
    }

    /// The bound address (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.fd.raw(), false)?.to_socket_addr()
    }

    /// Closes it (Go's Close): pending and later operations fail with `NotConnected`; see
    /// `TcpStream::close` for when the fd number is released. Connections accepted by
    /// dropped `accept` futures and not yet taken are closed.
    pub async fn close(&self) -> io::Result<()> {
        close::close(&self.fd).await
    }
}

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
    fd: SharedFd,
}

impl TcpStream {
    /// Gives the socket back as a std stream, deregistered from this executor, e.g. to hand it
    /// to another worker (which adopts it with [`from_std`](Self::from_std)). Fails with
    /// `WouldBlock` while an operation on it is still in flight (a dropped read, say), and
    /// with `NotConnected` after `close`.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.fd.check_open()?;
        if self.fd.read_side().has_stash() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "bytes from a dropped read are still kept on this stream",
            ));
        }
        match self.fd.take_if_last() {
            Some(raw) => {
                use std::os::fd::FromRawFd;
                // SAFETY: `take_if_last` gave us sole ownership of this open fd.
                Ok(unsafe { std::net::TcpStream::from_raw_fd(raw) })
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
            fd: super::socket::adopt(socket.into())?,
        })
    }

    /// Connects to `addr`, trying each resolved address in turn. Name resolution is a blocking
    /// call; pass a `SocketAddr` to avoid it.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
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
        Ok(TcpStream { fd })
    }

    super::stream::stream_io_methods!();

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

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.fd.raw(), true)?.to_socket_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.fd.raw(), false)?.to_socket_addr()
    }

    /// Sets TCP_NODELAY (disables Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        set_opt(
            self.fd.raw(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            nodelay as i32,
        )
    }

    /// Reads TCP_NODELAY.
    pub fn nodelay(&self) -> io::Result<bool> {
        get_opt(self.fd.raw(), libc::IPPROTO_TCP, libc::TCP_NODELAY).map(|v| v != 0)
    }
}

impl std::os::fd::AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }
}

impl std::os::fd::AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.fd.raw())
            .finish()
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &self.fd.raw())
            .finish()
    }
}
