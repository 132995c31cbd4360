//! The exact request count of a span: the bytes the load's connections have received from the
//! server, read from the kernel (TCP_INFO's `tcpi_bytes_received`) on every socket of this
//! process whose peer is the server. Sampled right when a vgdb command returns, it counts the
//! answers the server sent between two commands, whatever the load's rate did meanwhile
//! (instrumentation slows a server down unevenly, so a rate over a longer window would not).

use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Bytes received so far on this process's TCP connections to `peer`.
pub fn bytes_from(peer: SocketAddr) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .filter(|&fd| peer_of(fd) == Some(peer))
        .filter_map(received)
        .sum()
}

/// The peer of socket `fd`, if it is a connected IPv4 or IPv6 socket.
fn peer_of(fd: RawFd) -> Option<SocketAddr> {
    // SAFETY: sockaddr_storage is plain data, valid when zeroed.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getpeername writes at most `len` bytes into `ss`; a non-socket fd fails.
    let rc = unsafe { libc::getpeername(fd, (&raw mut ss).cast(), &mut len) };
    if rc != 0 {
        return None;
    }
    match ss.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: libc::sockaddr_in = unsafe { std::ptr::read((&raw const ss).cast()) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: libc::sockaddr_in6 = unsafe { std::ptr::read((&raw const ss).cast()) };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::from((ip, u16::from_be(a.sin6_port))))
        }
        _ => None,
    }
}

/// `tcpi_bytes_received` of TCP socket `fd`.
fn received(fd: RawFd) -> Option<u64> {
    // SAFETY: tcp_info is plain data, valid when zeroed.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    // Kernels before 4.1 stop short of the field: no count rather than a wrong one.
    let needed = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + 8;
    (rc == 0 && len as usize >= needed).then_some(info.tcpi_bytes_received)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn counts_the_bytes_a_connection_received() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let before = bytes_from(addr);
        server.write_all(&[7; 640]).unwrap();
        let mut buf = [0; 640];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(bytes_from(addr) - before, 640);
    }
}
