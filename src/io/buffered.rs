//! [`BufReader`] and [`BufWriter`] over owned-buffer streams.
//!
//! A `BufReader` reads into a buffer of its own and hands callers what they ask for from it
//! (a copy into their buffer, or a borrow with `fill_buf`); `read_until` / `read_line` scan it.
//! A `BufWriter` gathers small writes and sends them in one write when full or on `flush`.
//! A read of the buffer cancelled in flight loses nothing: the stream keeps what the kernel
//! received (corio's lossless cancellation) and the next fill gets it.

use super::{AsyncReadRent, AsyncWriteRent, BufResult, IoBuf, IoBufMut};
use std::io;

const DEFAULT_CAPACITY: usize = 8 << 10;

/// Buffered reading, with `read_line` and `read_until`.
///
/// ```
/// use corio::io::BufReader;
///
/// corio::block_on(async {
///     let (a, b) = corio::net::UnixStream::pair()?;
///     let (res, _) = a.write_all(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..]).await;
///     res?;
///     let mut reader = BufReader::new(b);
///     let mut line = String::new();
///     reader.read_line(&mut line).await?;
///     assert_eq!(line, "GET / HTTP/1.1\r\n");
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
#[derive(Debug)]
pub struct BufReader<R> {
    inner: R,
    /// `None` while a fill was dropped in flight (its buffer went with the operation).
    buf: Option<Vec<u8>>,
    pos: usize,
    capacity: usize,
}

impl<R: AsyncReadRent> BufReader<R> {
    /// A reader with an 8 KiB buffer.
    pub fn new(inner: R) -> Self {
        BufReader::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// A reader with a buffer of `capacity` bytes (at least 1).
    pub fn with_capacity(capacity: usize, inner: R) -> Self {
        let capacity = capacity.max(1);
        BufReader {
            inner,
            buf: Some(Vec::with_capacity(capacity)),
            pos: 0,
            capacity,
        }
    }

    /// The bytes buffered and not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b[self.pos..],
            None => &[],
        }
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The stream underneath (reading from it directly skips the buffered bytes).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The stream; buffered bytes are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The buffered bytes, reading more first if there are none; empty at end of stream.
    pub async fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buffer().is_empty() {
            let mut buf = self
                .buf
                .take()
                .unwrap_or_else(|| Vec::with_capacity(self.capacity));
            buf.clear();
            self.pos = 0;
            let (res, buf) = self.inner.read(buf).await;
            self.buf = Some(buf);
            res?;
        }
        Ok(self.buffer())
    }

    /// Marks `n` buffered bytes as used (at most what is buffered).
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.as_ref().map_or(0, Vec::len));
    }

    /// Appends bytes to `out` up to and including `byte`, or to end of stream; returns how
    /// many were appended (0: end of stream).
    pub async fn read_until(&mut self, byte: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut total = 0;
        loop {
            let avail = self.fill_buf().await?;
            if avail.is_empty() {
                return Ok(total);
            }
            let (n, done) = match avail.iter().position(|b| *b == byte) {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            out.extend_from_slice(&avail[..n]);
            self.consume(n);
            total += n;
            if done {
                return Ok(total);
            }
        }
    }

    /// Appends a line, `\n` included, to `out`; returns how many bytes (0: end of stream).
    /// Bytes that are not UTF-8 are `InvalidData`, and `out` is left as it was.
    pub async fn read_line(&mut self, out: &mut String) -> io::Result<usize> {
        let mut bytes = Vec::new();
        let n = self.read_until(b'\n', &mut bytes).await?;
        let line = String::from_utf8(bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "line is not UTF-8"))?;
        out.push_str(&line);
        Ok(n)
    }
}

impl<R: AsyncReadRent> AsyncReadRent for BufReader<R> {
    async fn read<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<usize, B> {
        if let Err(e) = crate::buf::check_room(&buf) {
            return (Err(e), buf);
        }
        let (_, room) = crate::buf::spare_mut(&mut buf);
        if self.buffer().is_empty() && room >= self.capacity {
            // A large read gains nothing from the buffer.
            return self.inner.read(buf).await;
        }
        let avail = match self.fill_buf().await {
            Ok(a) => a,
            Err(e) => return (Err(e), buf),
        };
        let n = avail.len().min(room);
        let (dst, _) = crate::buf::spare_mut(&mut buf);
        // SAFETY: `dst` has room for `room >= n` bytes (spare capacity), and `avail` is our
        // own buffer, so the two do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(avail.as_ptr(), dst, n) };
        // SAFETY: the `n` bytes at the spare capacity's start were just written.
        unsafe { crate::buf::advance_init(&mut buf, n) };
        self.consume(n);
        (Ok(n), buf)
    }

