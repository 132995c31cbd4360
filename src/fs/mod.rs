//! Files, with the same owned-buffer API as sockets.
//!
//! Regular files cannot be polled by epoll, so the two drivers differ here: on io_uring, reads,
//! writes and fsync are SQEs like any socket operation; on the readiness driver they are plain
//! blocking syscalls (pread, pwrite, fsync) made on the executor's thread — there is no
//! blocking pool, so a slow disk stalls that executor for the duration of the call. Opening a
//! file is a plain `open(2)` on both.
//!
//! ```no_run
//! # corio::block_on(async {
//! use corio::fs::File;
//! let file = File::create("/tmp/corio-example")?;
//! let (res, _) = file.write_all_at(&b"hello"[..], 0).await;
//! res?;
//! let (res, buf) = file.read_at(Vec::with_capacity(5), 0).await;
//! assert_eq!(&buf[..res?], b"hello");
//! # std::io::Result::Ok(()) });
//! ```

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::op::{close, fsync, read, write_at};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

/// An open file. Reads and writes take an offset (pread/pwrite): there is no shared cursor.
pub struct File {
    fd: SharedFd,
}

impl File {
    /// Opens an existing file for reading.
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        File::from_std(std::fs::File::open(path)?)
    }

    /// Creates (or truncates) a file for writing and reading.
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        File::from_std(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)?,
        )
    }

    /// Adopts a file opened with std (any `OpenOptions`). Must be called inside a runtime.
    pub fn from_std(file: std::fs::File) -> io::Result<File> {
        Ok(File {
            fd: SharedFd::new_unpolled(OwnedFd::from(file))?,
        })
    }

    /// Reads at `pos` into `buf`'s spare capacity; returns the count, 0 at end of file.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        read::read(&self.fd, buf, Some(pos)).await
    }

    /// Reads at `pos` until `buf` is full; end of file first is `UnexpectedEof`.
    pub async fn read_exact_at<B: IoBufMut>(&self, mut buf: B, mut pos: u64) -> BufResult<(), B> {
        if let Err(e) = crate::buf::check_room(&buf) {
            return (Err(e), buf);
        }
        while buf.bytes_init() < buf.bytes_total() {
            let (res, b) = read::read(&self.fd, buf, Some(pos)).await;
            buf = b;
            match res {
                Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
                Ok(n) => pos += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Writes `buf`'s initialized bytes at `pos`, once; returns how many were written.
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        write_at::write_at(&self.fd, buf, pos).await
    }

    /// Writes all of `buf`'s initialized bytes at `pos`, looping over short writes.
    pub async fn write_all_at<B: IoBuf>(&self, mut buf: B, pos: u64) -> BufResult<(), B> {
        let total = buf.bytes_init();
        let mut done = 0;
        while done < total {
            let (res, slice) =
                write_at::write_at(&self.fd, buf.slice(done..total), pos + done as u64).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Flushes data and metadata to the device (fsync).
    pub async fn sync_all(&self) -> io::Result<()> {
        fsync::fsync(&self.fd).await
    }

    /// Closes the file and reports close(2)'s result.
    pub async fn close(&self) -> io::Result<()> {
        close::close(&self.fd).await
    }
}

crate::net::fd_traits!(File);
