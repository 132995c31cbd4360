//! [`OwnedStream`]: the three owned-buffer operations the compat layer needs from a stream.

use corio::buf::BufResult;
use corio::net::{TcpStream, UnixStream};
use std::future::Future;
use std::io;
use std::net::Shutdown;

/// A byte stream with corio's owned-buffer I/O: what [`Compat`](crate::Compat) wraps.
///
/// Implemented for [`corio::net::TcpStream`] and [`corio::net::UnixStream`]. An
/// implementation must keep corio's read contract: a `read_owned` future dropped while in
/// flight loses no bytes (the next `read_owned` returns them).
pub trait OwnedStream: 'static {
    /// Reads what is available into `buf`'s spare capacity; `Ok(0)` only at EOF.
    fn read_owned(&self, buf: Vec<u8>) -> impl Future<Output = BufResult<usize, Vec<u8>>>;

    /// Writes every byte of `buf`, looping over short writes.
    fn write_all_owned(&self, buf: Vec<u8>) -> impl Future<Output = BufResult<(), Vec<u8>>>;

    /// Shuts down the write half (the peer reads EOF).
    fn shutdown_write(&self) -> impl Future<Output = io::Result<()>>;
}

impl OwnedStream for TcpStream {
    fn read_owned(&self, buf: Vec<u8>) -> impl Future<Output = BufResult<usize, Vec<u8>>> {
        self.read(buf)
    }

    fn write_all_owned(&self, buf: Vec<u8>) -> impl Future<Output = BufResult<(), Vec<u8>>> {
        self.write_all(buf)
    }

    fn shutdown_write(&self) -> impl Future<Output = io::Result<()>> {
        self.shutdown(Shutdown::Write)
    }
}

impl OwnedStream for UnixStream {
    fn read_owned(&self, buf: Vec<u8>) -> impl Future<Output = BufResult<usize, Vec<u8>>> {
        self.read(buf)
    }

    fn write_all_owned(&self, buf: Vec<u8>) -> impl Future<Output = BufResult<(), Vec<u8>>> {
        self.write_all(buf)
    }

    fn shutdown_write(&self) -> impl Future<Output = io::Result<()>> {
        self.shutdown(Shutdown::Write)
    }
}
