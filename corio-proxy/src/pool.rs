//! Per-worker pools of copy buffers and splice pipes. A direction of a pair takes one only
//! while bytes are in flight (from the read that found them until the write that delivered
//! them) and gives it back at once, so an idle pair holds neither. The pools live in
//! thread-locals: each worker is one thread, and nothing here crosses threads.

use corio::pipe::Pipe;
use std::cell::{Cell, RefCell};
use std::io;

/// Bytes per copy buffer: one read's worth, the most a direction holds in user space.
pub const BUF_SIZE: usize = 16 << 10;
/// Idle buffers a worker keeps for reuse (4 MiB); more are freed when given back.
const MAX_POOLED_BUFS: usize = 256;
/// Idle pipes a worker keeps for reuse (two fds each).
const MAX_POOLED_PIPES: usize = 64;

thread_local! {
    static BUFS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static PIPES: RefCell<Vec<Pipe>> = const { RefCell::new(Vec::new()) };
    static BUFS_OUT: Cell<u64> = const { Cell::new(0) };
    static PIPES_OUT: Cell<u64> = const { Cell::new(0) };
}

/// This worker's pool gauges, for /metrics.
#[derive(Debug, Default, Clone, Copy)]
pub struct PoolStats {
    pub buffers_in_use: u64,
    pub buffers_pooled: u64,
    pub pipes_in_use: u64,
    pub pipes_pooled: u64,
}

/// Counts one buffer or pipe out of the pool while it lives: dropped with the copy that held
/// it, even when the buffer itself went with a cancelled operation (which frees it later).
pub struct Lease {
    pipe: bool,
}

impl Lease {
    fn new(pipe: bool) -> Lease {
        let out = if pipe { &PIPES_OUT } else { &BUFS_OUT };
        out.with(|n| n.set(n.get() + 1));
        Lease { pipe }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let out = if self.pipe { &PIPES_OUT } else { &BUFS_OUT };
        out.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// An empty buffer of `BUF_SIZE` capacity, and its lease.
pub fn take_buf() -> (Vec<u8>, Lease) {
    let buf = BUFS
        .with(|b| b.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE));
    (buf, Lease::new(false))
}

/// Gives a buffer back (kept for reuse, or freed when the pool is full).
pub fn put_buf(mut buf: Vec<u8>, lease: Lease) {
    drop(lease);
    buf.clear();
    BUFS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < MAX_POOLED_BUFS && buf.capacity() == BUF_SIZE {
            b.push(buf);
        }
    });
}

/// An empty pipe, and its lease.
pub fn take_pipe() -> io::Result<(Pipe, Lease)> {
    let pipe = match PIPES.with(|p| p.borrow_mut().pop()) {
        Some(p) => p,
        None => Pipe::new()?,
    };
    Ok((pipe, Lease::new(true)))
}

/// Gives a pipe back; one that still holds bytes (a pair that failed mid-copy) is closed
/// instead, with its bytes.
pub fn put_pipe(pipe: Pipe, lease: Lease) {
    drop(lease);
    if !pipe.is_empty() {
        return;
    }
    PIPES.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < MAX_POOLED_PIPES {
            p.push(pipe);
        }
    });
}

/// This worker's gauges.
pub fn stats() -> PoolStats {
    PoolStats {
        buffers_in_use: BUFS_OUT.with(Cell::get),
        buffers_pooled: BUFS.with(|b| b.borrow().len() as u64),
        pipes_in_use: PIPES_OUT.with(Cell::get),
        pipes_pooled: PIPES.with(|p| p.borrow().len() as u64),
    }
}