    async fn ready(&mut self) -> io::Result<()> {
        if self.buffer().is_empty() {
            self.inner.ready().await
        } else {
            Ok(())
        }
    }
}

impl<R: AsyncReadRent + AsyncWriteRent> AsyncWriteRent for BufReader<R> {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        self.inner.write(buf).await
    }
    async fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().await
    }
    async fn shutdown(&mut self) -> io::Result<()> {
        self.inner.shutdown().await
    }
}

/// Buffered writing: small writes are gathered and sent together when the buffer fills or on
/// [`flush`](AsyncWriteRent::flush). Bytes still buffered when it is dropped are lost: flush
/// (or shut down) first.
///
/// ```
/// use corio::io::{AsyncWriteRent, BufWriter};
///
/// corio::block_on(async {
///     let (a, b) = corio::net::UnixStream::pair()?;
///     let mut w = BufWriter::new(a);
///     for word in ["one ", "two ", "three"] {
///         w.write_all(word.as_bytes().to_vec()).await.0?; // buffered
///     }
///     w.flush().await?; // one write
///     let (res, buf) = b.read_exact(Vec::with_capacity(13)).await;
///     res?;
///     assert_eq!(buf, b"one two three");
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
#[derive(Debug)]
pub struct BufWriter<W> {
    inner: W,
    /// `None` while a flush was dropped in flight (its bytes went with the operation).
    buf: Option<Vec<u8>>,
    capacity: usize,
}

impl<W: AsyncWriteRent> BufWriter<W> {
    /// A writer with an 8 KiB buffer.
    pub fn new(inner: W) -> Self {
        BufWriter::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// A writer with a buffer of `capacity` bytes (at least 1).
    pub fn with_capacity(capacity: usize, inner: W) -> Self {
        let capacity = capacity.max(1);
        BufWriter {
            inner,
            buf: Some(Vec::with_capacity(capacity)),
            capacity,
        }
    }

    /// The bytes buffered and not yet sent.
    pub fn buffer(&self) -> &[u8] {
        self.buf.as_deref().unwrap_or(&[])
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The stream underneath (writing to it directly overtakes the buffered bytes).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The stream; buffered bytes are lost (flush first).
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Sends the buffered bytes.
    async fn flush_buf(&mut self) -> io::Result<()> {
        let Some(buf) = self.buf.take() else {
            self.buf = Some(Vec::with_capacity(self.capacity));
            return Ok(());
        };
        if buf.is_empty() {
            self.buf = Some(buf);
            return Ok(());
        }
        let (res, mut buf) = self.inner.write_all(buf).await;
        buf.clear();
        self.buf = Some(buf);
        res
    }
}

impl<W: AsyncWriteRent> AsyncWriteRent for BufWriter<W> {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        let len = buf.bytes_init();
        if self.buffer().len() + len > self.capacity {
            if let Err(e) = self.flush_buf().await {
                return (Err(e), buf);
            }
        }
        if len >= self.capacity {
            return self.inner.write(buf).await;
        }
        // SAFETY: `stable_ptr` points to `bytes_init()` initialized bytes (IoBuf contract).
        let bytes = unsafe { std::slice::from_raw_parts(buf.stable_ptr(), len) };
        self.buf
            .get_or_insert_with(|| Vec::with_capacity(self.capacity))
            .extend_from_slice(bytes);
        (Ok(len), buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.flush_buf().await?;
        self.inner.flush().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.flush_buf().await?;
        self.inner.shutdown().await
    }
}

impl<W: AsyncWriteRent + AsyncReadRent> AsyncReadRent for BufWriter<W> {
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        self.inner.read(buf).await
    }
    async fn ready(&mut self) -> io::Result<()> {
        self.inner.ready().await
    }
}
