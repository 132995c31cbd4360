//! Copying between streams: [`copy`] (one way, to EOF), [`copy_bidirectional`] (both ways,
//! with exact half-close) and [`copy_half`], the one direction both are made of.
//!
//! A direction holds a buffer (or a pipe, when splicing) only while bytes are in flight: an
//! idle connection holds none, and a destination that does not read stalls only this
//! direction's reads (backpressure), never grows memory. How a buffered direction reads is
//! [`ReadMode`]: `Ready` (the default) waits until the source is readable, then takes a buffer
//! from the thread's pool and reads (while reads keep filling the whole buffer, the wait is
//! skipped); `Pooled` reads into a buffer of the executor's copy ring that the read takes only
//! when bytes arrive, one operation per read.
//!
//! Splicing (`splice(2)` through a pipe, kernel to kernel, never through user space) is used
//! between two TCP streams when [`CopyOptions::splice`] asks for it; [`Splice::Auto`] (the
//! default) asks for it on the drivers where it measured cheaper (docs/benchmarks.md, "Copy:
//! buffered against splice").

use super::pool;
use super::{AsyncReadRent, AsyncStream, AsyncWriteRent, IoBuf};
use crate::pipe::sealed::Sealed;
use crate::pipe::SpliceStream;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::Poll;

/// Default bytes per copy buffer: one read's worth, the most a direction holds in user space.
pub const DEFAULT_BUFFER: usize = 16 << 10;

/// When to splice between two TCP streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Splice {
    /// Where it measured cheaper: between two TCP streams on both drivers today (see the
    /// module docs).
    #[default]
    Auto,
    /// Always, between two TCP streams.
    Always,
    /// Never: through a buffer.
    Never,
}

/// How a buffered copy reads, so that an idle source holds no buffer either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadMode {
    /// Wait until the source is readable (holding nothing), then take a buffer from the
    /// thread's pool and read: two operations per read on io_uring (POLL_ADD, RECV), one
    /// syscall per read on epoll after a short read. The default: it measured no worse in
    /// CPU, and keeps an idle connection smaller (docs/proxy.md, "Provided buffers").
    #[default]
    Ready,
    /// Read into a buffer of the executor's [`BufRing`](crate::net::BufRing) for copies,
    /// taken only when bytes arrive ([`AsyncReadRent::read_pooled`]): one operation per read
    /// on io_uring (4 SQEs per proxied ping-pong instead of 6).
    Pooled,
}

/// How [`copy_bidirectional_with`] and [`copy_half`] copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOptions {
    /// Bytes per buffer (default 16 KiB).
    pub buffer_size: usize,
    /// When to splice.
    pub splice: Splice,
    /// How a buffered copy reads.
    pub read: ReadMode,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            buffer_size: DEFAULT_BUFFER,
            splice: Splice::Auto,
            read: ReadMode::Ready,
        }
    }
}

impl CopyOptions {
    /// Whether a copy between two TCP streams splices under these options on this executor.
    pub fn splices(&self) -> bool {
        match self.splice {
            Splice::Always => true,
            Splice::Never => false,
            // Measured cheaper on both drivers (0.37x the buffered copy's CPU on io_uring,
            // 0.56x on epoll): docs/benchmarks.md, "Copy: buffered against splice".
            Splice::Auto => true,
        }
    }
}

/// What a copy reports as it goes (for byte counters and idle timers); both default to
/// nothing, and `()` observes nothing.
pub trait CopyObserver {
    /// `n` bytes were read from the source.
    fn read(&self, n: usize) {
        let _ = n;
    }
    /// `n` bytes were written to the destination (each partial write: a slow reader that
    /// keeps taking bytes is making progress).
    fn wrote(&self, n: usize) {
        let _ = n;
    }
}

impl CopyObserver for () {}

/// Copies everything `reader` yields to `writer` until end of stream, and flushes `writer`;
/// returns how many bytes. `writer` is not shut down (tokio's `copy`); see
/// [`copy_bidirectional`] for that.
///
/// ```
/// corio::block_on(async {
///     let (a, mut b) = corio::net::UnixStream::pair()?;
///     let (res, _) = a.write_all(&b"all of it"[..]).await;
///     res?;
///     a.shutdown(std::net::Shutdown::Write).await?;
///     let mut out = corio::fs::File::create(std::env::temp_dir().join("corio-copy-doc"))
///         .await?;
///     assert_eq!(corio::io::copy(&mut b, &mut out).await?, 9);
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncReadRent + ?Sized,
    W: AsyncWriteRent + ?Sized,
{
    let n = buffered(reader, writer, &CopyOptions::default(), &(), false).await?;
    writer.flush().await?;
    Ok(n)
}

