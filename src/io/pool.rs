//! Per-thread pools of copy buffers and splice pipes. A copy direction takes one only while
//! bytes are in flight and gives it back at once, so an idle connection holds neither. Each
//! executor is one thread, so the pools are thread-locals and nothing here crosses threads.

use crate::net::BufRing;
use crate::pipe::Pipe;
use std::cell::{Cell, RefCell};
use std::io;

/// Idle buffers a thread keeps for reuse; more are freed when given back.
const MAX_POOLED_BUFS: usize = 256;
/// Idle pipes a thread keeps for reuse (two fds each).
const MAX_POOLED_PIPES: usize = 64;

/// Buffers in a copy ring (`copy_ring`): the most bytes the pooled copies of one executor
/// hold in user space at once, 4 MiB at the default size (the ring's memory is touched only
/// as buffers are used; past that, reads use buffers of their own).
const COPY_RING_BUFS: u16 = 256;

thread_local! {
    /// The provided-buffer rings of this thread's executor for pooled copies, one per buffer
    /// size.
    static RINGS: RefCell<Vec<BufRing>> = const { RefCell::new(Vec::new()) };
    static BUFS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static PIPES: RefCell<Vec<Pipe>> = const { RefCell::new(Vec::new()) };
    static BUFS_OUT: Cell<u64> = const { Cell::new(0) };
    static PIPES_OUT: Cell<u64> = const { Cell::new(0) };
}

/// This thread's copy pools: what is lent out and what waits for reuse.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Buffers held by copies now (including ones a cancelled operation still holds).
    pub buffers_in_use: u64,
    /// Buffers kept for reuse.
    pub buffers_pooled: u64,
    /// Pipes held by spliced copies now.
    pub pipes_in_use: u64,
    /// Pipes kept for reuse.
    pub pipes_pooled: u64,
}

/// This thread's pool gauges (the copies of this executor). Buffers count both kinds: the
/// pool's for reads after readiness, and the copy rings' for pooled reads (in use: held;
/// pooled: the rest of those ever used).
pub fn pool_stats() -> PoolStats {
    let (held, warm) = RINGS.with(|r| {
        r.borrow().iter().fold((0, 0), |(h, w), ring| {
            (h + u64::from(ring.held()), w + u64::from(ring.warm()))
        })
    });
    PoolStats {
        buffers_in_use: BUFS_OUT.with(Cell::get) + held,
        buffers_pooled: BUFS.with(|b| b.borrow().len() as u64) + warm.saturating_sub(held),
        pipes_in_use: PIPES_OUT.with(Cell::get),
        pipes_pooled: PIPES.with(|p| p.borrow().len() as u64),
    }
}

/// Counts one buffer or pipe out of the pool while it lives: dropped with the copy that held
/// it, even when the buffer itself went with a cancelled operation (which frees it later).
pub(crate) struct Lease {
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

/// An empty buffer of `size` capacity, and its lease.
pub(crate) fn take_buf(size: usize) -> (Vec<u8>, Lease) {
    let buf = BUFS
        .with(|b| {
            let mut b = b.borrow_mut();
            match b.last() {
                Some(v) if v.capacity() == size => b.pop(),
                _ => None,
            }
        })
        .unwrap_or_else(|| Vec::with_capacity(size));
    (buf, Lease::new(false))
}

/// Gives a buffer back (kept for reuse, or freed when the pool is full).
pub(crate) fn put_buf(mut buf: Vec<u8>, lease: Lease) {
    drop(lease);
    buf.clear();
    BUFS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < MAX_POOLED_BUFS {
            b.push(buf);
        }
    });
}

/// An empty pipe, and its lease.
pub(crate) fn take_pipe() -> io::Result<(Pipe, Lease)> {
    let pipe = match PIPES.with(|p| p.borrow_mut().pop()) {
        Some(p) => p,
        None => Pipe::new()?,
    };
    Ok((pipe, Lease::new(true)))
}

/// Gives a pipe back; one that still holds bytes (a copy that failed midway) is closed
/// instead, with its bytes.
pub(crate) fn put_pipe(pipe: Pipe, lease: Lease) {
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

/// The current executor's ring of `size`-byte buffers for pooled copies, made on first use;
/// `None` where it cannot be (a size over 4 GiB, or no memory for the mapping): the copy then
/// reads after readiness instead.
pub(crate) fn copy_ring(size: usize) -> Option<BufRing> {
    let size = u32::try_from(size).ok()?;
    RINGS.with(|r| {
        let mut rings = r.borrow_mut();
        // Rings of an executor that has gone (a runtime built and dropped on this thread).
        rings.retain(BufRing::is_here);
        if let Some(ring) = rings.iter().find(|r| r.buffer_size() == size) {
            return Some(ring.clone());
        }
        let ring = BufRing::new(COPY_RING_BUFS, size).ok()?;
        rings.push(ring.clone());
        Some(ring)
    })
}
