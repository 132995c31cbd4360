//! `corio::pipe::Pipe`: splice between sockets through a kernel pipe (IORING_OP_SPLICE on
//! io_uring, splice(2) on epoll): byte-exact forwarding, EOF, the pipe's byte count kept exact
//! across dropped splices, misuse refused, fds released. Runs under both drivers.

mod support;

use corio::net::TcpStream;
use corio::pipe::Pipe;
use corio::time::timeout;
use std::io::ErrorKind;
use std::time::Duration;
use support::{open_fds, pattern, run_test, settled_fds, tcp_pair};

/// Forwards `from` to `to` through `pipe` until EOF, then shuts `to`'s write side.
async fn forward(from: &TcpStream, to: &TcpStream, pipe: &Pipe) -> usize {
    let mut total = 0;
    loop {
        let n = pipe.splice_from(from, pipe.capacity()).await.unwrap();
        if n == 0 {
            to.shutdown(std::net::Shutdown::Write).await.unwrap();
            return total;
        }
        total += n;
        while !pipe.is_empty() {
            let sent = pipe.splice_to(to, pipe.len()).await.unwrap();
            assert!(sent > 0);
        }
    }
}

async fn read_all(s: &TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let (res, buf) = s.read(Vec::with_capacity(64 << 10)).await;
        match res.unwrap() {
            0 => return out,
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// 4 MiB from a -> (splice) -> b, with the reader and writer running concurrently.
#[test]
fn splice_forwards_byte_exact_until_eof() {
    run_test(|| async {
        let (a_out, a_in) = tcp_pair().await;
        let (b_in, b_out) = tcp_pair().await;
        const LEN: usize = 4 << 20;
        let writer = corio::spawn(async move {
            let (res, _) = a_out.write_all(pattern(5, LEN)).await;
            res.unwrap();
            a_out.shutdown(std::net::Shutdown::Write).await.unwrap();
            a_out
        });
        let reader = corio::spawn(async move { read_all(&b_out).await });
        let pipe = Pipe::new().unwrap();
        assert!(pipe.capacity() >= 4096, "{pipe:?}");
        let moved = forward(&a_in, &b_in, &pipe).await;
        assert_eq!(moved, LEN);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), LEN);
        assert!(got == pattern(5, LEN), "bytes differ after splice");
        drop(writer.await.unwrap());
    });
}

/// A bigger pipe (F_SETPIPE_SZ) moves bigger chunks; `len` tracks what it holds.
#[test]
fn pipe_with_capacity_and_len() {
    run_test(|| async {
        let pipe = Pipe::with_capacity(256 << 10).unwrap();
        assert!(pipe.capacity() >= 256 << 10, "{pipe:?}");
        let (a_out, a_in) = tcp_pair().await;
        let (res, _) = a_out.write_all(pattern(6, 1000)).await;
        res.unwrap();
        let n = pipe.splice_from(&a_in, usize::MAX).await.unwrap();
        assert!(n > 0 && n <= 1000);
        assert_eq!(pipe.len(), n);
        let (b_in, b_out) = tcp_pair().await;
        let sent = pipe.splice_to(&b_in, 1).await.unwrap();
        assert_eq!(sent, 1);
        assert_eq!(pipe.len(), n - 1);
        let (res, buf) = b_out.read_exact(Vec::with_capacity(1)).await;
        res.unwrap();
        assert_eq!(buf[0], pattern(6, 1)[0]);
    });
}

