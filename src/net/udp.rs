//! UDP: [`UdpSocket`].

use super::socket::{domain_of, each_addr, socket};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::op::{close, recv, recv_from, send, send_to};
use crate::sys::addr::{sock_name, RawAddr};
use crate::sys::syscall;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Instant;

/// A UDP socket.
///
/// ```
/// use corio::net::UdpSocket;
/// corio::block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     let (res, _) = a.send_to(b"hi".to_vec(), b.local_addr()?).await;
///     res?;
///     let (res, buf) = b.recv_from(Vec::with_capacity(16)).await;
///     let (n, from) = res?;
///     assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
pub struct UdpSocket {
    pub(crate) fd: SharedFd,
}

impl UdpSocket {
    /// Adopts a UDP socket made with std (or inherited), on the current runtime. Must be
    /// called inside a runtime.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            fd: super::socket::adopt(socket.into())?,
        })
    }

    /// Sets the read deadline for `recv` and `recv_from`; see
    /// [`TcpStream::set_read_deadline`](crate::net::TcpStream::set_read_deadline).
    pub fn set_read_deadline(&self, deadline: Option<Instant>) {
        self.fd.set_deadline(Direction::Read, deadline);
    }

    /// Sets the write deadline for `send` and `send_to`.
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

    /// Binds a UDP socket. Must be called within a runtime.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, |a| {
            let fd = socket(domain_of(a), libc::SOCK_DGRAM)?;
            let sa = RawAddr::from_socket_addr(a);
            use std::os::fd::AsRawFd;
            syscall!(bind(fd.as_raw_fd(), sa.as_ptr(), sa.len))?;
            Ok(UdpSocket {
                fd: SharedFd::new(fd)?,
            })
        })
    }

    /// Sets the default peer for `send`/`recv` and filters received datagrams to it.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| {
            let sa = RawAddr::from_socket_addr(a);
            syscall!(connect(self.fd.raw(), sa.as_ptr(), sa.len)).map(drop)
        })
    }

    /// Sends one datagram to `addr`.
    pub async fn send_to<B: IoBuf>(&self, buf: B, addr: SocketAddr) -> BufResult<usize, B> {
        send_to::send_to(&self.fd, buf, RawAddr::from_socket_addr(&addr)).await
    }

    /// Receives one datagram into `buf`'s spare capacity; returns its length and sender.
    /// Cancel-safe: a datagram received by a dropped call is returned next.
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        recv_from::recv_from(&self.fd, buf).await
    }

    /// Sends one datagram to the connected peer.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        send::send(&self.fd, buf).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        recv::recv(&self.fd, buf, recv::ReadKind::Datagram).await
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.fd.raw(), false)?.to_socket_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sock_name(self.fd.raw(), true)?.to_socket_addr()
    }

    /// Closes it (Go's Close): pending and later operations fail with `NotConnected`; see
    /// `TcpStream::close` for when the fd number is released.
    pub async fn close(&self) -> io::Result<()> {
        close::close(&self.fd).await
    }
}

crate::net::fd_traits!(UdpSocket);
