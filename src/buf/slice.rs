//! `Slice<B>`: a range of an owned buffer, itself an owned buffer.

use super::{IoBuf, IoBufMut};
use std::ops::{Bound, Deref, DerefMut, RangeBounds};

/// A view of `begin..end` of a buffer. I/O through a slice reads and writes only that range;
/// [`Slice::into_inner`] gives the buffer back.
///
/// For a write, the slice's initialized bytes are `begin..min(end, buf.bytes_init())`; a read
/// into a slice writes from `begin + (initialized bytes of the slice)` up to `end`.
#[derive(Debug)]
pub struct Slice<B> {
    buf: B,
    begin: usize,
    end: usize,
}

impl<B: IoBuf> Slice<B> {
    pub(crate) fn new(buf: B, range: impl RangeBounds<usize>) -> Self {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n + 1,
            Bound::Excluded(&n) => n,
            Bound::Unbounded => buf.bytes_total(),
        };
        assert!(
            begin <= end && end <= buf.bytes_total(),
            "slice {begin}..{end} out of bounds of a buffer of {} bytes",
            buf.bytes_total()
        );
        Slice { buf, begin, end }
    }

    /// Start offset in the underlying buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// End offset in the underlying buffer.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The underlying buffer.
    pub fn get_ref(&self) -> &B {
        &self.buf
    }

    /// Gives the underlying buffer back.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

impl<B: IoBuf> Deref for Slice<B> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let init = self.buf.bytes_init().clamp(self.begin, self.end);
        // SAFETY: `begin..init` lies within the buffer's initialized bytes (IoBuf contract).
        unsafe {
            std::slice::from_raw_parts(self.buf.stable_ptr().add(self.begin), init - self.begin)
        }
    }
}

impl<B: IoBufMut> DerefMut for Slice<B> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let init = self.buf.bytes_init().clamp(self.begin, self.end);
        // SAFETY: as in `deref`, and we hold `&mut self`, so the bytes are not aliased.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.buf.stable_mut_ptr().add(self.begin),
                init - self.begin,
            )
        }
    }
}

// SAFETY: the slice points into `buf`, whose memory is stable by B's own contract; the range was
// checked against `bytes_total()` at construction.
unsafe impl<B: IoBuf> IoBuf for Slice<B> {
    #[inline(always)]
    fn stable_ptr(&self) -> *const u8 {
        // SAFETY: `begin <= bytes_total()`, checked in `new`.
        unsafe { self.buf.stable_ptr().add(self.begin) }
    }
    #[inline(always)]
    fn bytes_init(&self) -> usize {
        // `clamp`, written out: `begin <= end` (checked in `new`), and `Ord::clamp` stays an
        // out-of-line call on the write path.
        self.buf.bytes_init().max(self.begin).min(self.end) - self.begin
    }
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: writes stay within `begin..end` of `buf`, which is writable by B's contract.
unsafe impl<B: IoBufMut> IoBufMut for Slice<B> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        // SAFETY: `begin <= bytes_total()`, checked in `new`.
        unsafe { self.buf.stable_mut_ptr().add(self.begin) }
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // A slice that starts past the buffer's initialized bytes leaves a gap the read never
        // wrote (`init..begin`): zero it, so making `begin + pos` bytes visible exposes no
        // uninitialized memory.
        if pos == 0 {
            return; // nothing was written: nothing becomes visible
        }
        let init = self.buf.bytes_init();
        if init < self.begin {
            // SAFETY: `init < begin <= bytes_total()` (checked in `new`): the gap lies inside
            // `buf`'s writable storage.
            unsafe {
                std::ptr::write_bytes(self.buf.stable_mut_ptr().add(init), 0, self.begin - init)
            };
        }
        // SAFETY: forwarded contract: bytes `begin..begin + pos` were written by the caller,
        // and bytes up to `begin` are initialized (before, or zeroed just above).
        unsafe { self.buf.set_init(self.begin + pos) }
    }
}
