//! The bare completion loop: the io-uring crate, one thread, no runtime. The floor of the
//! completion model that corio's io_uring driver and monoio are measured against.
//!
//! The loop: one multishot ACCEPT on the listener; per connection exactly one operation in
//! flight — a RECV into the connection's 16 KiB buffer, then a SEND of what arrived
//! (resubmitting the rest after a short send), then the next RECV — so bytes keep their order
//! and a connection never holds more than its one buffer. Every SQE prepared while handling a
//! batch of CQEs goes straight into the submission queue and reaches the kernel in the next
//! `io_uring_enter`, which also waits for the next completion (`submit_and_wait(1)`). The ring
//! is set up with SINGLE_ISSUER, COOP_TASKRUN and DEFER_TASKRUN where the kernel accepts them.
//!
//! Measured and rejected: multishot RECV over a ring of provided buffers (1024 × 16 KiB,
//! IOSQE_BUFFER_SELECT, at most one SEND in flight per connection, later chunks queued), and
//! plain RECV with IORING_RECVSEND_POLL_FIRST. Server saturated on one core (kernel 6.18,
//! 16-core VM): `taskset -c 2 corio-bench serve echo --server raw-uring --addr A` and four
//! `taskset -c 4..7 corio-bench load --addr A --conns 50 --depth D --secs 3 --warmup 0`;
//! server CPU (getrusage delta between two SIGUSR1 lines) per echoed request, three runs each:
//!
//! | µs/request      | depth 1          | depth 16             |
//! |-----------------|------------------|----------------------|
//! | plain RECV      | 6.40 5.98 6.67   | 0.409 0.311 0.326    |
//! | RECV POLL_FIRST | 5.85 6.36 7.43   | 0.387 0.345 0.449    |
//! | multishot RECV  | 7.08 5.88 6.20   | 0.416 0.379 0.424    |
//!
//! Multishot saves the RECV SQE but makes every receive go through a poll wake-up and task
//! work, where a plain RECV submitted under load usually finds data waiting and completes
//! inline; the differences are within run-to-run noise (about ±10%) and the plain loop is the
//! simpler, so it stays.
//!
//! Ownership (what makes the unsafe code sound): a connection's buffer and fd live in its slab
//! entry, and the entry is removed only when the CQE of its one in-flight operation has arrived
//! (an error or EOF result), so the kernel never writes into or reads from freed memory and a
//! late CQE never meets a reused key.

use super::ring::{build_ring, Sq};
use crate::servers::contract::{Counters, Worker, BUF_SIZE};
use io_uring::{cqueue, opcode, squeue, types};
use slab::Slab;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Operation kinds, the low two bits of `user_data`; the connection key is above them.
const ACCEPT: u64 = 0;
const RECV: u64 = 1;
const SEND: u64 = 2;
const BACKOFF: u64 = 3;

/// How long to wait before re-arming ACCEPT after EMFILE/ENFILE, rather than spin (10 ms).
static BACKOFF_TS: types::Timespec = types::Timespec::new().nsec(10_000_000);

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

fn accept_sqe(lfd: RawFd) -> squeue::Entry {
    opcode::AcceptMulti::new(types::Fd(lfd))
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(token(0, ACCEPT))
}

fn recv_sqe(conn: &mut Conn, key: usize) -> squeue::Entry {
    opcode::Recv::new(
        types::Fd(conn.fd),
        conn.buf.as_mut_ptr(),
        conn.buf.len() as u32,
    )
    .build()
    .user_data(token(key, RECV))
}

