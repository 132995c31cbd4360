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

use crate::sys::addr::RawAddr;
use std::path::{Path, PathBuf};

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
