//! Unix-domain stream sockets: [`UnixListener`] and [`UnixStream`].

use super::addr::{sock_name, RawAddr};
use super::socket::{nonblocking_sockets, socket};
use crate::fd::SharedFd;
use crate::op::{accept, close, connect};
use crate::sys::syscall;
use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The address of a Unix socket: its path, or none for an unnamed socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketAddr {
    path: Option<PathBuf>,
}

impl SocketAddr {
    fn from_raw(raw: &RawAddr) -> SocketAddr {
        SocketAddr {
            path: raw.to_path(),
        }
    }

    /// The path, if the socket is bound to one.
    pub fn as_pathname(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

/// A Unix-domain socket listening for connections.
pub struct UnixListener {
    fd: SharedFd,
    backoff: Cell<Duration>,
}

impl UnixListener {
    /// Binds to `path` and listens. The path must not exist.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let fd = socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        let sa = RawAddr::from_path(path.as_ref())?;
        syscall!(bind(fd.as_raw_fd(), sa.as_ptr(), sa.len))?;
        syscall!(listen(fd.as_raw_fd(), 1024))?;
        Ok(UnixListener {
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

    /// Accepts a connection; cancel-safe like [`TcpListener::accept`](super::TcpListener::accept).
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (conn, addr) = accept::accept(&self.fd, &self.backoff).await?;
        Ok((
            UnixStream {
                fd: SharedFd::new(conn)?,
            },
            SocketAddr::from_raw(&addr),
        ))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sock_name(self.fd.raw(), false)?))
    }

    /// Closes it (Go's Close): pending and later operations fail with `NotConnected`; see
    /// `TcpStream::close` for when the fd number is released. Connections accepted by
    /// dropped `accept` futures and not yet taken are closed.
    pub async fn close(&self) -> io::Result<()> {
        close::close(&self.fd).await
    }
}

/// A Unix-domain stream connection.
pub struct UnixStream {
    fd: SharedFd,
}

impl UnixStream {
    /// Adopts a connected Unix stream made with std (or inherited), on the current runtime. Must be
    /// called inside a runtime.
    pub fn from_std(socket: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            fd: super::socket::adopt(socket.into())?,
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
        let flags = if nonblocking_sockets() {
            libc::SOCK_NONBLOCK
        } else {
            0
        };
        let mut fds = [0; 2];
        syscall!(socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | flags,
            0,
            fds.as_mut_ptr()
        ))?;
        // SAFETY: socketpair just returned these two fds and nothing else owns them.
        let (x, y) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok((
            UnixStream {
                fd: SharedFd::new(x)?,
            },
            UnixStream {
                fd: SharedFd::new(y)?,
            },
        ))
    }

    const READ_KIND: crate::op::recv::ReadKind = crate::op::recv::ReadKind::UnixStream;

    super::stream::stream_io_methods!();

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sock_name(self.fd.raw(), false)?))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sock_name(self.fd.raw(), true)?))
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.raw()
    }
}

impl std::fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.fd.raw())
            .finish()
    }
}

impl std::fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.fd.raw())
            .finish()
    }
}
