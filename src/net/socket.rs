//! Socket setup with plain syscalls.

use crate::runtime::context;
use crate::sys::syscall;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Creates a socket, close-on-exec, and non-blocking on the epoll driver (io_uring keeps
/// sockets blocking: it issues non-blocking attempts itself and arms its own poll).
pub(crate) fn socket(domain: i32, ty: i32) -> io::Result<OwnedFd> {
    let flags = libc::SOCK_CLOEXEC
        | if nonblocking_sockets() {
            libc::SOCK_NONBLOCK
        } else {
            0
        };
    let fd = syscall!(socket(domain, ty | flags, 0))?;
    // SAFETY: socket(2) just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adopts a socket made elsewhere (e.g. by std): made non-blocking where the driver needs it,
/// then registered with the driver.
pub(crate) fn adopt(fd: OwnedFd) -> io::Result<crate::fd::SharedFd> {
    if nonblocking_sockets() {
        let mut on: libc::c_int = 1;
        syscall!(ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            libc::FIONBIO,
            &mut on
        ))?;
    }
    crate::fd::SharedFd::new(fd)
}

/// True when the current driver needs non-blocking sockets (epoll).
pub(crate) fn nonblocking_sockets() -> bool {
    context::with_driver(|_, d| d.needs_nonblocking_fds())
}

pub(crate) fn domain_of(addr: &SocketAddr) -> i32 {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

pub(crate) fn set_opt(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    let len = std::mem::size_of::<i32>() as libc::socklen_t;
    syscall!(setsockopt(
        fd,
        level,
        name,
        (&value as *const i32).cast(),
        len
    ))
    .map(drop)
}

pub(crate) fn get_opt(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value = 0i32;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    syscall!(getsockopt(
        fd,
        level,
        name,
        (&mut value as *mut i32).cast(),
        &mut len
    ))?;
    Ok(value)
}

/// Resolves `addr` and calls `f` on each address until one succeeds; the last error otherwise.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match f(&a) {
            Ok(t) => return Ok(t),
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