/// Misuse is refused with InvalidInput and moves nothing: splicing into a pipe that holds
/// bytes, or from a stream that keeps bytes of a dropped read.
#[test]
fn splice_refuses_misuse() {
    run_test(|| async {
        let (a_out, a_in) = tcp_pair().await;
        let (res, _) = a_out.write_all(pattern(7, 100)).await;
        res.unwrap();
        let pipe = Pipe::new().unwrap();
        let n = pipe.splice_from(&a_in, 10).await.unwrap();
        assert_eq!(n, 10);
        let err = pipe.splice_from(&a_in, 10).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(pipe.len(), 10);
        let err = pipe.splice_from(&a_in, 0).await;
        assert_eq!(err.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(Pipe::new().unwrap().splice_to(&a_in, 10).await.unwrap(), 0);
        // The other 90 bytes are still on the socket, in order.
        let (res, buf) = a_in.read_exact(Vec::with_capacity(90)).await;
        res.unwrap();
        assert_eq!(&buf[..], &pattern(7, 100)[10..]);
    });
}

/// A splice_from dropped while it waits for data loses track of nothing: the pipe stays empty,
/// and the bytes that come later are moved by the next splice, in order.
#[test]
fn dropped_splice_from_loses_nothing() {
    run_test(|| async {
        let (a_out, a_in) = tcp_pair().await;
        let pipe = Pipe::new().unwrap();
        for _ in 0..20 {
            let r = timeout(Duration::from_millis(2), pipe.splice_from(&a_in, 4096)).await;
            assert!(r.is_err(), "nothing was sent");
        }
        assert_eq!(pipe.len(), 0);
        let (res, _) = a_out.write_all(pattern(8, 3000)).await;
        res.unwrap();
        a_out.shutdown(std::net::Shutdown::Write).await.unwrap();
        let (b_in, b_out) = tcp_pair().await;
        let reader = corio::spawn(async move { read_all(&b_out).await });
        assert_eq!(forward(&a_in, &b_in, &pipe).await, 3000);
        assert_eq!(reader.await.unwrap(), pattern(8, 3000));
    });
}

/// splice_to dropped while the destination is full (its reader is stalled): the bytes it sent
/// leave the count, the rest stay in the pipe, and sending those later delivers every byte
/// exactly once, in order.
#[test]
fn dropped_splice_to_keeps_the_count_exact() {
    run_test(|| async {
        let (a_out, a_in) = tcp_pair().await;
        let (b_in, b_out) = tcp_pair().await;
        const SRC: usize = 16 << 20;
        let source = corio::spawn(async move {
            // Ends with an error once a_in is dropped below: not every byte is taken.
            let _ = a_out.write_all(pattern(10, SRC)).await;
        });
        // Nobody reads b_out yet: splice until a splice_to cannot finish and is dropped.
        let pipe = Pipe::new().unwrap();
        let (mut moved_in, mut dropped) = (0usize, 0);
        while dropped < 3 && moved_in < SRC {
            if pipe.is_empty() {
                moved_in += pipe.splice_from(&a_in, pipe.capacity()).await.unwrap();
            }
            let r = timeout(Duration::from_millis(30), pipe.splice_to(&b_in, pipe.len())).await;
            if r.is_err() {
                dropped += 1;
            }
        }
        assert_eq!(dropped, 3, "the destination never filled");
        let reader = corio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let (res, buf) = b_out.read(Vec::with_capacity(1 << 20)).await;
                match res.unwrap() {
                    0 => return got,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
        });
        while !pipe.is_empty() {
            pipe.splice_to(&b_in, pipe.len()).await.unwrap();
        }
        b_in.shutdown(std::net::Shutdown::Write).await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(got.len(), moved_in, "spliced bytes lost or doubled");
        assert!(
            got[..] == pattern(10, SRC)[..moved_in],
            "spliced bytes out of order"
        );
        drop(a_in);
        source.await.unwrap();
    });
}

/// Pipes and their splices release every fd.
#[test]
fn pipes_release_their_fds() {
    support::each_driver(|| {
        support::run(Duration::from_secs(20), async {
            let (a_out, a_in) = tcp_pair().await;
            let baseline = open_fds();
            for i in 0..50u64 {
                let pipe = Pipe::new().unwrap();
                let (res, _) = a_out.write_all(pattern(i, 10)).await;
                res.unwrap();
                assert!(pipe.splice_from(&a_in, 100).await.unwrap() > 0);
                if i % 2 == 0 {
                    // A splice dropped while it waits, on an empty pipe.
                    let empty = Pipe::new().unwrap();
                    let r = timeout(Duration::from_millis(1), empty.splice_from(&a_in, 1)).await;
                    assert!(r.is_err());
                }
                // `pipe` is dropped with its bytes inside.
            }
            assert_eq!(settled_fds(baseline).await, baseline);
        })
    });
}

/// Unix streams splice too (corio-proxy's `unix:` listeners and upstreams): Unix -> TCP and
/// TCP -> Unix, byte-exact, and `UnixStream::readable` wakes for data and for EOF.
#[test]
fn splice_between_unix_and_tcp_streams() {
    use corio::net::UnixStream;
    run_test(|| async {
        const LEN: usize = 1 << 20;
        let (u_out, u_in) = UnixStream::pair().unwrap();
        let (t_in, t_out) = tcp_pair().await;
        let writer = corio::spawn(async move {
            let (res, _) = u_out.write_all(pattern(9, LEN)).await;
            res.unwrap();
            u_out.shutdown(std::net::Shutdown::Write).await.unwrap();
            u_out
        });
        let reader = corio::spawn(async move { read_all(&t_out).await });
        let pipe = Pipe::new().unwrap();
        let mut moved = 0;
        loop {
            u_in.readable().await.unwrap();
            let n = pipe.splice_from(&u_in, pipe.capacity()).await.unwrap();
            if n == 0 {
                t_in.shutdown(std::net::Shutdown::Write).await.unwrap();
                break;
            }
            moved += n;
            while !pipe.is_empty() {
                pipe.splice_to(&t_in, pipe.len()).await.unwrap();
            }
        }
        assert_eq!(moved, LEN);
        assert!(reader.await.unwrap() == pattern(9, LEN));
        drop(writer.await.unwrap());
        // TCP -> Unix.
        let (t_out, t_in) = tcp_pair().await;
        let (u_in, u_out) = UnixStream::pair().unwrap();
        let (res, _) = t_out.write_all(pattern(10, 5000)).await;
        res.unwrap();
        t_out.shutdown(std::net::Shutdown::Write).await.unwrap();
        let n = pipe.splice_from(&t_in, pipe.capacity()).await.unwrap();
        assert!(n > 0);
        while !pipe.is_empty() {
            pipe.splice_to(&u_in, pipe.len()).await.unwrap();
        }
        let (res, buf) = u_out.read(Vec::with_capacity(8192)).await;
        assert_eq!(res.unwrap(), n);
        assert_eq!(&buf[..], &pattern(10, 5000)[..n]);
    });
}
