//! [`OpenOptions`]: std's options for opening a file, opened through the driver.

use super::{cstring, File};
use std::io;
use std::path::Path;

/// How to open a file, as `std::fs::OpenOptions` (the same flags, the same rules about which
/// combinations are valid), but opened with `IORING_OP_OPENAT` on io_uring and on the blocking
/// pool on epoll.
///
/// ```no_run
/// # corio::block_on(async {
/// use corio::fs::OpenOptions;
/// let log = OpenOptions::new().append(true).create(true).mode(0o600).open("/tmp/log").await?;
/// # std::io::Result::Ok(()) });
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// No access, nothing created; mode 0o666 (less the umask) for a created file.
    pub fn new() -> OpenOptions {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Open for appending (implies writing): every write goes to the end of the file,
    /// whatever offset `write_at` names (Linux ignores the offset with `O_APPEND`).
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }

    /// Truncate an existing file to 0 bytes (needs write access).
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }

    /// Create the file if it does not exist (needs write or append access).
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists (needs write or append
    /// access); `create` and `truncate` are then ignored.
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.create_new = create_new;
        self
    }

    /// Permission bits of a file this call creates (less the umask). Default 0o666.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra open(2) flags (`O_DIRECT`, `O_NOATIME`, ...); the access mode bits are ignored.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// Opens `path` with these options. Invalid combinations fail with `InvalidInput` before
    /// any syscall, as std's do.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let flags = self.flags()?;
        let path = cstring(path.as_ref())?;
        let fd = crate::op::open::open(path, flags, self.mode).await?;
        File::from_owned(fd)
    }

    /// The open(2) flags, with std's validity rules.
    fn flags(&self) -> io::Result<i32> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => return Err(invalid("no access mode: read, write or append")),
        };
        let writable = self.write || self.append;
        if !writable && (self.truncate || self.create || self.create_new) {
            return Err(invalid(
                "create, create_new and truncate need write or append",
            ));
        }
        if self.append && self.truncate && !self.create_new {
            return Err(invalid("append and truncate exclude each other"));
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (false, false, false) => 0,
        };
        Ok(access | creation | (self.custom_flags & !libc::O_ACCMODE))
    }
}

fn invalid(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why)
}