/// Copies both ways between `a` and `b` until both directions have seen end of stream;
/// returns the bytes copied `(a to b, b to a)`. Half-close is exact: end of stream from `a`
/// becomes `shutdown(Write)` on `b` while `b` to `a` goes on, and the other way round. An
/// error either way ends both and is returned.
///
/// ```
/// use corio::net::{TcpListener, TcpStream};
///
/// corio::block_on(async {
///     let backend = TcpListener::bind("127.0.0.1:0")?;
///     let front = TcpListener::bind("127.0.0.1:0")?;
///     let (b_addr, f_addr) = (backend.local_addr()?, front.local_addr()?);
///     // The proxy: each client to the backend.
///     corio::spawn(async move {
///         let (mut client, _) = front.accept().await?;
///         let mut upstream = TcpStream::connect(b_addr).await?;
///         corio::io::copy_bidirectional(&mut client, &mut upstream).await
///     });
///     // The backend: an echo.
///     corio::spawn(async move {
///         let (mut conn, _) = backend.accept().await?;
///         let (mut r, mut w) = (&conn, &conn);
///         corio::io::copy(&mut r, &mut w).await?;
///         conn.shutdown(std::net::Shutdown::Write).await
///     });
///     let client = TcpStream::connect(f_addr).await?;
///     let (res, _) = client.write_all(&b"round trip"[..]).await;
///     res?;
///     client.shutdown(std::net::Shutdown::Write).await?;
///     let (res, buf) = client.read_exact(Vec::with_capacity(10)).await;
///     res?;
///     assert_eq!(&buf, b"round trip");
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
pub async fn copy_bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncStream + ?Sized,
    B: AsyncStream + ?Sized,
{
    copy_bidirectional_with(a, b, &CopyOptions::default()).await
}

/// [`copy_bidirectional`] with options (buffer size, splicing).
pub async fn copy_bidirectional_with<A, B>(
    a: &mut A,
    b: &mut B,
    options: &CopyOptions,
) -> io::Result<(u64, u64)>
where
    A: AsyncStream + ?Sized,
    B: AsyncStream + ?Sized,
{
    if options.splices() {
        if let (Some(ta), Some(tb)) = (a.as_tcp(), b.as_tcp()) {
            let there = spliced(ta, tb, &());
            let back = spliced(tb, ta, &());
            return both(there, back).await;
        }
    }
    let (mut ar, mut aw) = a.split_io();
    let (mut br, mut bw) = b.split_io();
    let there = copy_half(&mut ar, &mut bw, options, &());
    let back = copy_half(&mut br, &mut aw, options, &());
    both(there, back).await
}

/// One direction of [`copy_bidirectional`]: copies `reader` to `writer` until end of stream,
/// then shuts `writer` down (the peer reads EOF); reports progress to `observer`; returns the
/// bytes copied. (A plain function returning the loop's own future: a proxy keeps one per
/// direction of every connection, idle or not, so no layer is added to its size.)
pub fn copy_half<'a, R, W, O>(
    reader: &'a mut R,
    writer: &'a mut W,
    options: &'a CopyOptions,
    observer: &'a O,
) -> impl Future<Output = io::Result<u64>> + 'a
where
    R: AsyncReadRent + ?Sized,
    W: AsyncWriteRent + ?Sized,
    O: CopyObserver + ?Sized,
{
    buffered(reader, writer, options, observer, true)
}

/// One direction between two stream sockets ([`TcpStream`](crate::net::TcpStream) or
/// [`UnixStream`](crate::net::UnixStream), in any mix), spliced through a pooled pipe: until
/// end of stream, then shutdown(Write) on `to`. Bytes never enter user space.
pub async fn copy_half_spliced<F, T, O>(from: &F, to: &T, observer: &O) -> io::Result<u64>
where
    F: SpliceStream,
    T: SpliceStream,
    for<'a> &'a F: AsyncReadRent,
    for<'a> &'a T: AsyncWriteRent,
    O: CopyObserver + ?Sized,
{
    spliced(from, to, observer).await
}

/// Runs both directions; the first error ends both.
async fn both(
    there: impl Future<Output = io::Result<u64>>,
    back: impl Future<Output = io::Result<u64>>,
) -> io::Result<(u64, u64)> {
    let (mut there, mut back) = (pin!(there), pin!(back));
    let (mut a, mut b) = (None, None);
    poll_fn(|cx| {
        if a.is_none() {
            if let Poll::Ready(r) = there.as_mut().poll(cx) {
                a = Some(r?);
            }
        }
        if b.is_none() {
            if let Poll::Ready(r) = back.as_mut().poll(cx) {
                b = Some(r?);
            }
        }
        match (a, b) {
            (Some(a), Some(b)) => Poll::Ready(Ok((a, b))),
            _ => Poll::Pending,
        }
    })
    .await
}

