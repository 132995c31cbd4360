//! Owned halves: `TcpStream::into_split` / `UnixStream::into_split` give a read half and a
//! write half that two tasks can own. (Borrowed halves need no type: corio's streams take
//! `&self`, so `(&stream, &stream)` is a reader and a writer.)
//!
//! Dropping the write half shuts the write direction down (the peer reads EOF), as tokio's
//! does; [`OwnedWriteHalf::forget`] keeps it open. [`OwnedReadHalf::reunite`] puts the two
//! back together.

use super::{AsyncReadRent, AsyncWriteRent, BufResult, IoBuf, IoBufMut};
use crate::net::{TcpStream, UnixStream};
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

/// The reading half of a stream split with `into_split`.
#[derive(Debug)]
pub struct OwnedReadHalf<S> {
    inner: Rc<S>,
}

/// The writing half of a stream split with `into_split`; shuts the write direction down when
/// dropped.
#[derive(Debug)]
pub struct OwnedWriteHalf<S: AsRawFd> {
    inner: Rc<S>,
    shutdown_on_drop: bool,
}

/// The halves given to `reunite` came from different streams; they come back.
pub struct ReuniteError<S: AsRawFd>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>);

impl<S: AsRawFd> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S: AsRawFd> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the halves are of different streams")
    }
}

impl<S: AsRawFd> std::error::Error for ReuniteError<S> {}

fn split<S: AsRawFd>(s: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let inner = Rc::new(s);
    (
        OwnedReadHalf {
            inner: inner.clone(),
        },
        OwnedWriteHalf {
            inner,
            shutdown_on_drop: true,
        },
    )
}

impl TcpStream {
    /// Splits the stream into halves that two tasks can own; see
    /// [`UnixStream::into_split`].
    pub fn into_split(self) -> (OwnedReadHalf<TcpStream>, OwnedWriteHalf<TcpStream>) {
        split(self)
    }
}

impl UnixStream {
    /// Splits the stream into halves that two tasks can own (see [`corio::io`](crate::io)).
    ///
    /// ```
    /// corio::block_on(async {
    ///     let (a, b) = corio::net::UnixStream::pair()?;
    ///     let (mut r, mut w) = a.into_split();
    ///     use corio::io::{AsyncReadRent, AsyncWriteRent};
    ///     let writer = corio::spawn(async move { w.write_all(&b"half"[..]).await.0 });
    ///     writer.await.unwrap()?; // the write half dropped: b reads EOF after the bytes
    ///     let (res, buf) = b.read_exact(Vec::with_capacity(4)).await;
    ///     res?;
    ///     assert_eq!(buf, b"half");
    ///     let (n, _) = b.read(Vec::with_capacity(1)).await;
    ///     assert_eq!(n?, 0);
    ///     let (res, _) = b.write_all(&b"!"[..]).await;
    ///     res?;
    ///     let (n, _) = r.read(Vec::with_capacity(1)).await;
    ///     assert_eq!(n?, 1);
    ///     Ok::<(), std::io::Error>(())
    /// }).unwrap();
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        split(self)
    }
}

impl<S: AsRawFd> OwnedReadHalf<S> {
    /// Puts the halves back together; fails (giving them back) if they are of different
    /// streams.
    pub fn reunite(self, mut write: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
        if !Rc::ptr_eq(&self.inner, &write.inner) {
            return Err(ReuniteError(self, write));
        }
        write.shutdown_on_drop = false;
        drop(write);
        match Rc::try_unwrap(self.inner) {
            Ok(s) => Ok(s),
            Err(_) => unreachable!("both halves were given, so no other reference exists"),
        }
    }

    /// The stream both halves share.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsRawFd> OwnedWriteHalf<S> {
    /// Drops the half without shutting the write direction down.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }

    /// The stream both halves share.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsRawFd> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // shutdown(2) does not block; its error (the peer already gone) changes nothing.
            let _ = crate::sys::syscall!(shutdown(self.inner.as_raw_fd(), libc::SHUT_WR));
        }
    }
}

macro_rules! half_io {
    ($($ty:ty),+) => {$(
        impl AsyncReadRent for OwnedReadHalf<$ty> {
            async fn read<B: IoBufMut>(&mut self, buf: B) -> BufResult<usize, B> {
                self.inner.read(buf).await
            }
            async fn ready(&mut self) -> io::Result<()> {
                self.inner.readable().await
            }
        }

        impl AsyncWriteRent for OwnedWriteHalf<$ty> {
            async fn write<B: IoBuf>(&mut self, buf: B) -> BufResult<usize, B> {
                self.inner.write(buf).await
            }
            async fn writev<B: IoBuf>(&mut self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
                self.inner.writev(bufs).await
            }
            async fn write_all<B: IoBuf>(&mut self, buf: B) -> BufResult<(), B> {
                self.inner.write_all(buf).await
            }
            async fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
            async fn shutdown(&mut self) -> io::Result<()> {
                self.inner.shutdown(std::net::Shutdown::Write).await
            }
        }
    )+};
}

half_io!(TcpStream, UnixStream);
