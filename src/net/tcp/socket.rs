//! [`TcpSocket`]: a TCP socket configured before it listens or connects.

use super::{TcpListener, TcpStream};
use crate::fd::SharedFd;
use crate::net::socket::socket;
use crate::net::sockopt::{self, TcpKeepalive};
use crate::op::{connect, register};
use crate::sys::addr::{sock_name, RawAddr};
use crate::sys::syscall;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A TCP socket not yet listening or connected: set its options, bind it, then
/// [`listen`](Self::listen) with the backlog you want or [`connect`](Self::connect) from
/// the address you bound (bind-before-connect). Options set here are inherited by the
/// listener's accepted connections where the kernel does so (buffer sizes, keepalive,
/// TCP_NODELAY, linger).
///
/// ```
/// use corio::net::{TcpKeepalive, TcpSocket};
/// use std::time::Duration;
///
/// corio::block_on(async {
///     let socket = TcpSocket::new_v4()?;
///     socket.set_reuseaddr(true)?;
///     socket.set_reuseport(true)?;
///     socket.set_keepalive(Some(&TcpKeepalive::new().with_time(Duration::from_secs(30))))?;
///     socket.bind("127.0.0.1:0".parse().unwrap())?;
///     let listener = socket.listen(4096)?;
///
///     let client = TcpSocket::new_v4()?;
///     client.set_nodelay(true)?;
///     let stream = client.connect(listener.local_addr()?).await?;
///     assert!(stream.nodelay()?);
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    fd: OwnedFd,
}

impl TcpSocket {
    /// A new IPv4 TCP socket. Must be called within a runtime (the driver decides whether
    /// it is non-blocking).
    pub fn new_v4() -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            fd: socket(libc::AF_INET, libc::SOCK_STREAM)?,
        })
    }

    /// A new IPv6 TCP socket. Must be called within a runtime.
    pub fn new_v6() -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            fd: socket(libc::AF_INET6, libc::SOCK_STREAM)?,
        })
    }

    /// A socket of `addr`'s family.
    pub fn new_for(addr: &SocketAddr) -> io::Result<TcpSocket> {
        match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Binds to `addr` (port 0: the kernel picks one).
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        let sa = RawAddr::from_socket_addr(&addr);
        syscall!(bind(self.raw(), sa.as_ptr(), sa.len)).map(drop)
    }

    /// Listens with a queue of `backlog` pending connections (the kernel caps it at
    /// `net.core.somaxconn`).
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        syscall!(listen(self.raw(), backlog))?;
        TcpListener::from_std(std::net::TcpListener::from(self.fd))
    }

    /// Connects to `addr` (from the bound address, if [`bind`](Self::bind) was called).
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let fd = SharedFd::new(self.fd)?;
        connect::connect(&fd, RawAddr::from_socket_addr(&addr)).await?;
        register::register(&fd).await;
        Ok(TcpStream::from_fd(fd))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.raw(), false)?.to_socket_addr()
    }

    /// SO_REUSEADDR: bind an address in TIME_WAIT.
    pub fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        sockopt::set_reuseaddr(self.raw(), on)
    }

    /// Reads SO_REUSEADDR.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        sockopt::reuseaddr(self.raw())
    }

    /// SO_REUSEPORT: several sockets (one per worker) bind one address; the kernel spreads
    /// connections among their listeners.
    pub fn set_reuseport(&self, on: bool) -> io::Result<()> {
        sockopt::set_reuseport(self.raw(), on)
    }

    /// Reads SO_REUSEPORT.
    pub fn reuseport(&self) -> io::Result<bool> {
        sockopt::reuseport(self.raw())
    }

    /// TCP_NODELAY: no Nagle delay on small writes.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sockopt::set_nodelay(self.raw(), on)
    }

    /// Reads TCP_NODELAY.
    pub fn nodelay(&self) -> io::Result<bool> {
        sockopt::nodelay(self.raw())
    }

    /// SO_KEEPALIVE with `ka`'s timings, or off for `None`.
    pub fn set_keepalive(&self, ka: Option<&TcpKeepalive>) -> io::Result<()> {
        sockopt::set_keepalive(self.raw(), ka)
    }

    /// The keepalive settings in force, `None` when off.
    pub fn keepalive(&self) -> io::Result<Option<TcpKeepalive>> {
        sockopt::keepalive(self.raw())
    }

    /// SO_LINGER (`Some(Duration::ZERO)`: close sends RST).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sockopt::set_linger(self.raw(), linger)
    }

    /// Reads SO_LINGER.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        sockopt::linger(self.raw())
    }

    /// SO_SNDBUF.
    pub fn set_send_buffer_size(&self, n: usize) -> io::Result<()> {
        sockopt::set_send_buffer_size(self.raw(), n)
    }

    /// Reads SO_SNDBUF (the kernel reports twice what was set).
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        sockopt::send_buffer_size(self.raw())
    }

    /// SO_RCVBUF.
    pub fn set_recv_buffer_size(&self, n: usize) -> io::Result<()> {
        sockopt::set_recv_buffer_size(self.raw(), n)
    }

    /// Reads SO_RCVBUF (the kernel reports twice what was set).
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        sockopt::recv_buffer_size(self.raw())
    }

    /// IP_TTL (IPv6: IPV6_UNICAST_HOPS).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        sockopt::set_ttl(self.raw(), ttl)
    }

    /// Reads the TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        sockopt::ttl(self.raw())
    }

    /// IP_TOS (IPv6: IPV6_TCLASS).
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        sockopt::set_tos(self.raw(), tos)
    }

    /// Reads the TOS / traffic class.
    pub fn tos(&self) -> io::Result<u32> {
        sockopt::tos(self.raw())
    }

    /// IPV6_V6ONLY (an IPv6 socket, before bind).
    pub fn set_only_v6(&self, on: bool) -> io::Result<()> {
        sockopt::set_only_v6(self.raw(), on)
    }

    /// Reads IPV6_V6ONLY.
    pub fn only_v6(&self) -> io::Result<bool> {
        sockopt::only_v6(self.raw())
    }

    /// SO_BINDTODEVICE: only the interface `name` (`None`: any). Binding needs CAP_NET_RAW.
    pub fn bind_device(&self, name: Option<&[u8]>) -> io::Result<()> {
        sockopt::bind_device(self.raw(), name)
    }

    /// The interface bound with [`bind_device`](Self::bind_device), if any.
    pub fn device(&self) -> io::Result<Option<Vec<u8>>> {
        sockopt::device(self.raw())
    }

    /// TCP_QUICKACK.
    pub fn set_quickack(&self, on: bool) -> io::Result<()> {
        sockopt::set_quickack(self.raw(), on)
    }

    /// Reads TCP_QUICKACK.
    pub fn quickack(&self) -> io::Result<bool> {
        sockopt::quickack(self.raw())
    }

    /// TCP_USER_TIMEOUT.
    pub fn set_user_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        sockopt::set_user_timeout(self.raw(), t)
    }

    /// Reads TCP_USER_TIMEOUT.
    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        sockopt::user_timeout(self.raw())
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl IntoRawFd for TcpSocket {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl FromRawFd for TcpSocket {
    /// Adopts a TCP socket not yet listening or connected (made by socket2, say). It is used
    /// as it is: make it non-blocking yourself under the epoll driver.
    ///
    /// # Safety
    ///
    /// `fd` is an open socket that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> TcpSocket {
        TcpSocket {
            // SAFETY: forwarded from this function's contract.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        }
    }
}
