//! The byte-stream loops shared by TCP and Unix streams.

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::op::{recv, send};
use std::io;

/// Sends every initialized byte of `buf`, looping over short writes.
pub(crate) async fn write_all<B: IoBuf>(fd: &SharedFd, mut buf: B) -> BufResult<(), B> {
    let total = buf.bytes_init();
    let mut written = 0;
    while written < total {
        let (res, slice) = send::send(fd, buf.slice(written..total)).await;
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

/// Reads until `buf` is full (`bytes_init() == bytes_total()`); EOF first is `UnexpectedEof`.
pub(crate) async fn read_exact<B: IoBufMut>(
    fd: &SharedFd,
    mut buf: B,
    kind: recv::ReadKind,
) -> BufResult<(), B> {
    if buf.bytes_init() == buf.bytes_total() {
        return (Err(recv::no_room()), buf);
    }
    while buf.bytes_init() < buf.bytes_total() {
        let (res, b) = recv::recv(fd, buf, kind).await;
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

/// Go's SetDeadline / SetReadDeadline / SetWriteDeadline over `self.fd` (streams and UDP).
macro_rules! deadline_methods {
    () => {
        /// Sets the read deadline: reads waiting now or started later fail with
        /// `ErrorKind::TimedOut` once `deadline` passes (a read never started after it fails at
        /// once); `None` removes it. The socket stays usable: move or clear the deadline and
        /// read again. On io_uring an expired read is cancelled and its buffer returned; if
        /// data raced the cancel, the data is returned instead of the error. Same on both
        /// drivers.
        ///
        /// ```no_run
        /// # corio::block_on(async {
        /// use std::time::{Duration, Instant};
        /// let stream = corio::net::TcpStream::connect("127.0.0.1:7").await?;
        /// stream.set_read_deadline(Some(Instant::now() + Duration::from_secs(5)));
        /// let (res, _buf) = stream.read(Vec::with_capacity(4096)).await;
        /// if let Err(e) = &res {
        ///     assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        /// }
        /// # std::io::Result::Ok(()) });
        /// ```
        pub fn set_read_deadline(&self, deadline: Option<std::time::Instant>) {
            self.fd
                .set_deadline($crate::driver::epoll::Direction::Read, deadline);
        }

        /// Sets the write deadline; see [`set_read_deadline`](Self::set_read_deadline). A
        /// `write_all` that passes it fails with `TimedOut` having sent a prefix of the buffer.
        pub fn set_write_deadline(&self, deadline: Option<std::time::Instant>) {
            self.fd
                .set_deadline($crate::driver::epoll::Direction::Write, deadline);
        }

        /// Sets both the read and the write deadline.
        pub fn set_deadline(&self, deadline: Option<std::time::Instant>) {
            self.set_read_deadline(deadline);
            self.set_write_deadline(deadline);
        }

        /// The read deadline, if set.
        pub fn read_deadline(&self) -> Option<std::time::Instant> {
            self.fd.deadline($crate::driver::epoll::Direction::Read)
        }

        /// The write deadline, if set.
        pub fn write_deadline(&self) -> Option<std::time::Instant> {
            self.fd.deadline($crate::driver::epoll::Direction::Write)
        }
    };
}
pub(crate) use deadline_methods;

/// The owned-buffer I/O methods of a byte stream over `self.fd` (TCP and Unix streams).
macro_rules! stream_io_methods {
    () => {
        $crate::net::stream::deadline_methods!();

        /// Reads what is available into `buf`'s spare capacity, `bytes_init..bytes_total` (a
        /// `Vec` keeps its bytes and gets its length set). Returns 0 only at EOF; a buffer with
        /// no spare capacity (e.g. `vec![0; n]` or a `Box<[u8]>`) is `InvalidInput`.
        /// Cancel-safe: bytes a dropped read received are returned next.
        pub async fn read<B: $crate::buf::IoBufMut>(
            &self,
            buf: B,
        ) -> $crate::buf::BufResult<usize, B> {
            $crate::op::recv::recv(&self.fd, buf, Self::READ_KIND).await
        }

        /// Reads until `buf` is full (for a `Vec`: until its length reaches its capacity).
        /// EOF before that is `UnexpectedEof`; a buffer already full is `InvalidInput`.
        pub async fn read_exact<B: $crate::buf::IoBufMut>(
            &self,
            buf: B,
        ) -> $crate::buf::BufResult<(), B> {
            $crate::net::stream::read_exact(&self.fd, buf, Self::READ_KIND).await
        }

        /// Writes some of `buf`'s initialized bytes; returns how many.
        pub async fn write<B: $crate::buf::IoBuf>(
            &self,
            buf: B,
        ) -> $crate::buf::BufResult<usize, B> {
            $crate::op::send::send(&self.fd, buf).await
        }

        /// Writes all of `buf`'s initialized bytes, looping over short writes.
        pub async fn write_all<B: $crate::buf::IoBuf>(
            &self,
            buf: B,
        ) -> $crate::buf::BufResult<(), B> {
            $crate::net::stream::write_all(&self.fd, buf).await
        }

        /// Writes the buffers in order with one sendmsg (or SQE); returns how many bytes went.
        pub async fn writev<B: $crate::buf::IoBuf>(
            &self,
            bufs: Vec<B>,
        ) -> $crate::buf::BufResult<usize, Vec<B>> {
            $crate::op::writev::writev(&self.fd, bufs).await
        }

        /// Shuts down the read, write, or both halves.
        pub async fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
            $crate::op::shutdown::shutdown(&self.fd, how).await
        }

        /// Closes the stream (Go's Close). Operations parked or in flight on it, in any task,
        /// fail with `NotConnected` ("use of closed network connection"), and so do later
        /// ones. If no operation is using the fd, it is closed now and close(2)'s result is
        /// returned; otherwise the fd number is released once those operations have finished
        /// and the stream is dropped, so it is never reused under them. Idempotent.
        pub async fn close(&self) -> std::io::Result<()> {
            $crate::op::close::close(&self.fd).await
        }
    };
}
pub(crate) use stream_io_methods;
