//! How many sockets listen on an address in this network namespace — the size of its
//! SO_REUSEPORT group (steer.rs) — asked of the kernel with a sock_diag dump of listening TCP
//! sockets (NETLINK_SOCK_DIAG, as `ss -lt` does). A dump restricted to the LISTEN state walks
//! only the listening hash, so it stays cheap with many connections open or in TIME_WAIT, where
//! reading /proc/net/tcp would take seconds.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 0x2;
const NLMSG_DONE: u16 = 0x3;
const TCP_LISTEN: u32 = 10;

#[repr(C)]
#[derive(Clone, Copy)]
struct NlMsgHdr {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

/// `struct inet_diag_sockid`: ports and addresses in network byte order.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockId {
    sport: [u8; 2],
    dport: [u8; 2],
    src: [u8; 16],
    dst: [u8; 16],
    interface: u32,
    cookie: [u32; 2],
}

/// `struct inet_diag_req_v2`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Request {
    hdr: NlMsgHdr,
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: SockId,
}

/// The head of `struct inet_diag_msg`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Reply {
    family: u8,
    state: u8,
    timer: u8,
    retrans: u8,
    id: SockId,
}

/// Listening TCP sockets bound to exactly `addr`.
pub fn listening_on(addr: SocketAddr) -> io::Result<usize> {
    // SAFETY: socket(2) with constant arguments; the result is checked and owned right below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket(2) just returned this fd and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: Request is plain data; all-zero is valid.
    let mut req: Request = unsafe { std::mem::zeroed() };
    req.hdr = NlMsgHdr {
        len: std::mem::size_of::<Request>() as u32,
        kind: SOCK_DIAG_BY_FAMILY,
        flags: NLM_F_REQUEST | NLM_F_DUMP,
        seq: 1,
        pid: 0,
    };
    req.family = family as u8;
    req.protocol = libc::IPPROTO_TCP as u8;
    req.states = 1 << TCP_LISTEN;
    // SAFETY: send reads `size_of::<Request>()` bytes of `req`, which lives for the call.
    let sent = unsafe {
        libc::send(
            sock.as_raw_fd(),
            (&req as *const Request).cast(),
            std::mem::size_of::<Request>(),
            0,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let (port, ip) = (addr.port().to_be_bytes(), ip_bytes(addr.ip()));
    let mut count = 0;
    let mut buf = vec![0u64; 4096];
    loop {
        // SAFETY: recv writes at most the buffer's length into it.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len() * 8, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the buffer holds `n` initialized bytes (u64 words, so aligned for headers).
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize) };
        let mut off = 0;
        while off + std::mem::size_of::<NlMsgHdr>() <= bytes.len() {
            let hdr: NlMsgHdr = read(&bytes[off..]);
            match hdr.kind {
                NLMSG_DONE => return Ok(count),
                NLMSG_ERROR => {
                    let errno: i32 = read(&bytes[off + std::mem::size_of::<NlMsgHdr>()..]);
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                SOCK_DIAG_BY_FAMILY => {
                    let r: Reply = read(&bytes[off + std::mem::size_of::<NlMsgHdr>()..]);
                    let len = if r.family == libc::AF_INET as u8 {
                        4
                    } else {
                        16
                    };
                    if r.id.sport == port && r.id.src[..len] == ip[..len] {
                        count += 1;
                    }
                }
                _ => {}
            }
            if hdr.len == 0 {
                break;
            }
            off += (hdr.len as usize).next_multiple_of(4);
        }
    }
}

fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match ip {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out.copy_from_slice(&a.octets()),
    }
    out
}

/// A plain-data struct read from the front of `bytes` (zero-filled if they run short).
fn read<T: Copy>(bytes: &[u8]) -> T {
    let mut out = std::mem::MaybeUninit::<T>::zeroed();
    let n = bytes.len().min(std::mem::size_of::<T>());
    // SAFETY: copies `n <= size_of::<T>()` bytes into `out`, which was zeroed; every T used
    // here is plain integers, valid for any bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.as_mut_ptr().cast::<u8>(), n);
        out.assume_init()
    }
}
