//! Provided buffers: one block of `count` buffers of `size` bytes that reads take a buffer
//! from only when bytes arrive, so a socket waiting for data holds none.
//!
//! - io_uring (Linux 5.19+): the buffers are a *provided buffer ring* registered with the
//!   ring (IORING_REGISTER_PBUF_RING, group `group`). A recv with IOSQE_BUFFER_SELECT names
//!   the group; the kernel picks a buffer only when it has bytes to put in it and says which
//!   in the CQE's flags: one operation per read, no buffer held while the socket is idle.
//! - epoll, or a ring that refuses the registration: the same buffers as a free list
//!   (`take`), taken by a read just before its recv(2) and given back at once on EAGAIN.
//!
//! Ownership (docs/architecture.md, "Provided buffers"): each buffer id is at any time
//! either *available* — in the kernel's ring (which may write into it during any recv of the
//! group), on the free list, or not yet given to the kernel (`grow`) — or *held* by exactly
//! one owner between the CQE (or `take`) that handed it out and `give_back`: a `PooledBuf`,
//! a read op that has it (epoll, between its recv(2) and its result), or the orphan of a
//! dropped read (which copies the bytes out and gives it back at once). Only the holder
//! touches the bytes. The memory (buffers and ring) lives until the last `Rc` goes: the
//! driver keeps one until it has unregistered the group at shutdown, and every holder and
//! every read in flight keeps one, so the kernel never writes into unmapped memory.

use io_uring::types::BufRingEntry;
use std::cell::{Cell, RefCell};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// The most buffers a block has: a kernel ring has at most 2^15 entries.
pub(crate) const MAX_COUNT: u16 = 1 << 15;

/// Buffers a kernel ring starts with. The kernel takes buffers in ring order (FIFO), so
/// every buffer published is written to sooner or later: the ring starts small and grows by
/// one each time a read finds it empty, so the memory it touches follows the reads actually
/// in flight.
const FIRST_PUBLISHED: u32 = 8;

/// Anonymous memory, mapped untouched: a page costs nothing until a read writes into it.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is named.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len.max(1),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast()).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        Ok(Mapping {
            ptr,
            len: len.max(1),
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: mapped in `new` with this length; dropped only once nothing can use it
        // (module docs: the last `Rc` of the block is gone).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The kernel's ring of `count` entries: where `give_back` puts a buffer for the kernel.
struct KernelRing {
    entries: Mapping,
    /// The group id the ring is registered under.
    group: u16,
    /// Our copy of the ring's tail (the kernel reads the shared one).
    tail: Cell<u16>,
    /// Buffers `0..published` have been given to the kernel; the rest wait (`grow`).
    published: Cell<u32>,
}

pub(crate) struct ProvidedBufs {
    data: Mapping,
    count: u16,
    size: u32,
    /// `Some` once registered with an io_uring (then `free` is unused).
    ring: Option<KernelRing>,
    /// The available buffers without a kernel ring, taken last-in first-out (so the buffers
    /// in use stay few and warm).
    free: RefCell<Vec<u16>>,
    /// Buffers held now (between the CQE or `take` that handed them out and `give_back`).
    held: Cell<u32>,
    /// Buffers ever handed out (free list) or published (kernel ring): the ones whose pages
    /// may be resident.
    warm: Cell<u32>,
}

