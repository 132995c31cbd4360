//! The bare readiness loop: libc epoll, one thread, no runtime. Edge-triggered registration
//! once per connection (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET), then for each event: write
//! what is pending, then read and echo until the socket is drained. This is the floor of the
//! readiness model that corio's epoll driver and tokio are measured against.
//!
//! "Drained" is EAGAIN, or a read shorter than the buffer: a stream socket's recv returns less
//! than asked only when its queue is empty, and data that arrives afterwards raises a new edge.
//! That saves the EAGAIN read per request (tokio's `PollEvented` clears readiness on a short
//! read the same way), taking it from 3 to 2 I/O syscalls per echo. The exception is an event
//! that already reported the peer's FIN (EPOLLRDHUP/EPOLLHUP/EPOLLERR): its edge is spent, so
//! that connection reads until the 0 or the error. Measured with the server saturated on one
//! core (four `corio-bench load --conns 50` on other cores, 16-core VM, kernel 6.18): 7.7 µs of
//! server CPU per echo reading until EAGAIN, 6.1-6.8 with the short-read rule (tokio: 6.4-7.2).

use crate::servers::contract::{Counters, Worker, BUF_SIZE};
use slab::Slab;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;

const LISTENER: u64 = u64::MAX;

struct Conn {
    fd: RawFd,
    buf: Box<[u8]>,
    /// Bytes `start..end` of `buf` are read and not yet written back.
    start: usize,
    end: usize,
}

pub(super) fn run(w: Worker) -> io::Result<()> {
    let Worker {
        listener,
        counters,
        mut ready,
        ..
    } = w;
    listener.set_nonblocking(true)?;
    let lfd = listener.as_raw_fd();
    // SAFETY: plain epoll_create1; the fd is closed when this function returns (process exit).
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    ctl_add(ep, lfd, (libc::EPOLLIN | libc::EPOLLET) as u32, LISTENER)?;
    let mut conns: Slab<Conn> = Slab::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let (mut waits, mut syscalls) = (0u64, 0u64);
    ready.up(None);
    loop {
        // SAFETY: the kernel writes at most `events.len()` entries into the Vec.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        waits += 1;
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let token = ev.u64;
            if token == LISTENER {
                accept_all(ep, lfd, &mut conns, &counters, &mut syscalls);
                continue;
            }
            let key = token as usize;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            let hup = ev.events & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0;
            if !serve(conn, hup, &mut syscalls) {
                // Closing the fd removes it from the epoll set.
                close(conns.remove(key).fd);
            }
        }
        counters.epoll_waits.store(waits, Ordering::Relaxed);
        counters.io_syscalls.store(syscalls, Ordering::Relaxed);
    }
}

/// Accepts until the listener is drained, registering each connection once.
fn accept_all(
    ep: RawFd,
    lfd: RawFd,
    conns: &mut Slab<Conn>,
    counters: &Counters,
    syscalls: &mut u64,
) {
    loop {
        // SAFETY: accept4 with null address pointers.
        let fd = unsafe {
            libc::accept4(
                lfd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        *syscalls += 1;
        if fd < 0 {
            match io::Error::last_os_error().raw_os_error() {
                // The peer gave up before we accepted it; the next one may be there.
                Some(libc::ECONNABORTED | libc::EINTR) => continue,
                // EAGAIN: drained. EMFILE/ENFILE and the like: the next edge (a new
                // connection) retries.
                _ => return,
            }
        }
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        // TCP_NODELAY is inherited from the listener (Linux copies it on accept).
        let key = conns.insert(Conn {
            fd,
            buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
        });
        let flags = libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
        if ctl_add(ep, fd, flags as u32, key as u64).is_err() {
            close(conns.remove(key).fd);
        }
    }
}

/// Writes what is pending, then reads and echoes until drained (see the module docs); `hup`:
/// the event reported the peer's FIN or an error. False: close the connection.
fn serve(c: &mut Conn, hup: bool, syscalls: &mut u64) -> bool {
    let mut drained = false;
    loop {
        while c.start < c.end {
            // SAFETY: `start..end` is inside `buf`, which lives for the call.
            let n = unsafe {
                libc::send(
                    c.fd,
                    c.buf[c.start..].as_ptr().cast(),
                    c.end - c.start,
                    libc::MSG_NOSIGNAL,
                )
            };
            *syscalls += 1;
            if n < 0 {
                // EAGAIN: EPOLLOUT will bring us back; anything else: close.
                return would_block();
            }
            c.start += n as usize;
        }
        if drained {
            return true;
        }
        // SAFETY: reads into `buf`, which lives for the call.
        let n = unsafe { libc::recv(c.fd, c.buf.as_mut_ptr().cast(), c.buf.len(), 0) };
        *syscalls += 1;
        match n {
            0 => return false,
            n if n < 0 => return would_block(),
            n => {
                c.start = 0;
                c.end = n as usize;
                drained = c.end < c.buf.len() && !hup;
            }
        }
    }
}

fn would_block() -> bool {
    let e = io::Error::last_os_error();
    e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted
}

fn ctl_add(ep: RawFd, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: epoll_ctl reads `ev`, which lives for the call.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn close(fd: RawFd) {
    // SAFETY: the connection owned this fd and is gone.
    unsafe { libc::close(fd) };
}
