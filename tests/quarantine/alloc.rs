//! A poisoning, quarantining global allocator for one test binary.
//!
//! Every freed block is filled with `POISON` and held back from the system allocator in a
//! bounded FIFO (at most `SLOTS` blocks and `MAX_BYTES` bytes). When a block leaves the
//! quarantine, and whenever a test calls [`check`], the poison is verified: a changed byte means
//! something wrote into memory after it was freed — in these tests, the kernel completing a read
//! into a buffer corio released too early. Blocks stay mapped while quarantined (glibc cannot
//! unmap or reuse them), so such a write lands in poison instead of faulting or corrupting a
//! live object.
//!
//! The allocator never allocates: the quarantine is a fixed array of (pointer, layout) slots in
//! static memory behind a spin lock, held only to push or pop one slot or to scan; violations are
//! written to stderr from a stack buffer with write(2). Nothing here unwinds (a global allocator
//! must not); the report turns into a test failure in [`check`], outside the allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The byte every freed block is filled with.
pub const POISON: u8 = 0xF5;
/// Most blocks held at once.
pub const SLOTS: usize = 1 << 16;
/// Most bytes held at once; a single block larger than this is freed at once, unchecked.
pub const MAX_BYTES: usize = 256 << 20;

#[derive(Clone, Copy)]
struct Block {
    ptr: *mut u8,
    layout: Layout,
}

const EMPTY: Block = Block {
    ptr: std::ptr::null_mut(),
    layout: Layout::new::<u8>(),
};

/// The FIFO: `len` blocks from `head` on, wrapping.
struct Ring {
    blocks: [Block; SLOTS],
    head: usize,
    len: usize,
    bytes: usize,
}

/// The first write-after-free found, recorded for [`check`] to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// Address of the freed block.
    pub addr: usize,
    /// Its size in bytes.
    pub size: usize,
    /// Offset of the first byte that is no longer `POISON`.
    pub offset: usize,
    /// The byte found there.
    pub found: u8,
    /// Found when the block left the quarantine (else by a scan in `check`).
    pub at_eviction: bool,
}

/// Counters, to prove the quarantine is in use.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Blocks poisoned and quarantined.
    pub quarantined: usize,
    /// Bytes poisoned and quarantined.
    pub quarantined_bytes: usize,
    /// Blocks verified and handed back to the system.
    pub evicted: usize,
    /// Blocks held right now, and their bytes.
    pub held: usize,
    pub held_bytes: usize,
}

pub struct Quarantine {
    lock: AtomicBool,
    ring: UnsafeCell<Ring>,
    violations: AtomicUsize,
    first: UnsafeCell<Option<Violation>>,
    quarantined: AtomicUsize,
    quarantined_bytes: AtomicUsize,
    evicted: AtomicUsize,
}

// SAFETY: `ring` and `first` are only touched while `lock` is held (see `Guard`); the rest are
// atomics.
unsafe impl Sync for Quarantine {}

/// Holds the spin lock; releases it on drop.
struct Guard<'a>(&'a Quarantine);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.lock.store(false, Ordering::Release);
    }
}

