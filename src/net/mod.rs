//! Networking: TCP, UDP and Unix sockets with owned-buffer I/O, on either driver.
//!
//! Sockets are set up with plain syscalls (socket, bind, listen, setsockopt); their I/O goes
//! through the driver. Names follow tokio where the meaning is the same. All methods take
//! `&self`, so one task can read while another writes (share the socket with `Rc`).

pub(crate) mod fd_conv;
mod futures;
pub(crate) mod lookup;
pub(crate) mod pooled;
mod socket;
mod sockopt;
mod stream;
pub mod tcp;
pub mod udp;
pub mod unix;

pub use futures::{ReadFuture, WriteAllFuture};
pub use lookup::{lookup_host, ToSocketAddrs};
pub use pooled::{BufRing, PooledBuf};
pub use sockopt::TcpKeepalive;
pub use tcp::{TcpListener, TcpSocket, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};

/// `AsRawFd` and `Debug` (the fd number, and the registered slot if any) for socket types
/// holding a `SharedFd` in `fd`. A socket accepted into the ring's registered files gets an fd
/// installed on the first `as_raw_fd` (-1 if that fails: see `SharedFd::as_raw_fd`).
macro_rules! fd_traits {
    ($($ty:ident),+) => {$(
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.fd.as_raw_fd()
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let mut d = f.debug_struct(stringify!($ty));
                d.field("fd", &self.fd.raw());
                if let Some(index) = self.fd.fixed_index() {
                    d.field("registered", &index);
                }
                d.finish()
            }
        }
    )+};
}
pub(crate) use fd_traits;
