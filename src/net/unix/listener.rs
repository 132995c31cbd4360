//! [`UnixListener`]: a listening Unix-domain stream socket; `accept` is cancel-safe.

use super::{SocketAddr, UnixStream};
use crate::driver::Direction;
use crate::fd::SharedFd;
use crate::net::socket::socket;
use crate::op::{accept, close};
use crate::sys::addr::{sock_name, RawAddr};
use crate::sys::syscall;
use std::cell::Cell;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// A Unix-domain socket listening for connections.
pub struct UnixListener {
    pub(crate) fd: SharedFd,
    backoff: Cell<Duration>,
}

impl UnixListener {
    pub(crate) fn from_fd(fd: SharedFd) -> UnixListener {
        UnixListener {
            fd,
            backoff: Cell::new(Duration::ZERO),
        }
    }

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
        self.fd.set_deadline(Direction::Read, deadline);
    }

    /// Accepts a connection; cancel-safe like [`TcpListener::accept`](super::TcpListener::accept).
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (conn, addr) = accept::accept(&self.fd, &self.backoff, false).await?;
        Ok((
            UnixStream::from_fd(SharedFd::from_accepted(conn)?),
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

crate::net::fd_traits!(UnixListener);
