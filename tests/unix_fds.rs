//! Descriptors over a Unix stream (SCM_RIGHTS): `UnixStream::send_fds` / `recv_fds`. What
//! arrives works (a listening socket accepts, a pipe carries bytes), the bytes sent with the
//! descriptors are byte-exact, truncated control data is an error that leaks nothing, a
//! dropped receive loses no byte and leaks no descriptor, and the process's fd count is back
//! to its baseline after each test. Runs under both drivers. The tests in this binary take a
//! lock, because the fd count is process-wide.

mod support;

use corio::net::UnixStream;
use std::future::{poll_fn, Future};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;
use support::{each_driver, open_fds, pattern, run, LIMIT};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A pipe as two std files: (read end, write end).
fn pipe() -> (std::fs::File, std::fs::File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into `fds`, which we own right below.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    use std::os::fd::FromRawFd;
    // SAFETY: pipe2 just returned these fds and nothing else owns them.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

/// Close-on-exec is set on a descriptor.
fn cloexec(fd: &OwnedFd) -> bool {
    // SAFETY: fcntl F_GETFD on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    flags >= 0 && flags & libc::FD_CLOEXEC != 0
}

#[test]
fn a_listening_socket_and_a_pipe_arrive_working_with_their_bytes() {
    let _g = serial();
    each_driver(|| {
        let base = open_fds();
        run(LIMIT, async {
            let (a, b) = UnixStream::pair().unwrap();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (pipe_r, mut pipe_w) = pipe();
            let payload = pattern(1, 300);
            let fds: [BorrowedFd<'_>; 2] = [listener.as_fd(), pipe_r.as_fd()];
            let (res, back) = a.send_fds(payload.clone(), &fds).await;
            assert_eq!(res.unwrap(), 300);
            assert_eq!(back, payload);
            // The sender may close its descriptors at once: the receiver has its own.
            drop(listener);
            drop(pipe_r);

            let (res, got) = b.recv_fds(Vec::with_capacity(1024), 8).await;
            let (n, fds) = res.unwrap();
            assert_eq!(n, 300);
            assert_eq!(got, payload, "the bytes that carried the descriptors");
            assert_eq!(fds.len(), 2);
            assert!(
                fds.iter().all(cloexec),
                "received descriptors are close-on-exec"
            );
            let mut fds = fds.into_iter();
            let listener = std::net::TcpListener::from(fds.next().unwrap());
            assert_eq!(listener.local_addr().unwrap(), addr);
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            let (mut s, _) = listener.accept().unwrap();
            c.write_all(b"through the passed listener").unwrap();
            let mut buf = [0u8; 27];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"through the passed listener");
            let mut r = std::fs::File::from(fds.next().unwrap());
            pipe_w.write_all(b"pipe").unwrap();
            let mut four = [0u8; 4];
            r.read_exact(&mut four).unwrap();
            assert_eq!(&four, b"pipe");
        });
        assert_eq!(open_fds(), base, "fd count back to baseline");
    });
}

#[test]
fn messages_keep_their_own_descriptors_and_plain_bytes_follow() {
    let _g = serial();
    each_driver(|| {
        let base = open_fds();
        run(LIMIT, async {
            let (a, b) = UnixStream::pair().unwrap();
            let pipes: Vec<_> = (0..3).map(|_| pipe()).collect();
            // Two messages with descriptors, then plain bytes: each receive gets its own.
            let one = [pipes[0].1.as_fd()];
            let two = [pipes[1].1.as_fd(), pipes[2].1.as_fd()];
            assert_eq!(a.send_fds(b"1".to_vec(), &one).await.0.unwrap(), 1);
            assert_eq!(a.send_fds(b"22".to_vec(), &two).await.0.unwrap(), 2);
            let (res, _) = a.write_all(b"plain".to_vec()).await;
            res.unwrap();

            let (res, got) = b.recv_fds(Vec::with_capacity(64), 8).await;
            let (n, first) = res.unwrap();
            assert_eq!((&got[..n], first.len()), (&b"1"[..], 1));
            let (res, got) = b.recv_fds(Vec::with_capacity(64), 8).await;
            let (n, second) = res.unwrap();
            assert_eq!((&got[..n], second.len()), (&b"22"[..], 2));
            let (res, got) = b.recv_fds(Vec::with_capacity(64), 8).await;
            let (n, none) = res.unwrap();
            assert_eq!((&got[..n], none.len()), (&b"plain"[..], 0));
            // Each received write end feeds its own pipe.
            for (i, fd) in first.into_iter().chain(second).enumerate() {
                let mut w = std::fs::File::from(fd);
                w.write_all(&[i as u8]).unwrap();
                let mut r = &pipes[i].0;
                let mut one = [0u8; 1];
                r.read_exact(&mut one).unwrap();
                assert_eq!(one[0], i as u8);
            }
        });
        assert_eq!(open_fds(), base, "fd count back to baseline");
    });
}

#[test]
fn truncated_control_data_is_an_error_that_leaks_nothing() {
    let _g = serial();
    each_driver(|| {
        let base = open_fds();
        run(LIMIT, async {
            let (a, b) = UnixStream::pair().unwrap();
            let pipes: Vec<_> = (0..4).map(|_| pipe()).collect();
            let fds: Vec<BorrowedFd<'_>> = pipes.iter().map(|p| p.0.as_fd()).collect();
            let with_fds = open_fds();
            assert_eq!(a.send_fds(b"four".to_vec(), &fds).await.0.unwrap(), 4);
            let (res, got) = b.recv_fds(Vec::with_capacity(64), 2).await;
            let err = res.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
            assert!(err.to_string().contains("MSG_CTRUNC"), "{err}");
            assert_eq!(got, b"four", "the bytes are kept in the buffer");
            // The two that fit were closed by recv_fds, the two that did not by the kernel.
            assert_eq!(open_fds(), with_fds, "no received descriptor is left open");
            // Asking for none: any descriptor is a truncation.
            let one = [pipes[0].1.as_fd()];
            assert_eq!(a.send_fds(b"x".to_vec(), &one).await.0.unwrap(), 1);
            let (res, _) = b.recv_fds(Vec::with_capacity(8), 0).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidData);
            assert_eq!(open_fds(), with_fds);
        });
        assert_eq!(open_fds(), base, "fd count back to baseline");
    });
}

