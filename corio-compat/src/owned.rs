//! [`OwnedStream`]: the three owned-buffer operations the compat layer needs from a stream,
//! with the futures of the two on the hot path named, so that [`Compat`](crate::Compat) holds
//! them in its own fields and polls them from `poll_read` / `poll_write`.

use corio::buf::BufResult;
use corio::net::{ReadFuture, TcpStream, UnixStream, WriteAllFuture};
use std::future::Future;
use std::io;
use std::net::Shutdown;

/// A byte stream with corio's owned-buffer I/O: what [`Compat`](crate::Compat) wraps.
///
/// Implemented for [`corio::net::TcpStream`] and [`corio::net::UnixStream`], whose `read` and
/// `write_all` return the named futures [`corio::net::ReadFuture`] and
/// [`corio::net::WriteAllFuture`]. `Compat` keeps the future of the read and of the write in
/// flight in its own fields and polls them in place, with the caller's context: no boxing, no
/// task of its own.
///
/// To wrap another stream, implement this trait by hand; a stream whose futures cannot be
/// named can use `Pin<Box<dyn Future<Output = ...>>>` for [`Read`](Self::Read) and
/// [`WriteAll`](Self::WriteAll) (one allocation per operation). An implementation must keep
/// corio's contract:
///
/// - the futures own what they use (the buffer, a reference to the socket) and borrow
///   nothing from `self`: the compat layer holds them beside the stream;
/// - a [`Read`](Self::Read) future dropped while in flight loses no bytes (the next
///   [`read_owned`](Self::read_owned) returns them), and a future dropped in flight never lets
///   the kernel write into, or read from, freed memory.
pub trait OwnedStream: 'static {
    /// The future of [`read_owned`](Self::read_owned).
    type Read: Future<Output = BufResult<usize, Vec<u8>>> + Unpin + 'static;

    /// The future of [`write_all_owned`](Self::write_all_owned).
    type WriteAll: Future<Output = BufResult<(), Vec<u8>>> + Unpin + 'static;

    /// Reads what is available into `buf`'s spare capacity; `Ok(0)` only at EOF.
    fn read_owned(&self, buf: Vec<u8>) -> Self::Read;

    /// Writes every byte of `buf`, looping over short writes.
    fn write_all_owned(&self, buf: Vec<u8>) -> Self::WriteAll;

    /// Shuts down the write half (the peer reads EOF).
    fn shutdown_write(&self) -> impl Future<Output = io::Result<()>>;
}

/// `OwnedStream` for corio's byte-stream sockets, over their inherent methods.
macro_rules! owned_stream {
    ($($ty:ty),+) => {$(
        impl OwnedStream for $ty {
            type Read = ReadFuture<Vec<u8>>;
            type WriteAll = WriteAllFuture<Vec<u8>>;

            #[inline(always)]
            fn read_owned(&self, buf: Vec<u8>) -> ReadFuture<Vec<u8>> {
                self.read(buf)
            }

            #[inline(always)]
            fn write_all_owned(&self, buf: Vec<u8>) -> WriteAllFuture<Vec<u8>> {
                self.write_all(buf)
            }

            fn shutdown_write(&self) -> impl Future<Output = io::Result<()>> {
                self.shutdown(Shutdown::Write)
            }
        }
    )+};
}

owned_stream!(TcpStream, UnixStream);
