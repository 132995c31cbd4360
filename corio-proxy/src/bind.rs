//! Listening sockets, all made on the main thread before any worker starts, so a bind error
//! stops the process with nothing started. Each worker then adopts its own
//! (`TcpListener::from_std`).

use crate::config::Accept;
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// Accept backlog; the kernel caps it at net.core.somaxconn.
const BACKLOG: i32 = 4096;

/// The sockets of one listener: one per worker (SO_REUSEPORT), or one for worker 0
/// (balanced hand-off). Port 0 is resolved by the first bind; the rest bind the same port.
pub fn listen(
    addr: SocketAddr,
    workers: usize,
    accept: Accept,
) -> io::Result<(SocketAddr, Vec<std::net::TcpListener>)> {
    let n = match accept {
        Accept::Reuseport => workers,
        Accept::Balanced => 1,
    };
    let mut addr = addr;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        s.set_reuse_address(true)?;
        if accept == Accept::Reuseport {
            s.set_reuse_port(true)?;
        }
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.bind(&addr.into())?;
        s.listen(BACKLOG)?;
        if addr.port() == 0 {
            addr = s
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("bound socket has no IP address"))?;
        }
        out.push(s.into());
    }
    Ok((addr, out))
}

/// The admin listener (a plain socket; worker 0 serves it).
pub fn admin(addr: SocketAddr) -> io::Result<(SocketAddr, std::net::TcpListener)> {
    let l = std::net::TcpListener::bind(addr)?;
    Ok((l.local_addr()?, l))
}

/// Raises the soft open-file limit to the hard one: a proxy holds two sockets per client (and
/// two pipe ends per direction in flight with splice).
pub fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `lim`, a plain struct that lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0
        || lim.rlim_cur >= lim.rlim_max
    {
        return;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads `lim`, which lives for the call. A refusal keeps the old limit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}
