//! TCP: [`TcpListener`], [`TcpStream`], and [`TcpSocket`] to configure one before it listens
//! or connects.

mod listener;
mod options;
mod socket;
mod stream;

pub use listener::TcpListener;
pub use socket::TcpSocket;
pub use stream::TcpStream;
