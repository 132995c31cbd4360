//! Networking: TCP, UDP and Unix sockets with owned-buffer I/O, on either driver.
//!
//! Sockets are set up with plain syscalls (socket, bind, listen, setsockopt); their I/O goes
//! through the driver. Names follow tokio where the meaning is the same. All methods take
//! `&self`, so one task can read while another writes (share the socket with `Rc`).

mod socket;
mod stream;
pub mod tcp;
pub mod udp;
pub mod unix;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

/// `AsRawFd` and `Debug` (the fd number) for socket types holding a `SharedFd` in `fd`.
macro_rules! fd_traits {
    ($($ty:ident),+) => {$(
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.fd.raw()
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty)).field("fd", &self.fd.raw()).finish()
            }
        }
    )+};
}
pub(crate) use fd_traits;
