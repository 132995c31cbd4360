//! Reads into provided buffers: [`BufRing`] and [`PooledBuf`], and `read_pooled` on the
//! stream sockets. A read takes a buffer only when bytes arrive, so a connection waiting for
//! data holds none: one operation per read on either driver (io_uring: the kernel picks the
//! buffer from a provided-buffer ring; epoll: the read takes one from a free list just before
//! its recv(2)). `driver/provided.rs` has the two forms and the ownership rule.
//!
//! When no buffer is free (every one is held by a reader that has not dropped it yet), a read
//! does not wait for one: a kernel ring first grows (it starts with a few buffers published),
//! and once all are held the read waits for readiness and reads into a buffer of its own.
//! Bytes are never lost either way: a read that found no buffer read nothing.

use crate::buf::{IoBuf, IoBufMut};
use crate::driver::provided::ProvidedBufs;
use crate::fd::SharedFd;
use crate::net::{TcpStream, UnixStream};
use crate::op::recv::{self, ReadKind};
use crate::op::recv_pooled::RecvPooled;
use crate::op::Op;
use crate::runtime::context;
use std::future::{poll_fn, Future};
use std::io;
use std::ops::Deref;
use std::rc::Rc;

/// A block of equal buffers for reads that hold no memory while they wait
/// ([`TcpStream::read_pooled`], [`UnixStream::read_pooled`]): on io_uring a provided buffer
/// ring (Linux 5.19+; the kernel picks a buffer when data arrives), on epoll (and where the
/// kernel refuses the ring) a free list a read takes from just before its syscall. The memory
/// is mapped untouched: a buffer costs resident memory only once a read has used it. It
/// belongs to the executor it was made on and stays registered with its driver until the
/// runtime shuts down; clones share the buffers.
///
/// ```
/// use corio::net::{BufRing, UnixStream};
///
/// corio::block_on(async {
///     let ring = BufRing::new(16, 4096)?;
///     let (a, b) = UnixStream::pair()?;
///     let (res, _) = a.write_all(&b"hello"[..]).await;
///     res?;
///     let buf = b.read_pooled(&ring).await?; // empty at EOF
///     assert_eq!(&buf[..], b"hello");
///     assert_eq!(ring.held(), 1);
///     drop(buf); // back to the ring
///     assert_eq!(ring.held(), 0);
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
#[derive(Clone)]
pub struct BufRing {
    bufs: Rc<ProvidedBufs>,
    core: u64,
}

impl BufRing {
    /// `count` buffers of `size` bytes on the current executor. `count` must be a power of
    /// two up to 32768 and `size` at least 1 (else `InvalidInput`). Panics outside a runtime.
    pub fn new(count: u16, size: u32) -> io::Result<BufRing> {
        context::with_driver(|core, d| {
            Ok(BufRing {
                bufs: d.provide_buffers(count, size)?,
                core,
            })
        })
    }

    /// Buffers in the ring.
    pub fn count(&self) -> u16 {
        self.bufs.count()
    }

    /// Bytes per buffer.
    pub fn buffer_size(&self) -> u32 {
        self.bufs.size()
    }

    /// Buffers held now: by a [`PooledBuf`], or by a dropped read whose completion has not
    /// come yet. Back to 0 once every buffer has been dropped.
    pub fn held(&self) -> u32 {
        self.bufs.held()
    }

    /// Buffers that may be resident: those ever used (free list) or handed to the kernel
    /// (a kernel ring grows one at a time as reads find it empty).
    pub fn warm(&self) -> u32 {
        self.bufs.warm()
    }

    /// True where the kernel picks the buffers (an io_uring provided-buffer ring).
    pub fn in_kernel(&self) -> bool {
        self.bufs.group().is_some()
    }

    /// True if the ring was made on the executor running now.
    pub(crate) fn is_here(&self) -> bool {
        context::try_with_core(|c| c.id()) == Some(self.core)
    }
}

impl std::fmt::Debug for BufRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufRing")
            .field("count", &self.count())
            .field("buffer_size", &self.buffer_size())
            .field("held", &self.held())
            .field("in_kernel", &self.in_kernel())
            .finish()
    }
}

/// The bytes of one pooled read, in a buffer of a [`BufRing`] that goes back to the ring
/// when this is dropped (or, for bytes a dropped read kept, or a read that found every
/// buffer held, in a buffer of its own). Derefs to the bytes read (empty at EOF); an owned
/// buffer for writes (`stream.write_all(buf)`) and reads.
pub struct PooledBuf {
    kind: Kind,
    len: usize,
}

enum Kind {
    /// Buffer `id` of the ring, held by this value.
    Ring { bufs: Rc<ProvidedBufs>, id: u16 },
    /// A buffer of its own.
    Own(Vec<u8>),
}

impl PooledBuf {
    fn ring(bufs: Rc<ProvidedBufs>, id: u16) -> PooledBuf {
        PooledBuf {
            kind: Kind::Ring { bufs, id },
            len: 0,
        }
    }

    fn own(v: Vec<u8>) -> PooledBuf {
        PooledBuf {
            len: v.len(),
            kind: Kind::Own(v),
        }
    }

    /// True if the bytes are in a buffer of the ring (not one of its own).
    pub fn in_ring(&self) -> bool {
        matches!(self.kind, Kind::Ring { .. })
    }

