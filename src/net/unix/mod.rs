//! Unix-domain sockets: [`UnixListener`] and [`UnixStream`], [`UnixDatagram`], and the
//! peer's credentials ([`UCred`]); anonymous pipes ([`pipe`]).

mod cred;
mod datagram;
mod listener;
pub mod pipe;
mod readiness;
mod stream;

pub use cred::UCred;
pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use stream::UnixStream;

use crate::fd::SharedFd;
use crate::net::socket::nonblocking_sockets;
use crate::sys::addr::RawAddr;
use crate::sys::syscall;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A connected pair of Unix sockets of `kind` (`SOCK_STREAM` or `SOCK_DGRAM`), close-on-exec,
/// non-blocking where the runtime's driver wants it; for `UnixStream::pair` and
/// `UnixDatagram::pair`.
fn socketpair(kind: libc::c_int) -> io::Result<(SharedFd, SharedFd)> {
    let flags = if nonblocking_sockets() {
        libc::SOCK_NONBLOCK
    } else {
        0
    };
    let mut fds = [0; 2];
    syscall!(socketpair(
        libc::AF_UNIX,
        kind | libc::SOCK_CLOEXEC | flags,
        0,
        fds.as_mut_ptr()
    ))?;
    // SAFETY: socketpair just returned these two fds and nothing else owns them.
    let (x, y) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((SharedFd::new(x)?, SharedFd::new(y)?))
}

/// The address of a Unix socket: its path, or none for an unnamed socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketAddr {
    pub(crate) path: Option<PathBuf>,
}

impl SocketAddr {
    pub(crate) fn from_raw(raw: &RawAddr) -> SocketAddr {
        SocketAddr {
            path: raw.to_path(),
        }
    }

    /// The path, if the socket is bound to one.
    pub fn as_pathname(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}
