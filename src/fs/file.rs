//! [`File`]: positional, owned-buffer I/O on an open file.

use super::{Metadata, OpenOptions};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::op::{close, fsync, read, statx, truncate, write_at};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

/// An open file. Reads and writes take an offset (pread/pwrite): there is no shared cursor, so
/// one `File` can serve many concurrent reads (share it with `Rc`).
///
/// Every operation is an SQE on io_uring and a job on the blocking pool on epoll; buffers go in
/// by value and come back in every outcome. Dropping a read's future in flight returns nothing
/// (a file read keeps no stash), but its buffer is held by the driver until the kernel or the
/// pool thread is done with it.
pub struct File {
    fd: SharedFd,
    /// Where `corio::io`'s `read` / `write` go next (the positional methods ignore it).
    cursor: std::cell::Cell<u64>,
}

impl File {
    /// Opens an existing file for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Creates a file, or truncates an existing one, for reading and writing (mode 0o666 less
    /// the umask).
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Options for opening a file (`File::options().append(true).open(p)`).
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Adopts a file opened with std (any `OpenOptions`). Must be called inside a runtime.
    pub fn from_std(file: std::fs::File) -> io::Result<File> {
        File::from_owned(OwnedFd::from(file))
    }

    pub(crate) fn from_owned(fd: OwnedFd) -> io::Result<File> {
        Ok(File {
            fd: SharedFd::new_unpolled(fd)?,
            cursor: std::cell::Cell::new(0),
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

    /// Where the `AsyncReadRent` / `AsyncWriteRent` methods read and write next (0 when
    /// opened; an append-mode file's writes go to its end whatever this says).
    pub fn position(&self) -> u64 {
        self.cursor.get()
    }

    /// Moves the cursor (a seek; the file is not touched).
    pub fn set_position(&self, pos: u64) {
        self.cursor.set(pos);
    }

    /// Flushes data and metadata to the device (fsync).
    pub async fn sync_all(&self) -> io::Result<()> {
        fsync::fsync(&self.fd, false).await
    }

    /// Flushes the data, and only the metadata needed to read it back (fdatasync).
    pub async fn sync_data(&self) -> io::Result<()> {
        fsync::fsync(&self.fd, true).await
    }

    /// The file's metadata (statx of the open file).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        statx::stat_fd(&self.fd).await.map(Metadata::from_statx)
    }

    /// Truncates or extends the file to `len` bytes (ftruncate: an extension reads as zeros).
    /// `IORING_OP_FTRUNCATE` where the kernel has it (Linux 6.9), else on the blocking pool.
    pub async fn set_len(&self, len: u64) -> io::Result<()> {
        truncate::set_len(&self.fd, len).await
    }

    /// Reserves disk blocks for `offset..offset + len` (fallocate, mode 0), growing the file
    /// if it is shorter; never shrinks it (use [`set_len`](Self::set_len)).
    pub async fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        truncate::allocate(&self.fd, offset, len).await
    }

    /// Closes the file and reports close(2)'s result (`IORING_OP_CLOSE` on io_uring). If an
    /// operation still uses the fd, it is closed when that operation ends.
    pub async fn close(&self) -> io::Result<()> {
        close::close(&self.fd).await
    }
}

crate::net::fd_traits!(File);
