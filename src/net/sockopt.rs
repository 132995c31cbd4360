//! Socket options by fd: the setsockopt/getsockopt calls behind the option methods of
//! `TcpSocket`, `TcpStream` and `TcpListener` (one function per option, written once).

use crate::net::socket::{get_opt, set_opt};
use crate::sys::syscall;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// TCP keepalive settings: probe after `time` idle, every `interval`, give up after
/// `retries` unanswered probes. `None` leaves the kernel's default (sysctl `net.ipv4.tcp_keepalive_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpKeepalive {
    time: Option<Duration>,
    interval: Option<Duration>,
    retries: Option<u32>,
}

impl TcpKeepalive {
    /// Keepalive with the kernel's default timings.
    pub const fn new() -> Self {
        TcpKeepalive {
            time: None,
            interval: None,
            retries: None,
        }
    }

    /// Idle time before the first probe (TCP_KEEPIDLE; whole seconds, at least 1).
    pub const fn with_time(self, time: Duration) -> Self {
        TcpKeepalive {
            time: Some(time),
            ..self
        }
    }

    /// Time between probes (TCP_KEEPINTVL; whole seconds, at least 1).
    pub const fn with_interval(self, interval: Duration) -> Self {
        TcpKeepalive {
            interval: Some(interval),
            ..self
        }
    }

    /// Unanswered probes before the connection is dropped (TCP_KEEPCNT).
    pub const fn with_retries(self, retries: u32) -> Self {
        TcpKeepalive {
            retries: Some(retries),
            ..self
        }
    }
}

fn secs(d: Duration) -> io::Result<i32> {
    i32::try_from(d.as_secs().max(1)).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "duration too long for a socket option",
        )
    })
}

fn bool_opt(fd: RawFd, level: i32, name: i32) -> io::Result<bool> {
    get_opt(fd, level, name).map(|v| v != 0)
}

pub(crate) fn set_reuseaddr(fd: RawFd, on: bool) -> io::Result<()> {
    set_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, on as i32)
}

pub(crate) fn reuseaddr(fd: RawFd) -> io::Result<bool> {
    bool_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR)
}

pub(crate) fn set_reuseport(fd: RawFd, on: bool) -> io::Result<()> {
    set_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, on as i32)
}

pub(crate) fn reuseport(fd: RawFd) -> io::Result<bool> {
    bool_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT)
}

pub(crate) fn set_nodelay(fd: RawFd, on: bool) -> io::Result<()> {
    set_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, on as i32)
}

pub(crate) fn nodelay(fd: RawFd) -> io::Result<bool> {
    bool_opt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY)
}

/// SO_KEEPALIVE on with `ka`'s timings, or off for `None`.
pub(crate) fn set_keepalive(fd: RawFd, ka: Option<&TcpKeepalive>) -> io::Result<()> {
    let Some(ka) = ka else {
        return set_opt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 0);
    };
    if let Some(t) = ka.time {
        set_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(t)?)?;
    }
    if let Some(t) = ka.interval {
        set_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs(t)?)?;
    }
    if let Some(n) = ka.retries {
        let n = i32::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        set_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, n)?;
    }
    set_opt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)
}

/// SO_KEEPALIVE and, when on, the timings in force.
pub(crate) fn keepalive(fd: RawFd) -> io::Result<Option<TcpKeepalive>> {
    if !bool_opt(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE)? {
        return Ok(None);
    }
    let s = |name| get_opt(fd, libc::IPPROTO_TCP, name).map(|v| Duration::from_secs(v as u64));
    Ok(Some(TcpKeepalive {
        time: Some(s(libc::TCP_KEEPIDLE)?),
        interval: Some(s(libc::TCP_KEEPINTVL)?),
        retries: Some(get_opt(fd, libc::IPPROTO_TCP, libc::TCP_KEEPCNT)? as u32),
    }))
}

/// SO_LINGER: `Some(d)` makes close wait up to `d` for unsent data (`Some(ZERO)`: close
/// sends RST); `None` is the default (close returns at once, the kernel sends in background).
pub(crate) fn set_linger(fd: RawFd, linger: Option<Duration>) -> io::Result<()> {
    let l = libc::linger {
        l_onoff: linger.is_some() as i32,
        l_linger: match linger {
            Some(d) => i32::try_from(d.as_secs()).unwrap_or(i32::MAX),
            None => 0,
        },
    };
    syscall!(setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        (&l as *const libc::linger).cast(),
        std::mem::size_of::<libc::linger>() as libc::socklen_t
    ))
    .map(drop)
}

pub(crate) fn linger(fd: RawFd) -> io::Result<Option<Duration>> {
    let mut l = libc::linger {
        l_onoff: 0,
        l_linger: 0,
    };
    let mut len = std::mem::size_of::<libc::linger>() as libc::socklen_t;
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        (&mut l as *mut libc::linger).cast(),
        &mut len
    ))?;
    Ok((l.l_onoff != 0).then(|| Duration::from_secs(l.l_linger as u64)))
}

