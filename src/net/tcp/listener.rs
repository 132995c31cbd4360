//! [`TcpListener`]: a listening TCP socket; `accept` is cancel-safe.

use super::TcpStream;
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::net::socket::{domain_of, each_addr, set_opt, socket};
use crate::op::{accept, close};
use crate::sys::addr::{sock_name, RawAddr};
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
    pub(crate) fd: SharedFd,
    backoff: Cell<Duration>,
}

impl TcpListener {
    /// Adopts a listening TCP socket made with std (or inherited), on the current runtime. Must be
    /// called inside a runtime.
    pub fn from_std(socket: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            fd: crate::net::socket::adopt(socket.into())?,
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
        self.fd.set_deadline(Direction::Read, deadline);
    }

    /// Accepts a connection. Cancel-safe: a connection accepted by a dropped `accept` future
    /// is returned by the next call. With [`Builder::registered_fds`](crate::Builder::registered_fds)
    /// on io_uring, the connection goes straight into the ring's registered files. ECONNABORTED is retried; EMFILE/ENFILE back off (5 ms
    /// doubling to 1 s) and retry rather than spin.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (conn, addr) = accept::accept(&self.fd, &self.backoff, true).await?;
        let stream = TcpStream::from_fd(SharedFd::from_accepted(conn)?);
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

crate::net::fd_traits!(TcpListener);
