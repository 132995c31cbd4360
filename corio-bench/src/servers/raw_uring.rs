//! The bare completion loop: the io-uring crate, one thread, no runtime. The floor of the
//! completion model that corio's io_uring driver and monoio are measured against.
//!
//! The loop: multishot accept; per connection exactly one operation in flight — a RECV into
//! the connection's 16 KiB buffer, then a SEND of what arrived (resubmitting the rest after a
//! short send), then the next RECV — so bytes keep their order; every SQE prepared while
//! handling one batch of CQEs reaches the kernel in the next `io_uring_enter`, which also waits
//! for the next completion (submit_and_wait(1)). The ring is set up with SINGLE_ISSUER,
//! COOP_TASKRUN and DEFER_TASKRUN where the kernel accepts them.
//!
//! Not used (yet): multishot RECV over a provided buffer ring, which would save one SQE per
//! request; see docs/benchmarks.md for what was measured.

use super::{Counters, BUF_SIZE};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use slab::Slab;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

const ACCEPT: u64 = 0;
const RECV: u64 = 1;
const SEND: u64 = 2;

struct Conn {
    fd: RawFd,
    buf: Box<[u8]>,
    /// While sending: bytes `sent..len` of `buf` are still to go.
    sent: usize,
    len: usize,
}

fn token(key: usize, op: u64) -> u64 {
    (key as u64) << 2 | op
}

fn build_ring() -> io::Result<IoUring> {
    for flags in (0..=3).rev() {
        let mut b = IoUring::builder();
        if flags >= 1 {
            b.setup_single_issuer();
        }
        if flags >= 2 {
            b.setup_coop_taskrun();
        }
        if flags >= 3 {
            b.setup_defer_taskrun();
        }
        match b.build(4096) {
            Ok(ring) => return Ok(ring),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && flags > 0 => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the loop returns on flags == 0")
}

pub fn run(listener: std::net::TcpListener, counters: Arc<Counters>) -> io::Result<()> {
    let lfd = listener.as_raw_fd();
    let mut ring = build_ring()?;
    let mut conns: Slab<Conn> = Slab::new();
    let (mut enters, mut ops, mut completions) = (0u64, 0u64, 0u64);
    let mut pending: Vec<squeue::Entry> = Vec::with_capacity(1024);
    pending.push(
        opcode::AcceptMulti::new(types::Fd(lfd))
            .build()
            .user_data(token(0, ACCEPT)),
    );
    loop {
        ops += pending.len() as u64;
        for sqe in pending.drain(..) {
            // SAFETY: every SQE points into a connection's boxed buffer, which stays in the
            // slab until that connection's single in-flight operation has completed.
            while unsafe { ring.submission().push(&sqe) }.is_err() {
                ring.submit()?;
                enters += 1;
            }
        }
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN | libc::ETIME)
                ) => {}
            Err(e) => return Err(e),
        }
        enters += 1;
        let cqes: Vec<cqueue::Entry> = ring.completion().collect();
        completions += cqes.len() as u64;
        for cqe in cqes {
            let ud = cqe.user_data();
            let (key, op) = ((ud >> 2) as usize, ud & 3);
            let res = cqe.result();
            match op {
                ACCEPT => {
                    if !cqueue::more(cqe.flags()) {
                        // The multishot accept ended (e.g. an error): re-arm it.
                        pending.push(
                            opcode::AcceptMulti::new(types::Fd(lfd))
                                .build()
                                .user_data(token(0, ACCEPT)),
                        );
                    }
                    if res < 0 {
                        continue;
                    }
                    counters.accepted.fetch_add(1, Ordering::Relaxed);
                    let _ = super::setsockopt(res, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
                    let mut conn = Conn {
                        fd: res,
                        buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
                        sent: 0,
                        len: 0,
                    };
                    let entry = conns.vacant_entry();
                    pending.push(recv(&mut conn, entry.key()));
                    entry.insert(conn);
                }
                RECV => {
                    let Some(conn) = conns.get_mut(key) else {
                        continue;
                    };
                    if res <= 0 {
                        close(conns.remove(key).fd);
                        continue;
                    }
                    conn.sent = 0;
                    conn.len = res as usize;
                    pending.push(send(conn, key));
                }
                _ => {
                    let Some(conn) = conns.get_mut(key) else {
                        continue;
                    };
                    if res < 0 {
                        close(conns.remove(key).fd);
                        continue;
                    }
                    conn.sent += res as usize;
                    pending.push(if conn.sent < conn.len {
                        send(conn, key)
                    } else {
                        recv(conn, key)
                    });
                }
            }
        }
        counters.enters.store(enters, Ordering::Relaxed);
        counters.ops_submitted.store(ops, Ordering::Relaxed);
        counters.completions.store(completions, Ordering::Relaxed);
    }
}

fn recv(conn: &mut Conn, key: usize) -> squeue::Entry {
    opcode::Recv::new(
        types::Fd(conn.fd),
        conn.buf.as_mut_ptr(),
        conn.buf.len() as u32,
    )
    .build()
    .user_data(token(key, RECV))
}

fn send(conn: &mut Conn, key: usize) -> squeue::Entry {
    let rest = &conn.buf[conn.sent..conn.len];
    opcode::Send::new(types::Fd(conn.fd), rest.as_ptr(), rest.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(token(key, SEND))
}

fn close(fd: RawFd) {
    // SAFETY: the connection owned this fd, and its only operation has completed.
    unsafe { libc::close(fd) };
}
