//! [`OwnedStream`]: the three owned-buffer operations the compat layer needs from a stream,
//! taken from corio's I/O traits (`corio::io::AsyncReadRent` / `AsyncWriteRent`).

use corio::buf::BufResult;
use corio::io::{AsyncReadRent, AsyncWriteRent};
use std::future::Future;
use std::io;

/// A byte stream with corio's owned-buffer I/O: what [`Compat`](crate::Compat) wraps.
///
/// Implemented for every stream whose shared reference implements corio's
/// `AsyncReadRent + AsyncWriteRent` (`corio::net::TcpStream`, `corio::net::UnixStream`): the
/// compat layer runs a read and a write at once, so it needs both from `&self`. An
/// implementation must keep corio's read contract: a `read_owned` future dropped while in
/// flight loses no bytes (the next `read_owned` returns them).
pub trait OwnedStream: 'static {
    /// Reads what is available into `buf`'s spare capacity; `Ok(0)` only at EOF.
    fn read_owned(&self, buf: Vec<u8>) -> impl Future<Output = BufResult<usize, Vec<u8>>>;

    /// Writes every byte of `buf`, looping over short writes.
    fn write_all_owned(&self, buf: Vec<u8>) -> impl Future<Output = BufResult<(), Vec<u8>>>;

    /// Shuts down the write half (the peer reads EOF).
    fn shutdown_write(&self) -> impl Future<Output = io::Result<()>>;
}

impl<S: 'static> OwnedStream for S
where
    for<'a> &'a S: AsyncReadRent + AsyncWriteRent,
{
    async fn read_owned(&self, buf: Vec<u8>) -> BufResult<usize, Vec<u8>> {
        let mut s = self;
        s.read(buf).await
    }

    async fn write_all_owned(&self, buf: Vec<u8>) -> BufResult<(), Vec<u8>> {
        let mut s = self;
        s.write_all(buf).await
    }

    async fn shutdown_write(&self) -> io::Result<()> {
        let mut s = self;
        AsyncWriteRent::shutdown(&mut s).await
    }
}
