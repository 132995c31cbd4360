//! Socket options on connected streams and listeners (`TcpSocket` has the full set before
//! connecting; `socket2::SockRef::from(&stream)` reaches every other one).

use super::{TcpListener, TcpStream};
use crate::net::sockopt::{self, TcpKeepalive};
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

impl TcpStream {
    /// SO_LINGER (`Some(Duration::ZERO)`: dropping or closing the stream sends RST).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sockopt::set_linger(self.as_raw_fd(), linger)
    }

    /// Reads SO_LINGER.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        sockopt::linger(self.as_raw_fd())
    }

    /// IP_TTL (IPv6: IPV6_UNICAST_HOPS).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        sockopt::set_ttl(self.as_raw_fd(), ttl)
    }

    /// Reads the TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        sockopt::ttl(self.as_raw_fd())
    }

    /// IP_TOS (IPv6: IPV6_TCLASS).
    pub fn set_tos(&self, tos: u32) -> io::Result<()> {
        sockopt::set_tos(self.as_raw_fd(), tos)
    }

    /// Reads the TOS / traffic class.
    pub fn tos(&self) -> io::Result<u32> {
        sockopt::tos(self.as_raw_fd())
    }

    /// SO_KEEPALIVE with `ka`'s timings, or off for `None`.
    pub fn set_keepalive(&self, ka: Option<&TcpKeepalive>) -> io::Result<()> {
        sockopt::set_keepalive(self.as_raw_fd(), ka)
    }

    /// The keepalive settings in force, `None` when off.
    pub fn keepalive(&self) -> io::Result<Option<TcpKeepalive>> {
        sockopt::keepalive(self.as_raw_fd())
    }

    /// TCP_QUICKACK.
    pub fn set_quickack(&self, on: bool) -> io::Result<()> {
        sockopt::set_quickack(self.as_raw_fd(), on)
    }

    /// Reads TCP_QUICKACK.
    pub fn quickack(&self) -> io::Result<bool> {
        sockopt::quickack(self.as_raw_fd())
    }

    /// TCP_USER_TIMEOUT.
    pub fn set_user_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        sockopt::set_user_timeout(self.as_raw_fd(), t)
    }

    /// Reads TCP_USER_TIMEOUT.
    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        sockopt::user_timeout(self.as_raw_fd())
    }

    /// SO_SNDBUF.
    pub fn set_send_buffer_size(&self, n: usize) -> io::Result<()> {
        sockopt::set_send_buffer_size(self.as_raw_fd(), n)
    }

    /// Reads SO_SNDBUF.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        sockopt::send_buffer_size(self.as_raw_fd())
    }

    /// SO_RCVBUF.
    pub fn set_recv_buffer_size(&self, n: usize) -> io::Result<()> {
        sockopt::set_recv_buffer_size(self.as_raw_fd(), n)
    }

    /// Reads SO_RCVBUF.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        sockopt::recv_buffer_size(self.as_raw_fd())
    }
}

impl TcpListener {
    /// IP_TTL of the listener (IPv6: IPV6_UNICAST_HOPS).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        sockopt::set_ttl(self.as_raw_fd(), ttl)
    }

    /// Reads the TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        sockopt::ttl(self.as_raw_fd())
    }
}
