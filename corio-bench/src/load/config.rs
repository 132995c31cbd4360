//! What a load run does (its mode and its numbers), and the connect and time limit every mode
//! shares.

use corio::net::TcpStream;
use corio::time::timeout;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// What the load does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Each connection keeps `depth` requests in flight (depth 1: ping-pong).
    PingPong,
    /// Connect, one echo, close; repeat.
    Churn,
    /// One connection per `conns`, full duplex: write and read as fast as possible.
    Bulk,
    /// Open loop at a fixed total rate (requests/s); latency counts from the scheduled send
    /// time, so a slow server cannot hide its queueing (no coordinated omission).
    Rate(f64),
    /// A file server's client: each request is one byte, its answer `size` bytes of the
    /// suite's file content from offset 0 (`crate::content`); `depth` in flight.
    Fetch,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::PingPong => "pingpong",
            Mode::Churn => "churn",
            Mode::Bulk => "bulk",
            Mode::Rate(_) => "rate",
            Mode::Fetch => "fetch",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    pub conns: usize,
    pub size: usize,
    pub depth: usize,
    /// Measured time.
    pub secs: f64,
    /// Unmeasured time before it (connections are opened before either).
    pub warmup: f64,
    pub mode: Mode,
    pub driver: corio::DriverChoice,
}

/// How long one read may wait before the connection counts as failed.
pub(super) const IO_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = timeout(IO_TIMEOUT, TcpStream::connect(addr)).await??;
    s.set_nodelay(true)?;
    Ok(s)
}
