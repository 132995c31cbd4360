//! Handing sockets to and from std and raw fds: `into_std` for every socket type, and the
//! `AsFd` / `FromRawFd` / `IntoRawFd` impls built on `from_std` / `into_std`, so that
//! `socket2::SockRef::from(&socket)` (and anything else taking `AsFd`) works on corio sockets.

use super::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use crate::fd::SharedFd;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// Takes the fd out of `fd`, deregistered from this executor: refused (`WouldBlock`) while an
/// operation still holds it or bytes from a dropped read are kept, and (`NotConnected`) after
/// `close`. A socket in the ring's registered files gets an fd installed and leaves the table.
pub(crate) fn into_owned(fd: &SharedFd) -> io::Result<OwnedFd> {
    fd.check_open()?;
    if fd.has_stash() {
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "bytes from a dropped read are still kept on this socket",
        ));
    }
    fd.real_fd()?;
    let Some(taken) = fd.take_if_last() else {
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "an operation on this socket is still in flight",
        ));
    };
    if let Some(file) = taken.fixed {
        // Closed now, so the new owner's close closes the socket.
        fd.with_own_driver(|d| d.close_fixed_now(file));
    }
    // SAFETY: `take_if_last` gave us sole ownership of this open fd, which `real_fd` made
    // sure exists.
    Ok(unsafe { OwnedFd::from_raw_fd(taken.fd) })
}

impl TcpListener {
    /// Gives the listener back as a std listener, deregistered from this executor (to hand it
    /// to another worker or process); see [`TcpStream::into_std`] for when it is refused. On
    /// the epoll driver the socket stays non-blocking.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        into_owned(&self.fd).map(Into::into)
    }
}

impl UdpSocket {
    /// Gives the socket back as a std socket; see [`TcpStream::into_std`].
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        into_owned(&self.fd).map(Into::into)
    }
}

impl UnixStream {
    /// Gives the stream back as a std stream; see [`TcpStream::into_std`].
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        into_owned(&self.fd).map(Into::into)
    }
}

impl UnixListener {
    /// Adopts a listening Unix socket made with std (or inherited), on the current runtime.
    /// Must be called inside a runtime.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener::from_fd(super::socket::adopt(
            listener.into(),
        )?))
    }

    /// Gives the listener back as a std listener; see [`TcpStream::into_std`].
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        into_owned(&self.fd).map(Into::into)
    }
}

/// `AsFd`, `FromRawFd` and `IntoRawFd` for socket types with `from_std` / `into_std`.
///
/// - `as_fd` panics on a socket that has no fd: closed with `close()`, or a registered socket
///   whose fd could not be installed (EMFILE).
/// - `from_raw_fd` adopts the fd on the current runtime and panics outside one (as
///   `from_std` would fail); its safety contract is std's: `fd` is open and owned by nobody
///   else.
/// - `into_raw_fd` panics where `into_std` fails (an operation still in flight: a dropped
///   read); call `into_std` to handle that.
macro_rules! raw_fd_conversions {
    ($($ty:ty => $std:ty),+ $(,)?) => {$(
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                let fd = std::os::fd::AsRawFd::as_raw_fd(self);
                assert!(fd >= 0, "as_fd on a {} that has no fd (closed, or its registered slot could not be given one)", stringify!($ty));
                // SAFETY: `fd` is open (checked above) and owned by `self`, which the
                // borrow keeps alive; an op's deferred close waits for `self` to drop.
                unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
            }
        }

        impl std::os::fd::FromRawFd for $ty {
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> Self {
                // SAFETY: the caller's contract: `fd` is open and nobody else owns it.
                let std = unsafe { <$std as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                <$ty>::from_std(std).unwrap_or_else(|e| {
                    panic!("{}::from_raw_fd: {e} (it must be called inside a runtime)", stringify!($ty))
                })
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                let std = self.into_std().unwrap_or_else(|e| {
                    panic!("{}::into_raw_fd: {e} (use into_std to handle this)", stringify!($ty))
                });
                std::os::fd::IntoRawFd::into_raw_fd(std)
            }
        }
    )+};
}

raw_fd_conversions!(
    TcpStream => std::net::TcpStream,
    TcpListener => std::net::TcpListener,
    UdpSocket => std::net::UdpSocket,
    UnixStream => std::os::unix::net::UnixStream,
    UnixListener => std::os::unix::net::UnixListener,
    UnixDatagram => std::os::unix::net::UnixDatagram,
);
