//! The traits on corio's own types: sockets (by value and by shared reference, forwarding to
//! their inherent methods), and files at a cursor.

use super::{AsyncReadRent, AsyncStream, AsyncWriteRent, BufResult, IoBuf, IoBufMut};
use crate::fs::File;
use crate::net::unix::pipe;
use crate::net::{TcpStream, UnixStream};
use std::future::Future;
use std::io;
use std::net::Shutdown;

/// The traits for a socket type `$ty` and for `&$ty`, over its inherent `&self` methods.
macro_rules! socket_io {
    ($($ty:ty),+) => {$(
        impl AsyncReadRent for $ty {
            #[inline(always)]
            fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                <$ty>::read(self, buf)
            }
            fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
                <$ty>::read_exact(self, buf)
            }
            fn ready(&mut self) -> impl Future<Output = io::Result<()>> {
                <$ty>::readable(self)
            }
            fn read_pooled(
                &mut self,
                ring: &crate::net::BufRing,
            ) -> impl Future<Output = io::Result<crate::net::PooledBuf>> {
                <$ty>::read_pooled(self, ring)
            }
        }

        impl AsyncReadRent for &$ty {
            #[inline(always)]
            fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                <$ty>::read(self, buf)
            }
            fn read_exact<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
                <$ty>::read_exact(self, buf)
            }
            fn ready(&mut self) -> impl Future<Output = io::Result<()>> {
                <$ty>::readable(self)
            }
            fn read_pooled(
                &mut self,
                ring: &crate::net::BufRing,
            ) -> impl Future<Output = io::Result<crate::net::PooledBuf>> {
                <$ty>::read_pooled(self, ring)
            }
        }

        impl AsyncWriteRent for $ty {
            fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                <$ty>::write(self, buf)
            }
            fn writev<B: IoBuf>(&mut self, bufs: Vec<B>) -> impl Future<Output = BufResult<usize, Vec<B>>> {
                <$ty>::writev(self, bufs)
            }
            #[inline(always)]
            fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
                <$ty>::write_all(self, buf)
            }
            async fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
            fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
                <$ty>::shutdown(self, Shutdown::Write)
            }
        }

        impl AsyncWriteRent for &$ty {
            fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
                <$ty>::write(self, buf)
            }
            fn writev<B: IoBuf>(&mut self, bufs: Vec<B>) -> impl Future<Output = BufResult<usize, Vec<B>>> {
                <$ty>::writev(self, bufs)
            }
            #[inline(always)]
            fn write_all<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<(), B>> {
                <$ty>::write_all(self, buf)
            }
            async fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
            fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
                <$ty>::shutdown(self, Shutdown::Write)
            }
        }
    )+};
}

socket_io!(TcpStream, UnixStream);

impl AsyncStream for TcpStream {
    type Reader<'a> = &'a TcpStream;
    type Writer<'a> = &'a TcpStream;
    fn split_io(&mut self) -> (&TcpStream, &TcpStream) {
        (self, self)
    }
    fn as_tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl AsyncStream for &TcpStream {
    type Reader<'a>
        = &'a TcpStream
    where
        Self: 'a;
    type Writer<'a>
        = &'a TcpStream
    where
        Self: 'a;
    fn split_io(&mut self) -> (&TcpStream, &TcpStream) {
        (self, self)
    }
    fn as_tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl AsyncStream for UnixStream {
    type Reader<'a> = &'a UnixStream;
    type Writer<'a> = &'a UnixStream;
    fn split_io(&mut self) -> (&UnixStream, &UnixStream) {
        (self, self)
    }
}

impl AsyncStream for &UnixStream {
    type Reader<'a>
        = &'a UnixStream
    where
        Self: 'a;
    type Writer<'a>
        = &'a UnixStream
    where
        Self: 'a;
    fn split_io(&mut self) -> (&UnixStream, &UnixStream) {
        (self, self)
    }
}

/// A file reads and writes at its cursor ([`File::position`]), which each read and write
/// moves on by what it moved; the positional methods (`read_at`, `write_at`) leave it alone.
impl AsyncReadRent for File {
    async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
        let pos = self.position();
        let (res, buf) = self.read_at(buf, pos).await;
        if let Ok(n) = res {
            self.set_position(pos + n as u64);
        }
        (res, buf)
    }
}

impl AsyncWriteRent for File {
    async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
        let pos = self.position();
        let (res, buf) = self.write_at(buf, pos).await;
        if let Ok(n) = res {
            self.set_position(pos + n as u64);
        }
        (res, buf)
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Nothing to shut: a file has no write direction to close (use `sync_all` to make the
    /// data durable).
    async fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncReadRent for pipe::Receiver {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        pipe::Receiver::read(self, buf)
    }
}

impl AsyncReadRent for &pipe::Receiver {
    fn read<B: IoBufMut>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        pipe::Receiver::read(self, buf)
    }
}

impl AsyncWriteRent for pipe::Sender {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        pipe::Sender::write(self, buf)
    }
    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Closes the pipe's writing end: the reader sees end of stream.
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        pipe::Sender::close(self)
    }
}

impl AsyncWriteRent for &pipe::Sender {
    fn write<B: IoBuf>(&mut self, buf: B) -> impl Future<Output = BufResult<usize, B>> {
        pipe::Sender::write(self, buf)
    }
    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> {
        pipe::Sender::close(self)
    }
}
