//! [`UnixDatagram`]: a Unix-domain datagram socket.
//!
//! `send` / `recv` (connected) are ops like UDP's: SQEs on io_uring, the try/park loop on
//! epoll, and a dropped `recv` keeps its datagram for the next one. `send_to` / `recv_from`
//! (unconnected, by path) use the readiness form on both drivers: a non-blocking
//! sendto/recvfrom (MSG_DONTWAIT), and on EAGAIN a readiness wait (`POLL_ADD` on io_uring);
//! nothing is in the kernel between polls, so dropping one loses nothing.

use super::SocketAddr;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::net::socket::socket;
use crate::op::recv::{self, ReadKind};
use crate::op::{close, poll, send};
use crate::sys::addr::{sock_name, RawAddr};
use crate::sys::{syscall, would_block};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// A Unix-domain datagram socket.
///
/// ```
/// use corio::net::UnixDatagram;
///
/// corio::block_on(async {
///     let (a, b) = UnixDatagram::pair()?;
///     let (res, _) = a.send(&b"ping"[..]).await;
///     res?;
///     let (res, buf) = b.recv(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..res?], b"ping");
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
pub struct UnixDatagram {
    pub(crate) fd: SharedFd,
}

impl UnixDatagram {
    /// A socket bound to `path` (which must not exist). Must be called within a runtime.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let fd = socket(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        let sa = RawAddr::from_path(path.as_ref())?;
        syscall!(bind(fd.as_raw_fd(), sa.as_ptr(), sa.len))?;
        Ok(UnixDatagram {
            fd: SharedFd::new(fd)?,
        })
    }

    /// A socket bound to no path (it can send; replies need a bound sender).
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            fd: SharedFd::new(socket(libc::AF_UNIX, libc::SOCK_DGRAM)?)?,
        })
    }

    /// A connected pair of unnamed sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (x, y) = super::socketpair(libc::SOCK_DGRAM)?;
        Ok((UnixDatagram { fd: x }, UnixDatagram { fd: y }))
    }

    /// Adopts a Unix datagram socket made with std (or inherited). Must be called inside a
    /// runtime.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            fd: crate::net::socket::adopt(socket.into())?,
        })
    }

    /// Gives the socket back as a std socket; see
    /// [`TcpStream::into_std`](crate::net::TcpStream::into_std).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        crate::net::fd_conv::into_owned(&self.fd).map(Into::into)
    }

    /// Sets the default peer for `send` / `recv` (connect(2) on a datagram socket returns
    /// at once).
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let sa = RawAddr::from_path(path.as_ref())?;
        syscall!(connect(self.fd.raw(), sa.as_ptr(), sa.len)).map(drop)
    }

    /// Sends one datagram to the connected peer.
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        send::send(&self.fd, buf).await
    }

    /// Receives one datagram from the connected peer into `buf`'s spare capacity (a longer
    /// datagram is cut to fit). Cancel-safe: a datagram a dropped call received comes next.
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        recv::recv(&self.fd, buf, ReadKind::Datagram).await
    }

    /// Sends one datagram to the socket bound at `path`.
    pub async fn send_to<B: IoBuf>(&self, buf: B, path: impl AsRef<Path>) -> BufResult<usize, B> {
        let sa = match RawAddr::from_path(path.as_ref()) {
            Ok(sa) => sa,
            Err(e) => return (Err(e), buf),
        };
        loop {
            let res = syscall!(sendto(
                self.fd.raw(),
                buf.stable_ptr().cast(),
                buf.bytes_init(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                sa.as_ptr(),
                sa.len
            ));
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

    /// Receives one datagram and the address of its sender (unnamed for an unbound sender).
    /// Cancel-safe.
    pub async fn recv_from<B: IoBufMut>(&self, mut buf: B) -> BufResult<(usize, SocketAddr), B> {
        if let Err(e) = crate::buf::check_room(&buf) {
            return (Err(e), buf);
        }
        if self.fd.has_stash() {
            // A datagram kept from a dropped `recv` comes first; its sender was not kept.
            let (res, buf) = self.recv(buf).await;
            return (res.map(|n| (n, SocketAddr { path: None })), buf);
        }
        loop {
            let mut from = RawAddr::empty();
            let (ptr, len) = crate::buf::spare_mut(&mut buf);
            let res = syscall!(recvfrom(
                self.fd.raw(),
                ptr.cast(),
                len,
                libc::MSG_DONTWAIT,
                from.as_mut_ptr(),
                &mut from.len
            ));
            match res {
                Ok(n) => {
                    // SAFETY: recvfrom wrote `n` bytes into the spare capacity.
                    unsafe { crate::buf::advance_init(&mut buf, n as usize) };
                    return (Ok((n as usize, SocketAddr::from_raw(&from))), buf);
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

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sock_name(self.fd.raw(), false)?))
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sock_name(self.fd.raw(), true)?))
    }

    /// Closes it (Go's Close): pending and later operations fail with `NotConnected`.
    pub async fn close(&self) -> io::Result<()> {
        close::close(&self.fd).await
    }
}

crate::net::fd_traits!(UnixDatagram);
