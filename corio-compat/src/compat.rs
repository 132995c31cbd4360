//! [`Compat`]: a corio stream behind poll-based, borrowed-buffer I/O traits.

use crate::owned::OwnedStream;
use crate::read::ReadSide;
use crate::write::WriteSide;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Default size of the read buffer and of each of the (up to) two write buffers: 16 KiB.
pub const DEFAULT_BUFFER: usize = 16 * 1024;

/// A corio stream ([`TcpStream`](corio::net::TcpStream) or
/// [`UnixStream`](corio::net::UnixStream)) with tokio's `AsyncRead`/`AsyncWrite`/
/// `AsyncBufRead`, futures-io's `AsyncRead`/`AsyncWrite`/`AsyncBufRead`, and hyper's
/// `rt::Read`/`rt::Write`.
///
/// corio's I/O owns its buffers (the kernel may write into a read buffer until the operation
/// completes); the poll-based traits lend a buffer for one call. `Compat` bridges the two
/// with one buffer of its own per direction:
///
/// - **reads** fill the read buffer through corio's `read` and copy out to the caller: one
///   copy. A read in flight belongs to the `Compat`, not to the caller's future: a caller that
///   gives up (a dropped `read()`, an elapsed timeout) loses nothing, and the next read gets
///   every byte. Dropping the `Compat` itself cancels the read in flight; corio keeps what it
///   received on the stream ([`into_inner`](Self::into_inner) gives the stream back).
/// - **writes** copy into a staging buffer (one copy) that a flush — or a full buffer — hands
///   to corio's `write_all`; staging continues into a second buffer while that runs. **Like
///   tokio's `BufWriter`, written bytes go out only on flush**: call `flush()` (hyper,
///   tokio-rustls and `tokio::io::copy` do) before waiting for the peer. Bytes still staged
///   when the `Compat` is dropped are lost. Vectored writes are supported (and cost the same
///   one copy), so hyper skips its own flattening copy.
/// - **shutdown** flushes, then shuts down the write half (the peer reads EOF).
///
/// Each direction keeps the future of its operation in flight in a field of its own (the
/// stream's named [`OwnedStream::Read`] and [`OwnedStream::WriteAll`] futures, for a
/// `TcpStream` corio's [`ReadFuture`](corio::net::ReadFuture) and
/// [`WriteAllFuture`](corio::net::WriteAllFuture)) and polls it in place, with the caller's
/// context: no task, no boxing, no allocation per operation.
///
/// It is `!Send`, like every corio stream: it lives on the executor that made it.
///
/// ```no_run
/// use corio_compat::Compat;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// corio::block_on(async {
///     let stream = corio::net::TcpStream::connect("127.0.0.1:9000").await?;
///     let mut io = Compat::new(stream);
///     io.write_all(b"ping").await?;
///     io.flush().await?;
///     let mut reply = [0u8; 4];
///     io.read_exact(&mut reply).await?;
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub struct Compat<S: OwnedStream> {
    /// Shared only with a shutdown in flight; the read and the write futures hold their own
    /// reference to the socket.
    stream: Rc<S>,
    pub(crate) read: ReadSide<S>,
    pub(crate) write: WriteSide<S>,
}

impl<S: OwnedStream> Compat<S> {
    /// Wraps `stream` with [`DEFAULT_BUFFER`]-sized buffers.
    pub fn new(stream: S) -> Compat<S> {
        Compat::with_capacity(stream, DEFAULT_BUFFER, DEFAULT_BUFFER)
    }

    /// Wraps `stream` with a read buffer of `read` bytes and write buffers of `write` bytes
    /// each (at least 1). A read asks the kernel for up to `read` bytes; a flush is forced
    /// when `write` bytes are staged. The read buffer is allocated now, the first write
    /// buffer on first use, a second only when bytes are staged while a write is in flight.
    pub fn with_capacity(stream: S, read: usize, write: usize) -> Compat<S> {
        Compat {
            stream: Rc::new(stream),
            read: ReadSide::new(read),
            write: WriteSide::new(write),
        }
    }

    /// The stream, e.g. for `peer_addr` or `set_nodelay`. Reading or writing it directly
    /// while the `Compat` holds buffered bytes or operations in flight mixes up the byte
    /// order.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Gives the stream back, with the bytes read but not yet consumed. A read in flight is
    /// cancelled, losslessly: corio keeps what it received, and the stream's next read
    /// returns it. Refused (returning `self`) while written bytes are staged or a write (or
    /// the shutdown) is in flight: flush first.
    // Like std's `BufWriter::into_inner`, the refusal hands the wrapper back unboxed, to be
    // flushed and tried again; a cold path.
    #[allow(clippy::result_large_err)]
    pub fn into_inner(self) -> Result<(S, Vec<u8>), Compat<S>> {
        if self.write.has_pending() {
            return Err(self);
        }
        let Compat {
            stream,
            read,
            write,
        } = self;
        let unconsumed = read.into_unconsumed();
        drop(write);
        match Rc::try_unwrap(stream) {
            Ok(stream) => Ok((stream, unconsumed)),
            Err(_) => unreachable!("only a shutdown in flight shares the stream"),
        }
    }

    /// True while a read is in flight (started by a poll that has not seen its result yet).
    pub fn read_in_flight(&self) -> bool {
        self.read.is_busy()
    }

    #[inline(always)]
    pub(crate) fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.read.poll_copy_to(&self.stream, cx, dst)
    }

    #[inline(always)]
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.read.poll_fill(&self.stream, cx)
    }

    #[inline(always)]
    pub(crate) fn poll_write_one(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write.poll_write(&self.stream, cx, buf)
    }

    pub(crate) fn poll_write_bufs(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write.poll_write_vectored(&self.stream, cx, bufs)
    }

    #[inline(always)]
    pub(crate) fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write.poll_flush(&self.stream, cx)
    }

    pub(crate) fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write.poll_shutdown(&self.stream, cx)
    }
}

impl<S: OwnedStream + fmt::Debug> fmt::Debug for Compat<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compat")
            .field("stream", &*self.stream)
            .field("read_in_flight", &self.read.is_busy())
            .field("write_pending", &self.write.has_pending())
            .finish()
    }
}
