//! Sockets in the ring's registered-file table (docs/architecture.md, "Registered
//! descriptors"): made from a slot (direct accept), given one (after connect), and given an fd
//! when something needs a number the kernel knows outside the ring — `AsRawFd`, `into_std`,
//! getsockopt — with IORING_OP_FIXED_FD_INSTALL.

use super::{Accepted, SharedFd};
use crate::driver::FixedFile;
use crate::runtime::context;
use std::io;
use std::os::fd::RawFd;

/// What `take_if_last` took out of a `SharedFd`: its fd (-1: none) and its slot.
pub(crate) struct Taken {
    pub(crate) fd: RawFd,
    pub(crate) fixed: Option<FixedFile>,
}

impl SharedFd {
    /// The socket an accept produced: an fd (registered with the driver like any socket) or a
    /// slot.
    pub(crate) fn from_accepted(conn: Accepted) -> io::Result<SharedFd> {
        match conn {
            Accepted::Fd(fd) => SharedFd::new(fd),
            Accepted::Fixed(file) => SharedFd::new_fixed(file),
        }
    }

    /// A socket accepted straight into the ring's table: it has a slot and no fd.
    pub(crate) fn new_fixed(file: FixedFile) -> io::Result<SharedFd> {
        let core = context::with_core(|core| core.id());
        Ok(SharedFd::from_parts(-1, Some(file), core, true, None))
    }

    /// Gives a socket that has an fd a slot too (a connected socket, registered after its
    /// connect): from now on its ops name the slot.
    pub(crate) fn set_fixed(&self, file: FixedFile) {
        self.inner.set_fixed(file);
    }

    /// The fd, installing one for a socket that only has a slot (IORING_OP_FIXED_FD_INSTALL,
    /// one synchronous round trip through this executor's ring; close-on-exec). The socket
    /// then has both, and its ops keep naming the slot.
    pub(crate) fn real_fd(&self) -> io::Result<RawFd> {
        let fd = self.raw();
        if fd >= 0 {
            return Ok(fd);
        }
        let Some(index) = self.fixed_index() else {
            return Err(crate::sys::closed_error());
        };
        let core = self.inner.core;
        let installed = context::try_with_driver(|id, d| {
            if id != core {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "this socket is registered with another corio executor's ring",
                ));
            }
            d.install_fixed(index)
        });
        let fd = installed.unwrap_or_else(|| {
            Err(io::Error::other(
                "a registered socket needs its executor's ring to get an fd",
            ))
        })?;
        self.inner.set_fd(fd);
        Ok(fd)
    }

    /// `AsRawFd`: the fd, installed if needed (see `real_fd`); -1 if that fails (the caller's
    /// syscall then fails with EBADF, since `as_raw_fd` cannot return an error).
    pub(crate) fn as_raw_fd(&self) -> RawFd {
        self.real_fd().unwrap_or(-1)
    }
}