impl ProvidedBufs {
    /// `count` buffers of `size` bytes on a free list. `count` is a power of two up to 32768
    /// (what a kernel ring takes), `size` at least 1.
    pub(crate) fn new(count: u16, size: u32) -> io::Result<ProvidedBufs> {
        if count == 0 || !count.is_power_of_two() || count > MAX_COUNT || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "provided buffers: the count must be a power of two in 1..=32768 and the size at least 1",
            ));
        }
        let bytes = usize::from(count)
            .checked_mul(size as usize)
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "provided buffers: too large")
            })?;
        Ok(ProvidedBufs {
            data: Mapping::new(bytes)?,
            count,
            size,
            ring: None,
            free: RefCell::new((0..count).rev().collect()),
            held: Cell::new(0),
            warm: Cell::new(0),
        })
    }

    /// Makes a kernel ring for these buffers under `group`, publishing the first few; returns
    /// its address and entry count for the registration. A failed registration goes back to
    /// the free list (`drop_ring`).
    pub(crate) fn make_ring(&mut self, group: u16) -> io::Result<(u64, u16)> {
        let entries = Mapping::new(usize::from(self.count) * std::mem::size_of::<BufRingEntry>())?;
        let addr = entries.ptr.as_ptr() as u64;
        self.ring = Some(KernelRing {
            entries,
            group,
            tail: Cell::new(0),
            published: Cell::new(0),
        });
        self.free.borrow_mut().clear();
        for _ in 0..FIRST_PUBLISHED.min(u32::from(self.count)) {
            self.grow();
        }
        Ok((addr, self.count))
    }

    /// The registration failed: back to the free list. (The kernel never saw the ring.)
    pub(crate) fn drop_ring(&mut self) {
        self.ring = None;
        self.warm.set(0);
        *self.free.borrow_mut() = (0..self.count).rev().collect();
    }

    /// The group the kernel ring is registered under (`None`: a free list).
    #[inline]
    pub(crate) fn group(&self) -> Option<u16> {
        self.ring.as_ref().map(|r| r.group)
    }

    /// Bytes per buffer.
    #[inline]
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// Buffers in the block.
    pub(crate) fn count(&self) -> u16 {
        self.count
    }

    /// Buffers held now.
    pub(crate) fn held(&self) -> u32 {
        self.held.get()
    }

    /// Buffers that may be resident: ever handed out (free list) or published (kernel ring).
    pub(crate) fn warm(&self) -> u32 {
        self.warm.get()
    }

    /// Kernel ring: publishes one buffer never published before; false once all are (or
    /// without a kernel ring).
    pub(crate) fn grow(&self) -> bool {
        let Some(ring) = &self.ring else {
            return false;
        };
        let next = ring.published.get();
        if next >= u32::from(self.count) {
            return false;
        }
        ring.published.set(next + 1);
        self.warm.set(next + 1);
        self.publish(next as u16);
        true
    }

    /// The first byte of buffer `id`. Panics if `id` is not a buffer of this block (a CQE
    /// naming a buffer the kernel was never given would be a kernel bug).
    #[inline]
    pub(crate) fn buffer(&self, id: u16) -> *mut u8 {
        assert!(id < self.count, "buffer id {id} out of {}", self.count);
        // SAFETY: `id < count`, so the offset is inside the `count * size` mapping.
        unsafe {
            self.data
                .ptr
                .as_ptr()
                .add(usize::from(id) * self.size as usize)
        }
    }

    /// Free list: takes an available buffer, if there is one (never from a kernel ring: the
    /// kernel picks from that).
    #[inline]
    pub(crate) fn take(&self) -> Option<u16> {
        if self.ring.is_some() {
            return None;
        }
        let id = self.free.borrow_mut().pop()?;
        self.held.set(self.held.get() + 1);
        self.warm.set(self.warm.get().max(u32::from(id) + 1));
        Some(id)
    }

    /// The kernel named buffer `id` in a CQE: it is held now, by whoever got the CQE.
    #[inline]
    pub(crate) fn picked(&self, id: u16) {
        debug_assert!(id < self.count);
        self.held.set(self.held.get() + 1);
    }

    /// A holder gives buffer `id` back: into the kernel's ring, or onto the free list.
    #[inline]
    pub(crate) fn give_back(&self, id: u16) {
        match &self.ring {
            Some(_) => self.publish(id),
            None => self.free.borrow_mut().push(id),
        }
        self.held.set(self.held.get().saturating_sub(1));
    }

    /// Appends buffer `id` to the kernel ring and publishes the new tail.
    fn publish(&self, id: u16) {
        let ring = self.ring.as_ref().expect("a kernel ring");
        let tail = ring.tail.get();
        let mask = self.count - 1;
        let base = ring.entries.ptr.as_ptr().cast::<BufRingEntry>();
        // SAFETY: `tail & mask < count` entries were mapped. The entry at the tail is not one
        // the kernel reads (it reads only between its head and the published tail: at most
        // `count` entries, and every buffer is in the ring at most once, so the ring never
        // wraps onto an entry the kernel has not consumed), and this thread is the only
        // writer.
        let entry = unsafe { &mut *base.add(usize::from(tail & mask)) };
        entry.set_addr(self.buffer(id) as u64);
        entry.set_len(self.size);
        entry.set_bid(id);
        let tail = tail.wrapping_add(1);
        ring.tail.set(tail);
        // SAFETY: the shared tail is the first entry's `resv` field (the kernel's layout), a
        // valid, aligned u16 that the kernel reads with acquire semantics; the release store
        // orders the entry's fields before the new tail.
        let shared = unsafe { &*BufRingEntry::tail(base).cast::<AtomicU16>() };
        shared.store(tail, Ordering::Release);
    }
}
