//! Helpers shared by the integration tests. A test body runs once per driver (io_uring, then
//! epoll) inside one `#[test]`: `run_test` for an async body on a fresh runtime, `each_driver`
//! for a body that builds its runtimes itself (with `rt()` or `builder()`); see drivers.rs.
#![allow(dead_code)]

mod drivers;

// Each test binary uses some of these.
#[allow(unused_imports)]
pub use drivers::{
    builder, choice, counting_fds, driver, each_driver, each_driver_as, expect_panic, fds_share,
    name, only_on, panic_message, passes, rt, skip, uring_refused, CountingFds, ALL,
};

use corio::net::{TcpListener, TcpStream};
use std::future::Future;
use std::time::Duration;

/// The time limit of `run_test`'s bodies, per pass.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Runs `f` on a fresh runtime of the current pass's driver, failing the test if it takes
/// longer than `limit`. One pass: call it inside `each_driver`.
pub fn run<F: Future>(limit: Duration, f: F) -> F::Output {
    let rt = rt();
    rt.block_on(async move {
        corio::time::timeout(limit, f)
            .await
            .expect("test exceeded its time limit")
    })
}

/// Runs the future `f` makes on a fresh runtime under each driver, with a 20 s limit each.
pub fn run_test<F: Future<Output = ()>>(f: impl Fn() -> F) {
    each_driver(|| run(LIMIT, f()));
}

/// Number of open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A deterministic byte pattern of length `len`, distinct per `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A connected pair on loopback: (client, server).
pub async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connect = corio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (connect.await.unwrap(), server)
}

/// Echoes everything `conn` receives until EOF or an error.
pub async fn echo(conn: TcpStream) {
    let mut buf = Vec::with_capacity(16 << 10);
    loop {
        buf.clear();
        let (res, b) = conn.read(buf).await;
        match res {
            Ok(n) if n > 0 => {}
            _ => return,
        }
        let (res, b) = conn.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
    }
}

/// SO_LINGER 0, so that closing the socket sends RST instead of FIN.
pub fn set_linger_zero(fd: i32) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `linger`, valid for the call, on an fd owned by the caller.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

/// The process's fd count once it has come back to `baseline`, waiting up to a second for
/// closes that finish asynchronously (cancelled operations handing their fd back).
pub async fn settled_fds(baseline: usize) -> usize {
    for _ in 0..200 {
        if open_fds() == baseline {
            break;
        }
        corio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    open_fds()
}

/// Sets a socket buffer size (`SO_SNDBUF` or `SO_RCVBUF`): small and fixed, so a peer that
/// does not read fills it soon (the kernel doubles the value and stops autotuning it).
pub fn set_sock_buf(fd: i32, opt: i32, bytes: i32) {
    // SAFETY: setsockopt reads an i32 that lives for the call, on an fd the caller owns.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&bytes as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}
