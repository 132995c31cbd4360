//! Closing a listener without resetting a client, when other processes listen on the same
//! address (an overlap restart: a second proxy started on the port, SO_REUSEPORT, then SIGTERM
//! to the first).
//!
//! The kernel spreads new connections over the sockets of a SO_REUSEPORT group, and closing a
//! listening socket resets every connection in its accept queue (with
//! `net.ipv4.tcp_migrate_req = 0`, the default; with 1 the kernel moves them to another
//! member). So a listener that drains first steers new connections away from its own sockets
//! with a classic BPF program on the group (SO_ATTACH_REUSEPORT_CBPF), keeps accepting for a
//! settle period (handshakes already under way complete on its sockets), accepts what is
//! queued, and only then closes.
//!
//! The program returns an index into the group's array of sockets. The kernel appends a
//! socket at the end when it starts listening, and fills the hole a closed one leaves with the
//! last one. A process that started the group (or took it over from an older process with as
//! many sockets) holds indices `0..k` in the order it bound them, and the newer members hold
//! `k..k+m`. Closing from the highest of ours down, with a program before each close that
//! picks among indices newer members hold both before and after it (`k-j .. k-j+m-1` before
//! the j-th close), no connection is steered to a socket of ours at any moment — for `m >= 2`;
//! with one newer socket there is one system call's window per close. An index past the end
//! makes the kernel fall back to its hash.
//!
//! The newest member, once alone (the older process has gone), removes the program, so the
//! kernel's hash spreads connections over its own sockets again (`watch_until_alone`).

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Listening sockets bound to exactly `addr` in this network namespace: the size of its
/// SO_REUSEPORT group (for sockets of one user).
pub fn group_size(addr: SocketAddr) -> io::Result<usize> {
    crate::sockdiag::listening_on(addr)
}

/// Attaches a program to `fd`'s group that sends each new connection to a random index in
/// `first .. first + n` (`n >= 1`).
pub fn steer_to(fd: RawFd, first: u32, n: u32) -> io::Result<()> {
    let n = n.max(1);
    let mut prog = [
        // A = a random 32-bit number.
        stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM),
        // A = A % n + first
        stmt(BPF_ALU | BPF_MOD | BPF_K, n),
        stmt(BPF_ALU | BPF_ADD | BPF_K, first),
        stmt(BPF_RET | BPF_A, 0),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    setsockopt(fd, libc::SO_ATTACH_REUSEPORT_CBPF, &fprog)
}

/// Removes the group's program (the kernel's hash decides again); no program is not an error.
pub fn unsteer(fd: RawFd) -> io::Result<()> {
    match setsockopt(fd, libc::SO_DETACH_REUSEPORT_BPF, &0i32) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

const BPF_LD: u16 = 0x00;
const BPF_ALU: u16 = 0x04;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_MOD: u16 = 0x90;
const BPF_ADD: u16 = 0x00;
const BPF_K: u16 = 0x00;
const BPF_A: u16 = 0x10;
const SKF_AD_OFF: u32 = (-0x1000i32) as u32;
const SKF_AD_RANDOM: u32 = 56;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn setsockopt<T>(fd: RawFd, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: setsockopt reads `size_of::<T>()` bytes at `value`, which lives for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Connections waiting in a listening socket's accept queue (TCP_INFO's `tcpi_unacked`, which
/// a listener reports as its backlog).
pub fn queued(fd: RawFd) -> usize {
    // SAFETY: tcp_info is plain data; all-zero is valid.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which lives for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        info.tcpi_unacked as usize
    } else {
        0
    }
}

/// One connection from the queue without waiting (the socket is made non-blocking first);
/// `Ok(None)` when the queue is empty.
pub fn accept_now(fd: RawFd) -> io::Result<Option<(std::net::TcpStream, SocketAddr)>> {
    let Some(conn) = accept_fd_now(fd)? else {
        return Ok(None);
    };
    let stream = std::net::TcpStream::from(conn);
    let peer = stream.peer_addr()?;
    Ok(Some((stream, peer)))
}

/// One connection's descriptor from a listening socket's queue (TCP or Unix) without waiting;
/// `Ok(None)` when the queue is empty.
pub fn accept_fd_now(fd: RawFd) -> io::Result<Option<std::os::fd::OwnedFd>> {
    let mut on: libc::c_int = 1;
    // SAFETY: FIONBIO reads an int at `on`, which lives for the call.
    if unsafe { libc::ioctl(fd, libc::FIONBIO, &mut on) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: accept4 with null address pointers only returns a new fd.
    let conn = unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    if conn < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(None),
            _ => Err(e),
        };
    }
    use std::os::fd::FromRawFd;
    // SAFETY: accept4 just returned this fd and nothing else owns it.
    Ok(Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(conn) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_group_of_one_address() {
        let a = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        a.set_reuse_port(true).unwrap();
        a.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        a.listen(8).unwrap();
        let addr = a.local_addr().unwrap().as_socket().unwrap();
        assert_eq!(group_size(addr).unwrap(), 1);
        let b = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        b.set_reuse_port(true).unwrap();
        b.bind(&addr.into()).unwrap();
        b.listen(8).unwrap();
        assert_eq!(group_size(addr).unwrap(), 2);
        use std::os::fd::AsRawFd;
        // The newer socket gets every connection once the program points at index 1.
        steer_to(a.as_raw_fd(), 1, 1).unwrap();
        let clients: Vec<_> = (0..8)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!((queued(a.as_raw_fd()), queued(b.as_raw_fd())), (0, 8));
        let mut n = 0;
        while accept_now(b.as_raw_fd()).unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, 8);
        assert!(accept_now(a.as_raw_fd()).unwrap().is_none());
        unsteer(a.as_raw_fd()).unwrap();
        unsteer(a.as_raw_fd()).unwrap();
        drop(clients);
        drop(b);
        assert_eq!(group_size(addr).unwrap(), 1);
    }
}
