//! Owned-buffer I/O traits, and what is built on them: copying ([`copy`],
//! [`copy_bidirectional`]), buffering ([`BufReader`], [`BufWriter`]) and owned halves
//! (`TcpStream::into_split`).
//!
//! [`AsyncReadRent`] and [`AsyncWriteRent`] are corio's `AsyncRead` / `AsyncWrite`: the
//! buffer goes in by value and comes back with the result ([`BufResult`]), because on io_uring
//! the kernel owns it until the operation completes. They are implemented by `TcpStream`,
//! `UnixStream` (and shared references to them: their operations take `&self`), `File` (at a
//! cursor), the pipe ends of `corio::net::unix::pipe::pipe()`, the owned halves, and `BufReader` /
//! `BufWriter`; generic code takes `impl AsyncReadRent` instead of a concrete stream. The
//! streams' inherent methods stay (they are what the impls call); with a stream of a
//! concrete type, `stream.read(buf)` calls the inherent method, in generic code the trait's.
//!
//! ```
//! use corio::io::{AsyncReadRent, AsyncWriteRent};
//!
//! /// Echoes one message, on any stream.
//! async fn echo_once<S: AsyncReadRent + AsyncWriteRent>(s: &mut S) -> std::io::Result<usize> {
//!     let (n, buf) = s.read(Vec::with_capacity(1024)).await;
//!     let n = n?;
//!     let (res, _) = s.write_all(buf).await;
//!     res.map(|()| n)
//! }
//!
//! corio::block_on(async {
//!     let (mut a, b) = corio::net::UnixStream::pair()?;
//!     let (res, _) = b.write_all(&b"ping"[..]).await;
//!     res?;
//!     assert_eq!(echo_once(&mut a).await?, 4);
//!     Ok::<(), std::io::Error>(())
//! }).unwrap();
//! ```

mod buffered;
mod copy;
mod impls;
mod pool;
mod split;

pub use crate::buf::{BufResult, IoBuf, IoBufMut};
pub use buffered::{BufReader, BufWriter};
pub use copy::{
    copy, copy_bidirectional, copy_bidirectional_with, copy_half, copy_half_spliced, CopyObserver,
    CopyOptions, ReadMode, Splice, DEFAULT_BUFFER,
};
pub use pool::{pool_stats, PoolStats};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReuniteError};

use std::future::Future;
use std::io;

/// Reading into owned buffers: corio's `AsyncRead`.
pub trait AsyncReadRent {
    /// Reads what is available into `buf`'s spare capacity (`bytes_init..bytes_total`);
    /// returns how many bytes, 0 only at end of stream. A buffer with no spare capacity is
    /// `InvalidInput`.
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    /// Reads into the buffers in order; returns the total. The default fills the first
    /// buffer with spare capacity, with one `read`.
    fn readv<B: IoBufMut>(
        &mut self,
        mut bufs: Vec<B>,
    ) -> impl Future<Output = BufResult<usize, Vec<B>>> {
        async move {
            let Some(i) = bufs.iter().position(|b| b.bytes_init() < b.bytes_total()) else {
                return (Ok(0), bufs);
            };
            let buf = bufs.swap_remove(i);
            let (res, buf) = self.read(buf).await;
            bufs.push(buf);
            let last = bufs.len() - 1;
            bufs.swap(i, last);
            (res, bufs)
        }
    }

    /// Reads until `buf` is full; end of stream before that is `UnexpectedEof`.
    fn read_exact<B: IoBufMut>(&mut self, mut buf: B) -> impl Future<Output = BufResult<(), B>> {
        async move {
            if let Err(e) = crate::buf::check_room(&buf) {
                return (Err(e), buf);
            }
            while buf.bytes_init() < buf.bytes_total() {
                let (res, b) = self.read(buf).await;
                buf = b;
                match res {
                    Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return (Err(e), buf),
                }
            }
            (Ok(()), buf)
        }
    }

    /// Waits until a read would not wait, without holding a buffer (sockets: a readiness
    /// wait; the default returns at once). `copy` uses it so an idle stream holds no buffer.
    fn ready(&mut self) -> impl Future<Output = io::Result<()>> {
        async { Ok(()) }
    }