#[test]
fn a_dropped_receive_loses_no_byte_and_leaks_no_descriptor() {
    let _g = serial();
    each_driver(|| {
        let base = open_fds();
        run(LIMIT, async {
            let (a, b) = UnixStream::pair().unwrap();
            let (r, w) = pipe();
            // A receive that is submitted, completes while nobody polls it, and is dropped
            // (on io_uring its RECVMSG took the bytes and the descriptor; on epoll it only
            // parked, and the message stays queued).
            let mut waiting = Box::pin(b.recv_fds(Vec::with_capacity(64), 4));
            let first = poll_fn(|cx| Poll::Ready(waiting.as_mut().poll(cx))).await;
            assert!(first.is_pending(), "nothing was sent yet");
            corio::time::sleep(Duration::from_millis(10)).await;
            let before_send = open_fds();
            let payload = pattern(7, 40);
            assert_eq!(
                a.send_fds(payload.clone(), &[w.as_fd()]).await.0.unwrap(),
                40
            );
            let (res, _) = a.write_all(b"tail".to_vec()).await;
            res.unwrap();
            corio::time::sleep(Duration::from_millis(20)).await;
            drop(waiting);
            // Every byte arrives, in order: through the dropped receive's kept bytes (io_uring)
            // or the kernel's queue (epoll).
            let mut got = Vec::new();
            let mut fds = Vec::new();
            while got.len() < 44 {
                let (res, buf) = b.recv_fds(Vec::with_capacity(64), 4).await;
                let (n, more) = res.unwrap();
                assert!(n > 0, "EOF before every byte came");
                got.extend_from_slice(&buf[..n]);
                fds.extend(more);
            }
            let mut want = payload;
            want.extend_from_slice(b"tail");
            assert_eq!(got, want);
            // At most the one descriptor sent is open here (epoll); none once dropped.
            assert!(fds.len() <= 1);
            drop(fds);
            assert_eq!(
                open_fds(),
                before_send,
                "the descriptor that came with it is closed"
            );
            drop((r, w));
        });
        assert_eq!(open_fds(), base, "fd count back to baseline");
    });
}

#[test]
fn bad_arguments_are_refused_and_into_std_round_trips() {
    let _g = serial();
    each_driver(|| {
        let base = open_fds();
        run(LIMIT, async {
            let (a, b) = UnixStream::pair().unwrap();
            let (r, _w) = pipe();
            let (res, _) = a.send_fds(Vec::new(), &[r.as_fd()]).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
            let many: Vec<BorrowedFd<'_>> = (0..254).map(|_| r.as_fd()).collect();
            let (res, _) = a.send_fds(b"x".to_vec(), &many).await;
            let err = res.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().contains("253"), "{err}");
            // A full buffer has no room to receive into.
            let (res, _) = b.recv_fds(Vec::<u8>::new(), 1).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
            // 4 GiB of room (never touched): the message and its descriptor arrive whole.
            assert_eq!(
                a.send_fds(b"big".to_vec(), &[r.as_fd()]).await.0.unwrap(),
                3
            );
            let (res, got) = b.recv_fds(Vec::with_capacity(4 << 30), 1).await;
            let (n, fds) = res.unwrap();
            assert_eq!((n, &got[..], fds.len()), (3, &b"big"[..], 1));
            drop((got, fds));
            // Out to std and back: the connection is the same.
            let mut std_a = a.into_std().unwrap();
            std_a.write_all(b"std").unwrap();
            let (res, got) = b.read(Vec::with_capacity(8)).await;
            assert_eq!(&got[..res.unwrap()], b"std");
            let a = UnixStream::from_std(std_a).unwrap();
            assert_eq!(a.send_fds(b"y".to_vec(), &[r.as_fd()]).await.0.unwrap(), 1);
            let (res, _) = b.recv_fds(Vec::with_capacity(8), 1).await;
            assert_eq!(res.unwrap().1.len(), 1);
            a.close().await.unwrap();
            let err = a.send_fds(b"z".to_vec(), &[r.as_fd()]).await.0.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotConnected, "{err}");
        });
        assert_eq!(open_fds(), base, "fd count back to baseline");
    });
}
