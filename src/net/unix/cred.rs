//! Peer credentials of a Unix socket (SO_PEERCRED): who is at the other end.

use super::{UnixDatagram, UnixStream};
use crate::sys::syscall;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// The process at the other end of a Unix socket, as the kernel recorded it at connect (or
/// socketpair) time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UCred {
    /// Its process id (`None` where the kernel gave 0: a peer in another pid namespace).
    pub pid: Option<i32>,
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
}

fn peer_cred(fd: RawFd) -> io::Result<UCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_PEERCRED,
        (&mut cred as *mut libc::ucred).cast(),
        &mut len
    ))?;
    Ok(UCred {
        pid: (cred.pid != 0).then_some(cred.pid),
        uid: cred.uid,
        gid: cred.gid,
    })
}

impl UnixStream {
    /// The peer's credentials (SO_PEERCRED).
    ///
    /// ```
    /// corio::block_on(async {
    ///     let (a, _b) = corio::net::UnixStream::pair()?;
    ///     assert_eq!(a.peer_cred()?.pid, Some(std::process::id() as i32));
    ///     Ok::<(), std::io::Error>(())
    /// }).unwrap();
    /// ```
    pub fn peer_cred(&self) -> io::Result<UCred> {
        peer_cred(self.as_raw_fd())
    }
}

impl UnixDatagram {
    /// The peer's credentials (a socketpair, or a connected socket).
    pub fn peer_cred(&self) -> io::Result<UCred> {
        peer_cred(self.as_raw_fd())
    }
}