    /// Reads what is available into a buffer of `ring` taken only once bytes are there (empty
    /// at EOF; the buffer goes back to the ring when dropped). Stream sockets do it in one
    /// operation (`TcpStream::read_pooled`); the default waits with `ready`, then reads into a
    /// buffer of the ring's free list, or of its own.
    fn read_pooled(
        &mut self,
        ring: &crate::net::BufRing,
    ) -> impl Future<Output = io::Result<crate::net::PooledBuf>> {
        async move {
            self.ready().await?;
            let (res, buf) = self.read(crate::net::pooled::any_buffer(ring)).await;
            res.map(|_| buf)
        }
    }
}

/// Writing from owned buffers: corio's `AsyncWrite`.
pub trait AsyncWriteRent {
    /// Writes some of `buf`'s initialized bytes; returns how many.
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>>;

    /// Writes the buffers in order; returns how many bytes went. The default writes the first
    /// non-empty buffer with one `write`.
    fn writev<B: IoBuf>(
        &mut self,
        mut bufs: Vec<B>,
    ) -> impl Future<Output = BufResult<usize, Vec<B>>> {
        async move {
            let Some(i) = bufs.iter().position(|b| b.bytes_init() > 0) else {
                return (Ok(0), bufs);
            };
            let buf = bufs.swap_remove(i);
            let (res, buf) = self.write(buf).await;
            bufs.push(buf);
            let last = bufs.len() - 1;
            bufs.swap(i, last);
            (res, bufs)
        }
    }

    /// Writes all of `buf`'s initialized bytes, looping over short writes.
    fn write_all<B: IoBuf>(&mut self, mut buf: B) -> impl Future<Output = BufResult<(), B>> {
        async move {
            let total = buf.bytes_init();
            let mut written = 0;
            while written < total {
                let (res, slice) = self.write(buf.slice(written..total)).await;
                buf = slice.into_inner();
                match res {
                    Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return (Err(e), buf),
                }
            }
            (Ok(()), buf)
        }
    }

    /// Sends what is buffered (a `BufWriter`'s bytes); streams without a buffer return at once.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>>;

    /// Flushes, then shuts the write direction (sockets: shutdown(Write), the peer reads EOF;
    /// files: nothing more to do).
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>>;
}

/// A stream both halves of which can be driven at once, from two futures: what
/// [`copy_bidirectional`] needs. Sockets split into two shared references.
pub trait AsyncStream: AsyncReadRent + AsyncWriteRent {
    /// The reading side.
    type Reader<'a>: AsyncReadRent
    where
        Self: 'a;
    /// The writing side.
    type Writer<'a>: AsyncWriteRent
    where
        Self: 'a;

    /// Both sides, borrowed.
    fn split_io(&mut self) -> (Self::Reader<'_>, Self::Writer<'_>);

    /// The TCP stream underneath, where there is one: `copy_bidirectional` splices between
    /// two of them when asked to.
    fn as_tcp(&self) -> Option<&crate::net::TcpStream> {
        None
    }
}

impl<T: AsyncReadRent + ?Sized> AsyncReadRent for &mut T {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        (**self).read(buf)
    }
    fn readv<B: IoBufMut>(
        &mut self,
        bufs: Vec<B>,
    ) -> impl Future<Output = BufResult<usize, Vec<B>>> {
        (**self).readv(bufs)
    }
    fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        (**self).read_exact(buf)
    }
    fn ready(&mut self) -> impl Future<Output = io::Result<()>> {
        (**self).ready()
    }
    fn read_pooled(
        &mut self,
        ring: &crate::net::BufRing,
    ) -> impl Future<Output = io::Result<crate::net::PooledBuf>> {
        (**self).read_pooled(ring)
    }
}

impl<T: AsyncWriteRent + ?Sized> AsyncWriteRent for &mut T {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        (**self).write(buf)
    }
    fn writev<B: IoBuf>(&mut self, bufs: Vec<B>) -> impl Future<Output = BufResult<usize, Vec<B>>> {
        (**self).writev(bufs)
    }
    fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
        (**self).write_all(buf)
    }
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> {
        (**self).flush()
    }
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        (**self).shutdown()
    }
}
