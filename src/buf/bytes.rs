//! `bytes::Bytes` and `BytesMut` as owned I/O buffers (the `bytes` feature).
//!
//! A `Bytes` is a write buffer: its bytes never move or change while it exists (clones share
//! them, read-only). A `BytesMut` is both: a read fills its spare capacity
//! (`len..capacity`, like a `Vec`) and sets its length. Neither grows during an operation, so
//! the pointer the kernel got stays valid.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//!
//! corio::block_on(async {
//!     let (a, b) = corio::net::UnixStream::pair()?;
//!     let (res, _) = a.write_all(Bytes::from_static(b"frame")).await;
//!     res?;
//!     let (res, buf) = b.read_exact(BytesMut::with_capacity(5)).await;
//!     res?;
//!     assert_eq!(&buf[..], b"frame");
//!     Ok::<(), std::io::Error>(())
//! }).unwrap();
//! ```

use super::{IoBuf, IoBufMut};
use bytes::{Bytes, BytesMut};

// SAFETY: a `Bytes`' data is immutable and stays where it is for as long as any handle to it
// exists (moving the handle moves only the handle); `len` bytes are initialized.
unsafe impl IoBuf for Bytes {
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

// SAFETY: a `BytesMut`'s storage is a heap block that does not move when the handle moves and
// is only reallocated by calls that grow it, which nothing makes while the buffer is lent
// out; `len` bytes are initialized.
unsafe impl IoBuf for BytesMut {
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

// SAFETY: the spare capacity `len..capacity` is writable storage of the same block;
// `set_len` exposes exactly the bytes the kernel wrote.
unsafe impl IoBufMut for BytesMut {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if self.len() < pos {
            // SAFETY: the caller guarantees the first `pos` bytes are initialized, and `pos`
            // never exceeds capacity (ops write within `bytes_total()`).
            unsafe { self.set_len(pos) };
        }
    }
}