impl Quarantine {
    pub const fn new() -> Quarantine {
        Quarantine {
            lock: AtomicBool::new(false),
            ring: UnsafeCell::new(Ring {
                blocks: [EMPTY; SLOTS],
                head: 0,
                len: 0,
                bytes: 0,
            }),
            violations: AtomicUsize::new(0),
            first: UnsafeCell::new(None),
            quarantined: AtomicUsize::new(0),
            quarantined_bytes: AtomicUsize::new(0),
            evicted: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> Guard<'_> {
        let mut spins = 0u32;
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                // sched_yield(2): no allocation; lets a preempted holder run on a busy machine.
                std::thread::yield_now();
            }
        }
        Guard(self)
    }

    /// Poisons `block` and queues it; hands the oldest blocks back (verified) while over the
    /// bounds.
    ///
    /// # Safety
    /// `block` was allocated by `System` with its layout and is no longer used by the program.
    unsafe fn quarantine(&self, block: Block) {
        let size = block.layout.size();
        if size > MAX_BYTES {
            // Too big to hold: freed at once, unchecked.
            // SAFETY: allocated by `System` with this layout (contract).
            unsafe { System.dealloc(block.ptr, block.layout) };
            return;
        }
        // SAFETY: the block is ours (contract): `size` writable bytes at `ptr`.
        unsafe { std::ptr::write_bytes(block.ptr, POISON, size) };
        self.quarantined.fetch_add(1, Ordering::Relaxed);
        self.quarantined_bytes.fetch_add(size, Ordering::Relaxed);
        loop {
            let old = {
                let _guard = self.lock();
                // SAFETY: the lock is held, so this is the only reference to the ring.
                let ring = unsafe { &mut *self.ring.get() };
                if ring.len < SLOTS && ring.bytes + size <= MAX_BYTES {
                    let tail = (ring.head + ring.len) % SLOTS;
                    ring.blocks[tail] = block;
                    ring.len += 1;
                    ring.bytes += size;
                    return;
                }
                let old = ring.blocks[ring.head];
                ring.head = (ring.head + 1) % SLOTS;
                ring.len -= 1;
                ring.bytes -= old.layout.size();
                old
            };
            // SAFETY: `old` left the ring under the lock; no one else refers to it now.
            unsafe { self.release(old) };
        }
    }

    /// Verifies the poison of a block leaving the quarantine, then frees it.
    ///
    /// # Safety
    /// `block` is poisoned, allocated by `System` with its layout, and referred to by no one.
    unsafe fn release(&self, block: Block) {
        // SAFETY: the block is still allocated (contract).
        if let Some((offset, found)) = unsafe { first_change(block) } {
            self.record(block, offset, found, true);
        }
        self.evicted.fetch_add(1, Ordering::Relaxed);
        // SAFETY: allocated by `System` with this layout (contract).
        unsafe { System.dealloc(block.ptr, block.layout) };
    }

    fn record(&self, block: Block, offset: usize, found: u8, at_eviction: bool) {
        let v = Violation {
            addr: block.ptr as usize,
            size: block.layout.size(),
            offset,
            found,
            at_eviction,
        };
        if self.violations.fetch_add(1, Ordering::AcqRel) == 0 {
            let _guard = self.lock();
            // SAFETY: the lock is held.
            unsafe { *self.first.get() = Some(v) };
        }
        report(&v);
    }

    /// Scans every block still held; returns the first violation found (scan or eviction) and
    /// the number of violations so far.
    pub fn scan(&self) -> (Option<Violation>, usize) {
        // A fixed array: allocating here could free (a Vec growing), and freeing takes the lock.
        let mut found = [(EMPTY, 0usize, 0u8); 16];
        let mut n = 0;
        {
            let _guard = self.lock();
            // SAFETY: the lock is held.
            let ring = unsafe { &*self.ring.get() };
            for i in 0..ring.len {
                let block = ring.blocks[(ring.head + i) % SLOTS];
                // SAFETY: held blocks stay allocated until they leave the ring.
                if let Some((offset, byte)) = unsafe { first_change(block) } {
                    found[n] = (block, offset, byte);
                    n += 1;
                    if n == found.len() {
                        break;
                    }
                }
            }
            // Re-poison, so that one write is reported once.
            for &(block, _, _) in &found[..n] {
                // SAFETY: the block is held (it leaves the ring only under this lock), so
                // its `size` bytes are allocated and writable.
                unsafe { std::ptr::write_bytes(block.ptr, POISON, block.layout.size()) };
            }
        }
        for &(block, offset, byte) in &found[..n] {
            self.record(block, offset, byte, false);
        }
        let _guard = self.lock();
        // SAFETY: the lock is held.
        let first = unsafe { *self.first.get() };
        (first, self.violations.load(Ordering::Acquire))
    }

    /// Panics, naming `what`, if any freed block was written after it was freed.
    pub fn assert_clean(&self, what: &str) {
        let (first, count) = self.scan();
        if let Some(v) = first {
            panic!("{what}: {} ({count} violation(s) in all)", Describe(&v));
        }
    }

    /// Panics if a violation was already recorded (at an eviction): cheap, no scan. Long
    /// scenarios call it as they go, so they stop at the first sign instead of running on.
    pub fn assert_none_recorded(&self, what: &str) {
        if self.violations.load(Ordering::Acquire) > 0 {
            self.assert_clean(what);
        }
    }

    pub fn stats(&self) -> Stats {
        let _guard = self.lock();
        // SAFETY: the lock is held.
        let ring = unsafe { &*self.ring.get() };
        Stats {
            quarantined: self.quarantined.load(Ordering::Relaxed),
            quarantined_bytes: self.quarantined_bytes.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            held: ring.len,
            held_bytes: ring.bytes,
        }
    }
}

// SAFETY: allocation is `System`'s; `dealloc` defers `System.dealloc` to eviction, with the same
// pointer and layout. `realloc` keeps the default (alloc, copy, `self.dealloc`), so the old
// block is quarantined too. Zero-size layouts (never passed by std) go straight to `System`.
unsafe impl GlobalAlloc for Quarantine {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() == 0 || ptr.is_null() {
            // SAFETY: forwarded contract; nothing to poison.
            unsafe { System.dealloc(ptr, layout) };
            return;
        }
        // SAFETY: the caller frees a block this allocator (`System`) gave out with `layout`.
        unsafe { self.quarantine(Block { ptr, layout }) };
    }
}

/// Offset and value of the first byte of `block` that is not `POISON`.
///
/// # Safety
/// `block.ptr` points to `block.layout.size()` readable bytes.
unsafe fn first_change(block: Block) -> Option<(usize, u8)> {
    // SAFETY: contract.
    let bytes = unsafe { std::slice::from_raw_parts(block.ptr, block.layout.size()) };
    const WIDE: usize = 64;
    let clean = [POISON; WIDE];
    let mut base = 0;
    for chunk in bytes.chunks(WIDE) {
        if chunk != &clean[..chunk.len()] {
            let i = chunk.iter().position(|&b| b != POISON).unwrap_or(0);
            return Some((base + i, chunk[i]));
        }
        base += chunk.len();
    }
    None
}

/// The message for one violation, written to stderr at once (no allocation: a stack buffer).
fn report(v: &Violation) {
    let mut msg = StackMsg::new();
    let _ = writeln!(msg, "{}", Describe(v));
    // SAFETY: write(2) reads `len` bytes from the stack buffer, valid for the call.
    unsafe { libc::write(2, msg.buf.as_ptr().cast(), msg.len) };
}

/// Formats a violation (used by `report` and by the test failure message).
pub struct Describe<'a>(pub &'a Violation);

impl std::fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        write!(
            f,
            "quarantine: a freed block of {} bytes at {:#x} was written after it was freed: \
             first changed byte at offset {} (found {:#04x}, poison {:#04x}), {}",
            v.size,
            v.addr,
            v.offset,
            v.found,
            POISON,
            if v.at_eviction {
                "found when the block left the quarantine"
            } else {
                "found by the final check"
            }
        )
    }
}

struct StackMsg {
    buf: [u8; 320],
    len: usize,
}

impl StackMsg {
    fn new() -> StackMsg {
        StackMsg {
            buf: [0; 320],
            len: 0,
        }
    }
}

impl std::fmt::Write for StackMsg {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
