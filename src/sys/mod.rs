//! The syscall boundary: one macro that turns a libc return value into `io::Result`, the few
//! raw helpers both drivers share, and socket addresses in the kernel's layout (`addr`).

pub(crate) mod addr;
pub(crate) mod blocking;

use std::io;
use std::os::fd::RawFd;

/// Calls a libc function and maps `-1` to `io::Error::last_os_error()`, keeping errno.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_unsafe)]
        // SAFETY: each call site passes arguments that are valid for the named syscall; the
        // pointers it passes are checked at that site.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;

/// recv(2) and send(2) as bare syscalls: glibc's wrappers are thread-cancellation points, which
/// cost as much again as the rest of the call on the readiness driver's hot path (about 30
/// instructions each way), and corio never cancels threads. On x86-64 the `syscall`
/// instruction is issued inline (the kernel's result is `-errno` on failure, so errno is not
/// read either); elsewhere through glibc's `syscall(2)`. (Go's netpoller makes raw syscalls
/// too.)
pub(crate) mod raw {
    use std::io;
    use std::os::fd::RawFd;

    /// A raw syscall's result: `-errno` (-4095..=-1) on failure.
    #[inline(always)]
    fn check(res: isize) -> io::Result<u32> {
        if res < 0 {
            Err(io::Error::from_raw_os_error(-res as i32))
        } else {
            Ok(res as u32)
        }
    }

    /// A six-argument syscall, `-errno` on failure.
    ///
    /// # Safety
    ///
    /// The arguments must be valid for syscall `nr` (pointers to memory it may read or write).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn syscall6(nr: libc::c_long, args: [usize; 6]) -> isize {
        let ret: isize;
        // SAFETY: the x86-64 Linux syscall convention: number in rax, arguments in rdi, rsi,
        // rdx, r10, r8, r9, result in rax; the kernel clobbers rcx and r11 and nothing else,
        // and does not touch the user stack. Memory is not marked untouched (no `nomem`): the
        // kernel reads and writes the caller's buffers. The arguments' validity is the caller's
        // contract.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => ret,
                in("rdi") args[0],
                in("rsi") args[1],
                in("rdx") args[2],
                in("r10") args[3],
                in("r8") args[4],
                in("r9") args[5],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// A six-argument syscall through glibc, `-errno` on failure.
    ///
    /// # Safety
    ///
    /// The arguments must be valid for syscall `nr` (pointers to memory it may read or write).
    #[cfg(not(target_arch = "x86_64"))]
    #[inline(always)]
    unsafe fn syscall6(nr: libc::c_long, args: [usize; 6]) -> isize {
        // SAFETY: forwarded from this function's contract.
        let res =
            unsafe { libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]) };
        if res < 0 {
            -(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO) as isize)
        } else {
            res as isize
        }
    }

    /// recv(2) of at most `len` bytes into `ptr`.
    #[inline]
    pub(crate) fn recv(fd: RawFd, ptr: *mut u8, len: usize, flags: i32) -> io::Result<u32> {
        // SAFETY: the caller passes a buffer valid for `len` bytes of writes; the kernel checks
        // the rest. recvfrom with no address (two null pointers) is recv.
        check(unsafe {
            syscall6(
                libc::SYS_recvfrom,
                [fd as usize, ptr as usize, len, flags as usize, 0, 0],
            )
        })
    }

    /// send(2) of the `len` bytes at `ptr`.
    #[inline]
    pub(crate) fn send(fd: RawFd, ptr: *const u8, len: usize, flags: i32) -> io::Result<u32> {
        // SAFETY: the caller passes a buffer valid for `len` bytes of reads; the kernel checks
        // the rest. sendto with no address (null, length 0) is send.
        check(unsafe {
            syscall6(
                libc::SYS_sendto,
                [fd as usize, ptr as usize, len, flags as usize, 0, 0],
            )
        })
    }
}

/// Turns a kernel result in the io_uring convention (`-errno` on failure) into `io::Result`.
pub(crate) fn cqe_result(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

/// Closes `fd`. No EINTR retry: Linux releases the fd even when close(2) reports EINTR.
pub(crate) fn close(fd: RawFd) -> io::Result<()> {
    syscall!(close(fd)).map(drop)
}

/// Makes `call` with `fd`'s open file non-blocking (O_NONBLOCK), then puts its flags back: for a
/// syscall that must not block on a socket the ring keeps blocking and that has no per-call
/// flag for it (splice(2): SPLICE_F_NONBLOCK speaks of the pipe end only). Two fcntl calls
/// around it, on a path that runs only where the kernel lacks an opcode. Another holder of the
/// same open file (a dup) sees the flag for that moment; corio's own ring ops on it are not
/// running then (they run in this thread's enters).
pub(crate) fn nonblocking_call<R>(
    fd: RawFd,
    call: impl FnOnce() -> io::Result<R>,
) -> io::Result<R> {
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    if flags & libc::O_NONBLOCK != 0 {
        return call();
    }
    syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    let res = call();
    // The socket goes back to blocking whatever the call did. Should that fail, the socket
    // stays non-blocking, which the ring handles too (it then polls for readiness itself).
    let restored = syscall!(fcntl(fd, libc::F_SETFL, flags));
    debug_assert!(restored.is_ok(), "F_SETFL on an open fd: {restored:?}");
    res
}

/// True for the errno values that mean "try again when ready".
pub(crate) fn would_block(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EAGAIN))
}

/// The error of an operation on an fd that `close()` has closed (Go's ErrNetClosing):
/// `NotConnected`, "use of closed network connection".
pub(crate) fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "use of closed network connection",
    )
}
