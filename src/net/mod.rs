//! Networking: TCP, UDP and Unix sockets with owned-buffer I/O, on either driver.
//!
//! Sockets are set up with plain syscalls (socket, bind, listen, setsockopt); their I/O goes
//! through the driver. Names follow tokio where the meaning is the same. All methods take
//! `&self`, so one task can read while another writes (share the socket with `Rc`).

pub(crate) mod addr;
mod socket;
mod stream;
pub mod tcp;
pub mod udp;
pub mod unix;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