fn size(n: usize) -> io::Result<i32> {
    i32::try_from(n)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "buffer size too large"))
}

/// SO_SNDBUF (the kernel doubles the value for its bookkeeping and reports the doubled one).
pub(crate) fn set_send_buffer_size(fd: RawFd, n: usize) -> io::Result<()> {
    set_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, size(n)?)
}

pub(crate) fn send_buffer_size(fd: RawFd) -> io::Result<usize> {
    get_opt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF).map(|v| v as usize)
}

/// SO_RCVBUF (doubled by the kernel, like SO_SNDBUF).
pub(crate) fn set_recv_buffer_size(fd: RawFd, n: usize) -> io::Result<()> {
    set_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, size(n)?)
}

pub(crate) fn recv_buffer_size(fd: RawFd) -> io::Result<usize> {
    get_opt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF).map(|v| v as usize)
}

/// IP_TTL, or IPV6_UNICAST_HOPS on an IPv6 socket.
pub(crate) fn set_ttl(fd: RawFd, ttl: u32) -> io::Result<()> {
    let ttl = i32::try_from(ttl).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    match family(fd)? {
        libc::AF_INET6 => set_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, ttl),
        _ => set_opt(fd, libc::IPPROTO_IP, libc::IP_TTL, ttl),
    }
}

pub(crate) fn ttl(fd: RawFd) -> io::Result<u32> {
    match family(fd)? {
        libc::AF_INET6 => get_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
        _ => get_opt(fd, libc::IPPROTO_IP, libc::IP_TTL),
    }
    .map(|v| v as u32)
}

/// IP_TOS, or IPV6_TCLASS on an IPv6 socket (the DSCP and ECN bits).
pub(crate) fn set_tos(fd: RawFd, tos: u32) -> io::Result<()> {
    let tos = i32::try_from(tos).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    match family(fd)? {
        libc::AF_INET6 => set_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, tos),
        _ => set_opt(fd, libc::IPPROTO_IP, libc::IP_TOS, tos),
    }
}

pub(crate) fn tos(fd: RawFd) -> io::Result<u32> {
    match family(fd)? {
        libc::AF_INET6 => get_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
        _ => get_opt(fd, libc::IPPROTO_IP, libc::IP_TOS),
    }
    .map(|v| v as u32)
}

/// IPV6_V6ONLY (before bind): accept IPv6 only, or IPv4-mapped addresses too.
pub(crate) fn set_only_v6(fd: RawFd, on: bool) -> io::Result<()> {
    set_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, on as i32)
}

pub(crate) fn only_v6(fd: RawFd) -> io::Result<bool> {
    bool_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)
}

/// SO_BINDTODEVICE: only traffic of interface `name` (`None` removes the binding). Needs
/// CAP_NET_RAW unless unbinding.
pub(crate) fn bind_device(fd: RawFd, name: Option<&[u8]>) -> io::Result<()> {
    let name = name.unwrap_or(&[]);
    if name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an interface name",
        ));
    }
    syscall!(setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_BINDTODEVICE,
        name.as_ptr().cast(),
        name.len() as libc::socklen_t
    ))
    .map(drop)
}

pub(crate) fn device(fd: RawFd) -> io::Result<Option<Vec<u8>>> {
    let mut buf = [0u8; libc::IFNAMSIZ];
    let mut len = buf.len() as libc::socklen_t;
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_BINDTODEVICE,
        buf.as_mut_ptr().cast(),
        &mut len
    ))?;
    let name: Vec<u8> = buf[..len as usize]
        .iter()
        .copied()
        .take_while(|b| *b != 0)
        .collect();
    Ok((!name.is_empty()).then_some(name))
}

/// TCP_QUICKACK: acknowledge at once rather than delay (the kernel may turn it off again
/// by itself; set it after each read where it matters).
pub(crate) fn set_quickack(fd: RawFd, on: bool) -> io::Result<()> {
    set_opt(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, on as i32)
}

pub(crate) fn quickack(fd: RawFd) -> io::Result<bool> {
    bool_opt(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK)
}

/// TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before the connection is
/// dropped (`None`: the kernel's default).
pub(crate) fn set_user_timeout(fd: RawFd, t: Option<Duration>) -> io::Result<()> {
    let ms = match t {
        Some(d) => i32::try_from(d.as_millis()).unwrap_or(i32::MAX),
        None => 0,
    };
    set_opt(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms)
}

pub(crate) fn user_timeout(fd: RawFd) -> io::Result<Option<Duration>> {
    let ms = get_opt(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT)?;
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// The socket's address family (SO_DOMAIN).
fn family(fd: RawFd) -> io::Result<i32> {
    get_opt(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)
}