/// The buffered loop: wait (unless the last read filled the buffer), take a pooled buffer,
/// read, write it all, give the buffer back; until end of stream; then shut `writer` down if
/// asked. (The write loop is inline, not `write_all`: one async layer less in every
/// direction's future.)
async fn buffered<R, W, O>(
    reader: &mut R,
    writer: &mut W,
    options: &CopyOptions,
    observer: &O,
    shutdown: bool,
) -> io::Result<u64>
where
    R: AsyncReadRent + ?Sized,
    W: AsyncWriteRent + ?Sized,
    O: CopyObserver + ?Sized,
{
    let size = options.buffer_size.max(1);
    if options.read == ReadMode::Pooled {
        if let Some(ring) = pool::copy_ring(size) {
            // Boxed: the readiness loop's future (the default) stays as small as it was.
            return Box::pin(pooled(reader, writer, &ring, observer, shutdown)).await;
        }
    }
    let mut total = 0u64;
    let mut more = false;
    loop {
        if !more {
            // No buffer is held while the source is idle.
            reader.ready().await?;
        }
        let (buf, lease) = pool::take_buf(size);
        let (res, mut buf) = reader.read(buf).await;
        let n = match res {
            Ok(0) => {
                pool::put_buf(buf, lease);
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                pool::put_buf(buf, lease);
                continue;
            }
            Err(e) => {
                pool::put_buf(buf, lease);
                return Err(e);
            }
        };
        observer.read(n);
        more = n == size;
        let mut written = 0;
        let mut failed = None;
        while written < n {
            let (res, slice) = writer.write(buf.slice(written..n)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => failed = Some(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    written += k;
                    observer.wrote(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => failed = Some(e),
            }
            if failed.is_some() {
                break;
            }
        }
        pool::put_buf(buf, lease);
        if let Some(e) = failed {
            return Err(e);
        }
        total += n as u64;
    }
    if shutdown {
        writer.shutdown().await?;
    }
    Ok(total)
}

/// The pooled loop: read into a buffer of `ring` taken when bytes arrive, write it all, drop
/// it (back to the ring); until end of stream; then shut `writer` down if asked.
async fn pooled<R, W, O>(
    reader: &mut R,
    writer: &mut W,
    ring: &crate::net::BufRing,
    observer: &O,
    shutdown: bool,
) -> io::Result<u64>
where
    R: AsyncReadRent + ?Sized,
    W: AsyncWriteRent + ?Sized,
    O: CopyObserver + ?Sized,
{
    let mut total = 0u64;
    loop {
        let mut buf = match reader.read_pooled(ring).await {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let n = buf.len();
        if n == 0 {
            break;
        }
        observer.read(n);
        let mut written = 0;
        while written < n {
            let (res, slice) = writer.write(buf.slice(written..n)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => {
                    written += k;
                    observer.wrote(k);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        total += n as u64;
    }
    if shutdown {
        writer.shutdown().await?;
    }
    Ok(total)
}

/// Writes every byte of `buf`, reporting each partial write.
async fn write_all<W, O>(
    writer: &mut W,
    mut buf: Vec<u8>,
    observer: &O,
) -> (io::Result<()>, Vec<u8>)
where
    W: AsyncWriteRent + ?Sized,
    O: CopyObserver + ?Sized,
{
    let total = buf.len();
    let mut written = 0;
    while written < total {
        let (res, slice) = writer.write(buf.slice(written..total)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => {
                written += n;
                observer.wrote(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// The spliced loop: wait until `from` is readable, take a pooled pipe, splice in, splice all
/// of it out, give the pipe back; at end of stream, shutdown(Write) on `to`.
async fn spliced<F, T, O>(from: &F, to: &T, observer: &O) -> io::Result<u64>
where
    F: SpliceStream,
    T: SpliceStream,
    for<'a> &'a F: AsyncReadRent,
    for<'a> &'a T: AsyncWriteRent,
    O: CopyObserver + ?Sized,
{
    let mut total = 0u64;
    loop {
        // No pipe is held while the source is idle. (`readable` waits for a dropped read
        // still in flight, and counts the bytes it kept.)
        (&mut &*from).ready().await?;
        if Sealed::shared_fd(from).has_stash() {
            // Bytes a dropped read kept on `from` come first; splice cannot reach them.
            let (buf, lease) = pool::take_buf(DEFAULT_BUFFER);
            let (res, buf) = (&mut &*from).read(buf).await;
            let n = match res {
                Ok(n) => n,
                Err(e) => {
                    pool::put_buf(buf, lease);
                    return Err(e);
                }
            };
            if n == 0 {
                pool::put_buf(buf, lease);
                (&mut &*to).shutdown().await?;
                return Ok(total);
            }
            observer.read(n);
            let (res, buf) = write_all(&mut &*to, buf, observer).await;
            pool::put_buf(buf, lease);
            res?;
            total += n as u64;
            continue;
        }
        let (pipe, lease) = pool::take_pipe()?;
        let n = match pipe.splice_from(from, pipe.capacity()).await {
            Ok(n) => n,
            Err(e) => {
                pool::put_pipe(pipe, lease);
                return Err(e);
            }
        };
        if n == 0 {
            pool::put_pipe(pipe, lease);
            (&mut &*to).shutdown().await?;
            return Ok(total);
        }
        observer.read(n);
        while !pipe.is_empty() {
            match pipe.splice_to(to, pipe.len()).await {
                Ok(k) => observer.wrote(k),
                Err(e) => {
                    // The pipe still holds bytes for a destination that failed: closed
                    // with them.
                    pool::put_pipe(pipe, lease);
                    return Err(e);
                }
            }
        }
        pool::put_pipe(pipe, lease);
        total += n as u64;
    }
}