    fn ptr(&self) -> *mut u8 {
        match &self.kind {
            Kind::Ring { bufs, id } => bufs.buffer(*id),
            Kind::Own(v) => v.as_ptr().cast_mut(),
        }
    }

    fn capacity(&self) -> usize {
        match &self.kind {
            Kind::Ring { bufs, .. } => bufs.size() as usize,
            Kind::Own(v) => v.capacity(),
        }
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        if let Kind::Ring { bufs, id } = &self.kind {
            bufs.give_back(*id);
        }
    }
}

impl Deref for PooledBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the held buffer are initialized (written by the
        // kernel or copied in), and only its holder (this value) touches a held buffer.
        unsafe { std::slice::from_raw_parts(self.ptr(), self.len) }
    }
}

impl std::fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledBuf")
            .field("len", &self.len)
            .field("in_ring", &self.in_ring())
            .finish()
    }
}

// SAFETY: a held ring buffer lives in the ring's mapping, which the `Rc` keeps mapped and in
// place however the value moves; a buffer of its own is a Vec's heap block. `len` bytes are
// initialized.
unsafe impl IoBuf for PooledBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: the held buffer is writable for its whole size, and only its holder writes to it.
unsafe impl IoBufMut for PooledBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if let Kind::Own(v) = &mut self.kind {
            // SAFETY: forwarded from this function's contract.
            unsafe { v.set_init(pos) };
        }
        self.len = self.len.max(pos);
    }
}

/// A free buffer of the ring's free list, or (a kernel ring, or every buffer held) an empty
/// buffer of its own of the ring's size: for a read the caller makes itself.
pub(crate) fn any_buffer(ring: &BufRing) -> PooledBuf {
    match ring.bufs.take() {
        Some(id) => PooledBuf::ring(ring.bufs.clone(), id),
        None => PooledBuf::own(Vec::with_capacity(ring.bufs.size() as usize)),
    }
}

/// One pooled read on `fd`: the bytes in a buffer of `ring` (empty at EOF).
async fn read_pooled(fd: &SharedFd, ring: &BufRing, kind: ReadKind) -> io::Result<PooledBuf> {
    if !ring.is_here() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "this BufRing belongs to another corio executor (make one per executor)",
        ));
    }
    let bufs = &ring.bufs;
    // One op where it picks its buffer itself: the kernel's ring, or epoll's attempt. (An
    // io_uring whose kernel refused the ring: a readiness wait, then a plain read, below.)
    let one_op = bufs.group().is_some() || context::with_driver(|_, d| d.needs_nonblocking_fds());
    if one_op {
        loop {
            let mut op = Op::new(RecvPooled::new(fd, bufs, kind));
            let res = poll_fn(|cx| op.poll_result(cx)).await;
            let flags = op.flags();
            let mut data = op.take_data();
            if let Some(kept) = data.take_stash() {
                return res.map(|_| PooledBuf::own(kept));
            }
            if let Some(id) = data.take_buffer(flags) {
                // Held by the value made here (given back by its drop on an error).
                let mut buf = PooledBuf::ring(bufs.clone(), id);
                return res.map(|n| {
                    buf.len = n as usize;
                    buf
                });
            }
            match res {
                // No buffer was free, and nothing was read: one more for the kernel, or
                // (all are held) the read below.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    if !bufs.grow() {
                        break;
                    }
                }
                Err(e) => return Err(e),
                // EOF names no buffer.
                Ok(0) => return Ok(PooledBuf::own(Vec::new())),
                Ok(_) => return Err(io::Error::other("a pooled read with bytes named no buffer")),
            }
        }
    }
    // The rare road, boxed so that it adds nothing to the size of every pooled read's future
    // (a proxy keeps one per direction of every pair).
    Box::pin(read_after_readiness(fd, ring, kind)).await
}

/// No buffer while the socket is idle: readiness first, then a buffer (of the list, or of its
/// own) and a plain read.
async fn read_after_readiness(
    fd: &SharedFd,
    ring: &BufRing,
    kind: ReadKind,
) -> io::Result<PooledBuf> {
    crate::op::poll::readable(fd).await?;
    let (res, buf) = recv::recv(fd, any_buffer(ring), kind).await;
    res.map(|_| buf)
}

impl TcpStream {
    /// Reads what is available into a buffer of `ring`, taken only once bytes are there, so
    /// a stream waiting for data holds no buffer: one operation per read (on io_uring the
    /// kernel picks the buffer, Linux 5.19+; on epoll the read takes one just before its
    /// recv). The buffer is empty at EOF and goes back to the ring when dropped. Cancel-safe
    /// like [`read`](Self::read): bytes a dropped read received come back on the next read.
    /// `ring` must have been made on this executor (`InvalidInput` otherwise).
    pub fn read_pooled<'a, 'b>(
        &'a self,
        ring: &'b BufRing,
    ) -> impl Future<Output = io::Result<PooledBuf>> + use<'a, 'b> {
        read_pooled(&self.fd, ring, ReadKind::Tcp)
    }
}

impl UnixStream {
    /// As [`TcpStream::read_pooled`].
    pub fn read_pooled<'a, 'b>(
        &'a self,
        ring: &'b BufRing,
    ) -> impl Future<Output = io::Result<PooledBuf>> + use<'a, 'b> {
        read_pooled(&self.fd, ring, ReadKind::UnixStream)
    }
}
