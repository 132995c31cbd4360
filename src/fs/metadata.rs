//! [`Metadata`]: what statx(2) says about a file.

use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

/// Metadata of a file, from statx(2): [`File::metadata`](super::File::metadata),
/// [`metadata`](super::metadata) or [`symlink_metadata`](super::symlink_metadata).
#[derive(Clone)]
pub struct Metadata {
    stx: libc::statx,
}

/// The type of a file: regular file, directory, symbolic link, or something else (a device,
/// a FIFO, a socket).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    /// The `S_IFMT` bits of the mode.
    format: u32,
}

impl Metadata {
    pub(crate) fn from_statx(stx: libc::statx) -> Metadata {
        Metadata { stx }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.stx.stx_size
    }

    /// True for a file of zero bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file's type.
    pub fn file_type(&self) -> FileType {
        FileType {
            format: u32::from(self.stx.stx_mode) & libc::S_IFMT,
        }
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type().is_dir()
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type().is_file()
    }

    /// True for a symbolic link (only from [`symlink_metadata`](super::symlink_metadata)).
    pub fn is_symlink(&self) -> bool {
        self.file_type().is_symlink()
    }

    /// The permission bits, as std's type (`mode()` has them as a number).
    pub fn permissions(&self) -> std::fs::Permissions {
        std::fs::Permissions::from_mode(self.mode() & 0o7777)
    }

    /// The whole `st_mode`: file type and permission bits.
    pub fn mode(&self) -> u32 {
        u32::from(self.stx.stx_mode)
    }

    /// Last modification time.
    pub fn modified(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_MTIME, self.stx.stx_mtime)
    }

    /// Last access time.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_ATIME, self.stx.stx_atime)
    }

    /// Creation (birth) time; `Unsupported` where the file system does not record it.
    pub fn created(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_BTIME, self.stx.stx_btime)
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.stx.stx_ino
    }

    /// Number of hard links.
    pub fn nlink(&self) -> u64 {
        u64::from(self.stx.stx_nlink)
    }

    /// Owner's user id.
    pub fn uid(&self) -> u32 {
        self.stx.stx_uid
    }

    /// Owner's group id.
    pub fn gid(&self) -> u32 {
        self.stx.stx_gid
    }

    fn time(&self, field: u32, t: libc::statx_timestamp) -> io::Result<SystemTime> {
        if self.stx.stx_mask & field == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this time is not recorded for this file",
            ));
        }
        // Whole seconds (negative before 1970), then nanoseconds forward from them: -1.5 s is
        // (-2, 500_000_000), so it is epoch - 2 s + 0.5 s, not epoch - 2.5 s.
        let secs = Duration::from_secs(t.tv_sec.unsigned_abs());
        let nanos = Duration::from_nanos(u64::from(t.tv_nsec));
        let time = if t.tv_sec >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(secs + nanos)
        } else {
            SystemTime::UNIX_EPOCH
                .checked_sub(secs)
                .and_then(|t| t.checked_add(nanos))
        };
        time.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "time out of range"))
    }
}

impl FileType {
    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.format == libc::S_IFDIR
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.format == libc::S_IFREG
    }

    /// A symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.format == libc::S_IFLNK
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("file_type", &self.file_type())
            .field("len", &self.len())
            .field("mode", &format_args!("{:#o}", self.mode()))
            .field("modified", &self.modified().ok())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.format {
            libc::S_IFREG => "file",
            libc::S_IFDIR => "dir",
            libc::S_IFLNK => "symlink",
            _ => "other",
        };
        write!(f, "FileType({name})")
    }
}
