//! Readiness waits on Unix sockets, as on `TcpStream`: wait for data (or room) without
//! holding a buffer.

use super::{UnixDatagram, UnixStream};
use crate::op::poll;
use std::io;

impl UnixStream {
    /// Waits until a read would not wait (data, EOF or an error pending), without taking a
    /// buffer; see [`TcpStream::readable`](crate::net::TcpStream::readable).
    pub async fn readable(&self) -> io::Result<()> {
        poll::readable(&self.fd).await
    }

    /// Waits until a write would not wait.
    pub async fn writable(&self) -> io::Result<()> {
        poll::writable(&self.fd).await
    }
}

impl UnixDatagram {
    /// Waits until a datagram (or an error) is pending.
    pub async fn readable(&self) -> io::Result<()> {
        poll::readable(&self.fd).await
    }

    /// Waits until a send would not wait.
    pub async fn writable(&self) -> io::Result<()> {
        poll::writable(&self.fd).await
    }
}
