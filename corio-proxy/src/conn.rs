//! A connection of either kind the proxy serves: TCP, or a Unix stream (`unix:` listeners and
//! upstreams). The copy (copy.rs, over corio's `io::copy_half` and `io::copy_half_spliced`),
//! the PROXY header and the SNI peek see only this type, so every feature works across both
//! kinds, buffered or spliced.

use crate::addr::Dest;
use corio::buf::{BufResult, IoBuf, IoBufMut};
use corio::net::{TcpStream, UnixStream};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

/// One side of a pair.
pub enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    /// Connects to an upstream.
    pub async fn connect(dest: &Dest) -> io::Result<Conn> {
        match dest {
            Dest::Ip(a) => TcpStream::connect(*a).await.map(Conn::Tcp),
            Dest::Unix(p) => UnixStream::connect(p).await.map(Conn::Unix),
        }
    }

    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        match self {
            Conn::Tcp(s) => s.read(buf).await,
            Conn::Unix(s) => s.read(buf).await,
        }
    }

    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        match self {
            Conn::Tcp(s) => s.write_all(buf).await,
            Conn::Unix(s) => s.write_all(buf).await,
        }
    }

    /// TCP_NODELAY on TCP (a proxy forwards what it has at once); nothing on Unix streams.
    pub fn set_nodelay(&self) {
        if let Conn::Tcp(s) = self {
            let _ = s.set_nodelay(true);
        }
    }

    /// The local IP address (none on a Unix stream).
    pub fn local_ip_addr(&self) -> Option<SocketAddr> {
        match self {
            Conn::Tcp(s) => s.local_addr().ok(),
            Conn::Unix(_) => None,
        }
    }

    /// Makes the close send a reset (SO_LINGER 0) on TCP, so the side still up learns of a
    /// failure promptly; a Unix stream has no reset, its close is seen as EOF or EPIPE.
    pub fn reset_on_close(&self) {
        let Conn::Tcp(s) = self else { return };
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt reads `linger`, which lives for the call, on an fd `s` owns.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
    }
}

/// A connection between runtimes (a balanced hand-off to another worker): std's socket.
pub enum StdConn {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Conn {
    /// Leaves this worker's runtime, for another to adopt (`StdConn::adopt`).
    pub fn into_std(self) -> io::Result<StdConn> {
        match self {
            Conn::Tcp(s) => s.into_std().map(StdConn::Tcp),
            Conn::Unix(s) => s.into_std().map(StdConn::Unix),
        }
    }
}

impl StdConn {
    /// Adopts it on the current worker's runtime.
    pub fn adopt(self) -> io::Result<Conn> {
        match self {
            StdConn::Tcp(s) => TcpStream::from_std(s).map(Conn::Tcp),
            StdConn::Unix(s) => UnixStream::from_std(s).map(Conn::Unix),
        }
    }
}

impl AsRawFd for Conn {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Unix(s) => s.as_raw_fd(),
        }
    }
}
