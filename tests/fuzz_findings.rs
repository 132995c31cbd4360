//! Defects the differential fuzzer (tests/fuzz) found, each pinned by a small test that failed
//! on the driver that had it (io_uring) before its fix.

mod support;

use corio::net::UnixStream;
use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::time::Duration;
use support::{pattern, run_test};

fn set_sndbuf(fd: i32, bytes: i32) {
    // SAFETY: setsockopt reads an i32 that lives for the call, on an fd the caller owns.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&bytes as *const i32).cast(),
            4,
        )
    };
    assert_eq!(rc, 0);
}

/// Reads what has arrived; true at EOF.
fn drain(peer: &mut impl Read, got: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 64 << 10];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) => panic!("peer read: {e}"),
        }
    }
}

/// Fuzz seeds 18, 43, 52, 60 (strict mode; about 4% of all scripts): after `close()` while a read
/// dropped by a timeout is still in flight, the socket is never released while the stream
/// value lives — the peer sees no EOF, the fd stays open — although the dropped read finishes
/// at once (its cancel). epoll closes at once.
#[test]
fn close_releases_the_socket_once_a_dropped_read_is_done() {
    run_test(|| async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = corio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_nonblocking(true).unwrap();
        let read = ours.read(Vec::with_capacity(64));
        let dropped = corio::time::timeout(Duration::from_micros(50), read).await;
        assert!(dropped.is_err(), "the read should have timed out");
        ours.close().await.unwrap();
        let mut got = Vec::new();
        let mut eof = false;
        for _ in 0..500 {
            eof = drain(&mut peer, &mut got);
            if eof {
                break;
            }
            corio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(eof, "the peer saw no EOF a second after close() returned");
        drop(ours);
    });
}

/// Fuzz seed 14 (and about 12% of all scripts, before they were made to avoid it): once the
/// peer has shut down its write side, a `write_all` dropped by a timeout is not cancelled on
/// io_uring — its send stays in the kernel — and the rest of its bytes go out *after* the
/// next write's: the byte stream is reordered. A dropped write may stop at any prefix, but
/// what follows it on the stream must be the next write.
#[test]
fn a_write_after_a_dropped_write_keeps_the_byte_order() {
    run_test(|| async {
        for round in 0..40u64 {
            let (a, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
            set_sndbuf(a.as_raw_fd(), 32 << 10);
            peer.set_nonblocking(true).unwrap();
            peer.shutdown(std::net::Shutdown::Write).unwrap();
            let ours = UnixStream::from_std(a).unwrap();
            let (big, small) = (pattern(round, 400_000), pattern(round + 1000, 12_000));
            let wait = Duration::from_micros([20, 100][round as usize % 2]);
            let _ = corio::time::timeout(wait, ours.write_all(big.clone())).await;
            let mut got = Vec::new();
            {
                let mut next = std::pin::pin!(ours.write_all(small.clone()));
                loop {
                    drain(&mut peer, &mut got);
                    let step = Duration::from_micros(300);
                    if let Ok((res, _)) = corio::time::timeout(step, next.as_mut()).await {
                        res.unwrap();
                        break;
                    }
                }
            }
            ours.close().await.unwrap();
            drop(ours);
            for _ in 0..500 {
                if drain(&mut peer, &mut got) {
                    break;
                }
                corio::time::sleep(Duration::from_millis(2)).await;
            }
            let k = got.iter().zip(&big).take_while(|(x, y)| x == y).count();
            assert!(
                got[k..] == small[..],
                "round {round}: {k} bytes of the dropped write, then {} bytes that are not the \
                 next write",
                got.len() - k
            );
        }
    });
}