fn send_sqe(conn: &Conn, key: usize) -> squeue::Entry {
    let rest = &conn.buf[conn.sent..conn.len];
    opcode::Send::new(types::Fd(conn.fd), rest.as_ptr(), rest.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(token(key, SEND))
}

pub(super) fn run(w: Worker) -> io::Result<()> {
    let Worker {
        listener,
        counters,
        mut ready,
        ..
    } = w;
    let lfd = listener.as_raw_fd();
    let mut ring = build_ring()?;
    let (submitter, sq, mut cq) = ring.split();
    let mut l = Loop {
        sq: Sq::new(submitter, sq),
        conns: Slab::new(),
        lfd,
        counters,
    };
    let mut completions = 0u64;
    // SAFETY: a multishot ACCEPT points to no memory of ours.
    unsafe { l.sq.push(&accept_sqe(lfd)) }?;
    ready.up(None);
    loop {
        l.sq.submit_and_wait()?;
        cq.sync();
        for cqe in &mut cq {
            completions += 1;
            l.on_cqe(&cqe)?;
        }
        // Publish the consumed CQ head now: the kernel's wait in the next enter counts the
        // CQEs it still sees, and a stale head would make it return at once (an extra enter).
        cq.sync();
        l.counters.enters.store(l.sq.enters, Ordering::Relaxed);
        l.counters.ops_submitted.store(l.sq.ops, Ordering::Relaxed);
        l.counters.completions.store(completions, Ordering::Relaxed);
    }
}

/// The loop's state between CQEs.
struct Loop<'a> {
    sq: Sq<'a>,
    conns: Slab<Conn>,
    lfd: RawFd,
    counters: Arc<Counters>,
}

impl Loop<'_> {
    fn on_cqe(&mut self, cqe: &cqueue::Entry) -> io::Result<()> {
        let ud = cqe.user_data();
        let (key, op, res) = ((ud >> 2) as usize, ud & 3, cqe.result());
        match op {
            ACCEPT => self.on_accept(res, cqe.flags()),
            // SAFETY: a multishot ACCEPT points to no memory of ours.
            BACKOFF => unsafe { self.sq.push(&accept_sqe(self.lfd)) },
            RECV | SEND => self.on_io(key, op, res),
            _ => unreachable!("user_data {ud:#x}: op is two bits"),
        }
    }

    fn on_accept(&mut self, res: i32, flags: u32) -> io::Result<()> {
        if !cqueue::more(flags) {
            let sqe = if res == -libc::EMFILE || res == -libc::ENFILE {
                opcode::Timeout::new(&BACKOFF_TS)
                    .build()
                    .user_data(token(0, BACKOFF))
            } else {
                accept_sqe(self.lfd)
            };
            // SAFETY: ACCEPT points to no memory; BACKOFF_TS is a static.
            unsafe { self.sq.push(&sqe) }?;
        }
        if res < 0 {
            return Ok(());
        }
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        // TCP_NODELAY is inherited from the listener (Linux copies it on accept).
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let conn = entry.insert(Conn {
            fd: res,
            buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            sent: 0,
            len: 0,
        });
        // SAFETY: the buffer lives in the slab entry until this RECV's CQE.
        unsafe { self.sq.push(&recv_sqe(conn, key)) }
    }

    fn on_io(&mut self, key: usize, op: u64, res: i32) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(key) else {
            unreachable!("CQE {op} for free slot {key}: its entry left too early");
        };
        // RECV: 0 is EOF; either: a negative result is an error for this connection only.
        if res < 0 || (op == RECV && res == 0) {
            close(self.conns.remove(key).fd);
            return Ok(());
        }
        let sqe = if op == RECV {
            conn.sent = 0;
            conn.len = res as usize;
            send_sqe(conn, key)
        } else {
            conn.sent += res as usize;
            if conn.sent < conn.len {
                send_sqe(conn, key) // a short send: the rest
            } else {
                recv_sqe(conn, key)
            }
        };
        // SAFETY: the buffer lives in the slab entry until this operation's CQE.
        unsafe { self.sq.push(&sqe) }
    }
}

fn close(fd: RawFd) {
    // SAFETY: the connection owned this fd and its only operation has completed.
    // No EINTR retry on close(2): Linux releases the fd even then.
    unsafe { libc::close(fd) };
}
