//! Owned buffers: the kernel owns a buffer while its operation is in flight, so I/O takes the
//! buffer by value and hands it back in every outcome, `(io::Result<T>, B)`.
//!
//! The contracts of [`IoBuf`] and [`IoBufMut`] are what make the driver sound: a pointer taken
//! when an operation is submitted must stay valid, and the memory must not move, until the
//! operation's completion has been reaped — even if the future that owned the buffer was dropped
//! in the meantime (then the driver keeps the buffer; see docs/architecture.md, "Ownership").

#[cfg(feature = "bytes")]
mod bytes;
mod slice;

pub use slice::Slice;

/// The result of an owned-buffer operation: the outcome and the buffer, always returned.
pub type BufResult<T, B> = (std::io::Result<T>, B);

/// A buffer the kernel may read from while an operation is in flight.
///
/// # Safety
///
/// Implementors guarantee that `stable_ptr()` points to `bytes_init()` initialized bytes, and
/// that the pointer stays valid and the bytes stay in place (not moved, not freed, not
/// reallocated) for as long as the value exists, even if the value itself is moved. A `Vec`
/// qualifies (its heap block does not move when the `Vec` does); an inline array does not.
pub unsafe trait IoBuf: Unpin + 'static {
    /// Pointer to the first byte.
    fn stable_ptr(&self) -> *const u8;
    /// Number of initialized bytes, the ones a write sends.
    fn bytes_init(&self) -> usize;
    /// Total bytes of storage.
    fn bytes_total(&self) -> usize;

    /// A view of `range` of this buffer that can be passed to I/O in place of the whole buffer.
    ///
    /// ```
    /// use corio::buf::IoBuf;
    /// let s = b"hello world".to_vec().slice(6..);
    /// assert_eq!(&s[..], b"world");
    /// ```
    fn slice(self, range: impl std::ops::RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        Slice::new(self, range)
    }
}

/// A buffer the kernel may write into while an operation is in flight.
///
/// # Safety
///
/// In addition to the [`IoBuf`] contract: `stable_mut_ptr()` is valid for writes of
/// `bytes_total()` bytes, and after the kernel has written `n` bytes starting at
/// `bytes_init()`, calling `set_init(bytes_init() + n)` makes exactly those bytes visible.
pub unsafe trait IoBufMut: IoBuf {
    /// Mutable pointer to the first byte of storage.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Marks the first `pos` bytes initialized.
    ///
    /// # Safety
    ///
    /// The first `pos` bytes of storage must have been initialized (by the kernel or earlier).
    unsafe fn set_init(&mut self, pos: usize);
}

// SAFETY: a Vec's heap block does not move when the Vec is moved; `len` bytes are initialized.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: the Vec's spare capacity is writable; `set_len` exposes exactly the written bytes.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if self.len() < pos {
            // SAFETY: the caller guarantees the first `pos` bytes are initialized, and `pos`
            // never exceeds capacity because ops only write within `bytes_total()`.
            unsafe { self.set_len(pos) };
        }
    }
}

// SAFETY: a boxed slice's heap block does not move with the box; all its bytes are initialized.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: every byte of a boxed slice is initialized and writable; nothing to record.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

// SAFETY: static memory never moves and is never freed.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: static memory never moves and is never freed.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

/// The most bytes one read or write asks the kernel for: Linux's `MAX_RW_COUNT` (`INT_MAX`
/// rounded down to a page), which read(2), write(2), send(2), recv(2) and their io_uring
/// opcodes cut every longer count to anyway. Clamping to it here keeps a count in the `u32`
/// an SQE's length field holds (2^32 would be 0: a read reporting EOF, a write sending
/// nothing) and in the `i32` its result comes back in: a bigger buffer just means a short read
/// or write, on both drivers alike.
pub(crate) const MAX_RW: usize = 0x7fff_f000;

/// Where a read into `buf` writes: the spare capacity `bytes_init..bytes_total`, at most
/// `MAX_RW` bytes of it (so the length fits an SQE's `u32`).
pub(crate) fn spare_mut<B: IoBufMut>(buf: &mut B) -> (*mut u8, usize) {
    let init = buf.bytes_init();
    let len = spare_len(buf);
    // SAFETY: `init <= bytes_total()` (IoBufMut contract), so the pointer stays within the
    // buffer's allocation.
    (unsafe { buf.stable_mut_ptr().add(init) }, len)
}

/// How many bytes one read into `buf` asks for: its spare capacity, at most `MAX_RW`.
pub(crate) fn spare_len<B: IoBufMut>(buf: &B) -> usize {
    (buf.bytes_total() - buf.bytes_init()).min(MAX_RW)
}

/// What one write of `buf` hands the kernel: its initialized bytes, at most `MAX_RW` of them
/// (so the length fits an SQE's `u32`).
#[inline]
pub(crate) fn init_bytes<B: IoBuf>(buf: &B) -> (*const u8, usize) {
    (buf.stable_ptr(), buf.bytes_init().min(MAX_RW))
}

/// Marks the `n` bytes a read wrote at `spare_mut(buf)` as initialized.
///
/// # Safety
///
/// The first `n` bytes of the spare capacity must have been written (by the kernel).
pub(crate) unsafe fn advance_init<B: IoBufMut>(buf: &mut B, n: usize) {
    let init = buf.bytes_init();
    // SAFETY: forwarded from this function's contract.
    unsafe { buf.set_init(init + n) };
}

/// A read into a full buffer could only return 0, which means EOF: refuse it instead.
pub(crate) fn check_room<B: IoBufMut>(buf: &B) -> std::io::Result<()> {
    if buf.bytes_init() < buf.bytes_total() {
        return Ok(());
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "read buffer has no spare capacity (reads fill bytes_init..bytes_total: pass an empty \
         Vec with capacity, or clear it)",
    ))
}
