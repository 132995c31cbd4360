//! Files, with the same owned-buffer API as sockets.
//!
//! io_uring reads a file like a socket: open, read, write, fsync, statx, rename, unlink, mkdir,
//! truncate and fallocate are SQEs (`IORING_OP_OPENAT`, `READ`, `WRITE`, ...), completed by the
//! kernel while the executor runs other tasks. The readiness model cannot wait on a regular
//! file (epoll refuses it, and its syscalls block), so on the epoll driver each of these runs on
//! the blocking pool: one hop to a pool thread and back per operation, but the executor's
//! thread never blocks on the disk. An io_uring whose kernel lacks one of the file opcodes runs
//! just that operation on the pool (see `DriverInfo::fallback_ops`).
//!
//! Every path is copied into an owned `CString` that the operation keeps until its result is
//! back; a path with a NUL byte is `InvalidInput`. A dropped `open` closes the file it opened.
//!
//! ```no_run
//! # corio::block_on(async {
//! use corio::fs::File;
//! let file = File::create("/tmp/corio-example").await?;
//! let (res, _) = file.write_all_at(&b"hello"[..], 0).await;
//! res?;
//! let (res, buf) = file.read_at(Vec::with_capacity(5), 0).await;
//! assert_eq!(&buf[..res?], b"hello");
//! assert_eq!(corio::fs::read("/tmp/corio-example").await?, b"hello");
//! # std::io::Result::Ok(()) });
//! ```

mod file;
mod metadata;
mod open_options;

pub use file::File;
pub use metadata::{FileType, Metadata};
pub use open_options::OpenOptions;

use crate::buf::IoBuf;
use crate::op::{path as path_op, statx};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Read size of [`read`] once the file's reported length is reached (it may have grown, or be
/// a file whose size says nothing, like those in /proc).
const READ_CHUNK: usize = 64 << 10;

/// The path as the kernel takes it: an owned, NUL-terminated copy.
pub(crate) fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a path with a NUL byte cannot be passed to the kernel",
        )
    })
}

/// Reads a whole file into a `Vec`: open, statx for the size, reads until end of file, close.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let file = File::open(path).await?;
    let hint = file.metadata().await.map_or(0, |m| m.len()) as usize;
    let mut buf = Vec::with_capacity(hint.max(1));
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(READ_CHUNK);
        }
        let pos = buf.len() as u64;
        let (res, b) = file.read_at(buf, pos).await;
        buf = b;
        match res {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    file.close().await?;
    Ok(buf)
}

/// Writes `contents` as the whole of a file, creating it (mode 0o666 less the umask) or
/// truncating it first.
pub async fn write<B: IoBuf>(path: impl AsRef<Path>, contents: B) -> io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .await?;
    let (res, _) = file.write_all_at(contents, 0).await;
    res?;
    file.close().await
}

/// Renames `from` to `to`, replacing `to` if it exists (rename(2)).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    path_op::rename(cstring(from.as_ref())?, cstring(to.as_ref())?).await
}

/// Removes a file (unlink(2)); a directory is refused (`IsADirectory`).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    path_op::unlink(cstring(path.as_ref())?, false).await
}

/// Removes an empty directory (rmdir(2)).
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    path_op::unlink(cstring(path.as_ref())?, true).await
}

/// Creates a directory (mode 0o777 less the umask); its parent must exist.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    path_op::mkdir(cstring(path.as_ref())?, 0o777).await
}

/// The metadata of the file at `path`, following symbolic links (statx(2)).
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let stx = statx::stat_path(cstring(path.as_ref())?, true).await?;
    Ok(Metadata::from_statx(stx))
}

/// The metadata of `path` itself, a symbolic link not followed.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let stx = statx::stat_path(cstring(path.as_ref())?, false).await?;
    Ok(Metadata::from_statx(stx))
}
