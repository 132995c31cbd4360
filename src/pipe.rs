//! [`Pipe`]: a kernel pipe for moving bytes between sockets with splice(2), so they never pass
//! through user space (`IORING_OP_SPLICE` on io_uring, splice(2) on epoll).
//!
//! ```
//! use corio::net::{TcpListener, TcpStream};
//! use corio::pipe::Pipe;
//!
//! corio::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0")?;
//!     let client = TcpStream::connect(listener.local_addr()?).await?;
//!     let (server, _) = listener.accept().await?;
//!     let (res, _) = client.write_all(&b"through the kernel"[..]).await;
//!     res?;
//!     client.shutdown(std::net::Shutdown::Write).await?;
//!     // Forward everything `server` receives back to `client`, kernel to kernel.
//!     let pipe = Pipe::new()?;
//!     while pipe.splice_from(&server, pipe.capacity()).await? > 0 {
//!         while !pipe.is_empty() {
//!             pipe.splice_to(&server, pipe.len()).await?;
//!         }
//!     }
//!     let (res, buf) = client.read_exact(Vec::with_capacity(18)).await;
//!     res?;
//!     assert_eq!(&buf, b"through the kernel");
//!     Ok::<(), std::io::Error>(())
//! }).unwrap();
//! ```
//!
//! # Owned and cancel-safe
//!
//! The pipe owns both of its ends and counts the bytes it holds ([`len`](Pipe::len)): every
//! splice adds or subtracts what it moved. A splice future dropped before it completes loses
//! track of nothing: on epoll nothing is in the kernel between polls, so it simply moved no
//! bytes; on io_uring it is cancelled, and its completion — which may still carry bytes the
//! kernel moved before the cancel took effect — updates the count when it arrives. Until it
//! has arrived, the next splice on the pipe waits for it. So after a dropped `splice_from`,
//! the bytes it took from the socket are in the pipe and `len()` says so; after a dropped
//! `splice_to`, the bytes it sent are gone from the count, like a dropped write's.
//!
//! Bytes still in the pipe when it is dropped are discarded with it.

use crate::fd::SharedFd;
use crate::net::{TcpStream, UnixStream};
use crate::op::splice::{self, invalid, Level};
use crate::sys::syscall;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::rc::Rc;

/// A pipe for [`splice`](https://man7.org/linux/man-pages/man2/splice.2.html) between sockets;
/// see the [module docs](self).
pub struct Pipe {
    read: SharedFd,
    write: SharedFd,
    level: Rc<Level>,
    capacity: usize,
}

impl Pipe {
    /// A pipe of the kernel's default size (64 KiB on Linux). Must be called within a runtime.
    pub fn new() -> io::Result<Pipe> {
        let mut fds = [0; 2];
        syscall!(pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC))?;
        // SAFETY: pipe2 just returned these two fds and nothing else owns them.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let capacity = syscall!(fcntl(fds[0], libc::F_GETPIPE_SZ))? as usize;
        // Pipes are never waited on: splice waits on the socket, and the pipe side always has
        // room or bytes (see `op::splice`).
        Ok(Pipe {
            read: SharedFd::new_unpolled(r)?,
            write: SharedFd::new_unpolled(w)?,
            level: Rc::new(Level::default()),
            capacity,
        })
    }

    /// A pipe of at least `bytes` (F_SETPIPE_SZ; the kernel rounds up to a power of two pages
    /// and refuses more than /proc/sys/fs/pipe-max-size with EPERM).
    pub fn with_capacity(bytes: usize) -> io::Result<Pipe> {
        let mut pipe = Pipe::new()?;
        let want = libc::c_int::try_from(bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pipe capacity too large"))?;
        let got = syscall!(fcntl(pipe.write.raw(), libc::F_SETPIPE_SZ, want))?;
        pipe.capacity = got as usize;
        Ok(pipe)
    }

    /// How many bytes the pipe can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes in the pipe: moved in and not yet moved out (exact once no dropped splice is in
    /// flight; see the module docs).
    pub fn len(&self) -> usize {
        self.level.bytes()
    }

    /// True if the pipe holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves up to `max` bytes (at most [`capacity`](Self::capacity)) from `src` into the pipe,
    /// waiting until `src` has some; returns how many, 0 at EOF. Observes `src`'s read deadline.
    ///
    /// The pipe must be empty (splice the bytes out first), and `src` must hold no bytes kept
    /// from a dropped read (read them first): otherwise `InvalidInput`, and nothing moves.
    pub async fn splice_from(&self, src: &impl SpliceStream, max: usize) -> io::Result<usize> {
        self.level.settled().await;
        if !self.is_empty() {
            return Err(invalid("splice_from into a pipe that still holds bytes"));
        }
        let len = max.min(self.capacity).min(u32::MAX as usize) as u32;
        if len == 0 {
            return Err(invalid("splice_from with max = 0 could not tell EOF apart"));
        }
        splice::into_pipe(
            sealed::Sealed::shared_fd(src),
            &self.write,
            &self.level,
            len,
        )
        .await
    }

    /// Moves up to `max` of the bytes in the pipe to `dst`, waiting for buffer space; returns
    /// how many (0 only if the pipe is empty or `max` is 0). Observes `dst`'s write deadline.
    pub async fn splice_to(&self, dst: &impl SpliceStream, max: usize) -> io::Result<usize> {
        self.level.settled().await;
        let len = max.min(self.len()).min(u32::MAX as usize) as u32;
        if len == 0 {
            return Ok(0);
        }
        splice::out_of_pipe(&self.read, sealed::Sealed::shared_fd(dst), &self.level, len).await
    }
}

/// A stream socket a [`Pipe`] can splice from and to: [`TcpStream`] and [`UnixStream`].
/// Sealed: splice needs the socket's shared descriptor, which only corio's own types hold.
pub trait SpliceStream: sealed::Sealed {}

// The sealed trait is unnameable outside the crate, so its crate-private return type is too.
// io::copy's spliced loop reads a source's shared descriptor through it (bytes a dropped read
// kept there come first).
#[allow(private_interfaces)]
pub(crate) mod sealed {
    use crate::fd::SharedFd;

    pub trait Sealed {
        fn shared_fd(&self) -> &SharedFd;
    }

    impl Sealed for crate::net::TcpStream {
        fn shared_fd(&self) -> &SharedFd {
            crate::net::TcpStream::shared_fd(self)
        }
    }

    impl Sealed for crate::net::UnixStream {
        fn shared_fd(&self) -> &SharedFd {
            crate::net::UnixStream::shared_fd(self)
        }
    }
}

impl SpliceStream for TcpStream {}
impl SpliceStream for UnixStream {}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipe")
            .field("read", &self.read.raw())
            .field("write", &self.write.raw())
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}
