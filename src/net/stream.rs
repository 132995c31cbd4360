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
pub(crate) async fn read_exact<B: IoBufMut>(fd: &SharedFd, mut buf: B) -> BufResult<(), B> {
    while buf.bytes_init() < buf.bytes_total() {
        let (res, b) = recv::recv(fd, buf, false).await;
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

/// The owned-buffer I/O methods of a byte stream over `self.fd` (TCP and Unix streams).
macro_rules! stream_io_methods {
    () => {
        /// Reads what is available into `buf`'s spare capacity (a `Vec` gets its length set).
        /// Returns 0 at EOF. Cancel-safe: bytes a dropped read received are returned next.
        pub async fn read<B: $crate::buf::IoBufMut>(
            &self,
            buf: B,
        ) -> $crate::buf::BufResult<usize, B> {
            $crate::op::recv::recv(&self.fd, buf, false).await
        }

        /// Reads until `buf` is full (for a `Vec`: until its length reaches its capacity).
        /// EOF before that is `UnexpectedEof`.
        pub async fn read_exact<B: $crate::buf::IoBufMut>(
            &self,
            buf: B,
        ) -> $crate::buf::BufResult<(), B> {
            $crate::net::stream::read_exact(&self.fd, buf).await
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

        /// Closes the stream and reports close(2)'s result. Other tasks' operations on it fail
        /// with `NotConnected` ("use of closed network connection").
        pub async fn close(self) -> std::io::Result<()> {
            $crate::op::close::close(self.fd).await
        }
    };
}
pub(crate) use stream_io_methods;
