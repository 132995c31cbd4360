//! `read_pooled` and `BufRing`: reads that take a buffer only when bytes arrive (io_uring: a
//! provided-buffer ring the kernel picks from; epoll: a free list the read takes from just
//! before its recv), and pooled copies. Runs under both drivers; every test ends with every
//! buffer back (`held() == 0`).

mod support;

use corio::io::{copy_bidirectional_with, pool_stats, CopyOptions, ReadMode, Splice};
use corio::net::{BufRing, TcpStream, UnixStream};
use corio::time::{sleep, timeout};
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;
use support::{driver, pattern, run_test, tcp_pair};

/// Reads until EOF, checking that each buffer fits the ring's size.
async fn read_to_end(s: &TcpStream, ring: &BufRing) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let buf = s.read_pooled(ring).await.unwrap();
        assert!(buf.len() <= ring.buffer_size() as usize);
        if buf.is_empty() {
            return got;
        }
        got.extend_from_slice(&buf);
    }
}

/// Byte-exact reads in pooled buffers, each back in the ring once dropped; EOF is an empty
/// buffer. On io_uring the kernel picks the buffers.
#[test]
fn pooled_reads_are_byte_exact_and_give_their_buffers_back() {
    run_test(|| async {
        let ring = BufRing::new(4, 1024).unwrap();
        if driver() == corio::DriverKind::IoUring {
            assert!(ring.in_kernel(), "this kernel has provided-buffer rings");
        }
        let (client, server) = tcp_pair().await;
        let writer = corio::spawn(async move {
            let (res, _) = client.write_all(pattern(3, 200_000)).await;
            res.unwrap();
        });
        let mut got = Vec::new();
        loop {
            let buf = server.read_pooled(&ring).await.unwrap();
            if buf.is_empty() {
                break;
            }
            assert!(
                buf.in_ring(),
                "a read with buffers free used one of its own"
            );
            assert_eq!(ring.held(), 1, "one buffer held while this one lives");
            got.extend_from_slice(&buf);
        }
        assert_eq!(got, pattern(3, 200_000));
        assert_eq!(ring.held(), 0);
        writer.await.unwrap();
    });
}

/// The same on a Unix stream.
#[test]
fn pooled_reads_on_a_unix_stream() {
    run_test(|| async {
        let ring = BufRing::new(2, 512).unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let writer = corio::spawn(async move {
            let (res, _) = a.write_all(pattern(9, 20_000)).await;
            res.unwrap();
        });
        let mut got = Vec::new();
        loop {
            let buf = b.read_pooled(&ring).await.unwrap();
            if buf.is_empty() {
                break;
            }
            got.extend_from_slice(&buf);
        }
        assert_eq!(got, pattern(9, 20_000));
        assert_eq!(ring.held(), 0);
        writer.await.unwrap();
    });
}

/// A read waiting on an idle socket holds no buffer; the bytes, when they come, take one.
#[test]
fn an_idle_pooled_read_holds_no_buffer() {
    run_test(|| async {
        let ring = BufRing::new(2, 4096).unwrap();
        let (client, server) = tcp_pair().await;
        let server = Rc::new(server);
        let (s, r) = (server.clone(), ring.clone());
        let read = corio::spawn(async move { s.read_pooled(&r).await.map(|b| b.to_vec()) });
        sleep(Duration::from_millis(50)).await;
        assert!(!read.is_finished());
        assert_eq!(ring.held(), 0, "an idle read holds a buffer");
        let (res, _) = client.write_all(pattern(4, 100)).await;
        res.unwrap();
        assert_eq!(read.await.unwrap().unwrap(), pattern(4, 100));
        assert_eq!(ring.held(), 0);
    });
}

/// Every buffer held: the next read does not wait for one (its holder may be waiting on this
/// very read), it reads into a buffer of its own; nothing is lost (on io_uring the kernel
/// answered ENOBUFS and kept the bytes queued).
#[test]
fn a_read_with_every_buffer_held_uses_its_own_and_loses_nothing() {
    run_test(|| async {
        let ring = BufRing::new(1, 512).unwrap();
        let (client, server) = tcp_pair().await;
        let (res, _) = client.write_all(pattern(5, 100)).await;
        res.unwrap();
        let first = server.read_pooled(&ring).await.unwrap();
        assert!(first.in_ring());
        assert_eq!(ring.held(), 1);
        let (res, _) = client.write_all(pattern(6, 3000)).await;
        res.unwrap();
        let mut got = first.to_vec();
        let mut own = 0;
        while got.len() < 3100 {
            let buf = server.read_pooled(&ring).await.unwrap();
            assert!(!buf.is_empty());
            own += usize::from(!buf.in_ring());
            got.extend_from_slice(&buf);
        }
        assert!(
            own > 0,
            "every read found a buffer although the only one was held"
        );
        let mut want = pattern(5, 100);
        want.extend(pattern(6, 3000));
        assert_eq!(got, want);
        drop(first);
        assert_eq!(ring.held(), 0);
    });
}

/// A kernel ring starts with a few buffers and grows as reads find it empty, up to its
/// count; many reads at once all get their bytes, and every buffer comes back.
#[test]
fn many_reads_at_once_grow_the_ring_and_give_everything_back() {
    run_test(|| async {
        let ring = BufRing::new(64, 256).unwrap();
        let mut readers = Vec::new();
        let mut clients = Vec::new();
        for i in 0..40u64 {
            let (client, server) = tcp_pair().await;
            let r = ring.clone();
            readers.push(corio::spawn(async move {
                let buf = server.read_pooled(&r).await.unwrap();
                // Hold it until every reader has one.
                sleep(Duration::from_millis(100)).await;
                let mut got = buf.to_vec();
                drop(buf);
                got.extend(read_to_end(&server, &r).await);
                (i, got)
            }));
            clients.push(client);
        }
        for (i, c) in clients.iter().enumerate() {
            let (res, _) = c.write_all(pattern(i as u64, 200)).await;
            res.unwrap();
        }
        drop(clients);
        for r in readers {
            let (i, got) = r.await.unwrap();
            assert_eq!(got, pattern(i, 200), "reader {i}");
        }
        if ring.in_kernel() {
            assert!(ring.warm() > 8, "the ring did not grow: {}", ring.warm());
        }
        assert!(ring.warm() <= 64);
        assert_eq!(ring.held(), 0);
    });
}

/// A pooled read dropped by a timeout loses nothing: the bytes that reached it come back on
/// the next read, in order, and its buffer goes back to the ring (io_uring: when its
/// cancelled CQE comes).
#[test]
fn a_dropped_pooled_read_loses_no_byte() {
    run_test(|| async {
        let ring = BufRing::new(4, 1024).unwrap();
        let (client, server) = tcp_pair().await;
        for round in 0..20u64 {
            let r = timeout(Duration::from_micros(50), server.read_pooled(&ring)).await;
            assert!(r.is_err(), "nothing was sent yet");
            let (res, _) = client.write_all(pattern(round, 300)).await;
            res.unwrap();
            let mut got = Vec::new();
            while got.len() < 300 {
                got.extend_from_slice(&server.read_pooled(&ring).await.unwrap());
            }
            assert_eq!(got, pattern(round, 300), "round {round}");
        }
        // Bytes raced into a dropped read's buffer and were copied out (or it was cancelled
        // first): either way its buffer is back once its CQE came.
        for _ in 0..100 {
            if ring.held() == 0 {
                break;
            }
            sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(ring.held(), 0);
    });
}

/// A read in flight when the runtime shuts down gives its buffer back (its cancel's CQE), and
/// a buffer held past the runtime can still be dropped.
#[test]
fn shutdown_with_a_read_in_flight_gives_every_buffer_back() {
    support::each_driver(|| {
        let rt = support::rt();
        let (ring, held) = rt.block_on(async {
            let ring = BufRing::new(2, 128).unwrap();
            let (client, server) = tcp_pair().await;
            let (res, _) = client.write_all(pattern(1, 10)).await;
            res.unwrap();
            let held = server.read_pooled(&ring).await.unwrap();
            let r = ring.clone();
            // Waits forever: the client sends nothing more.
            drop(corio::spawn(async move {
                let _ = server.read_pooled(&r).await;
                drop(client);
            }));
            sleep(Duration::from_millis(20)).await;
            (ring, held)
        });
        drop(rt);
        assert_eq!(&held[..], &pattern(1, 10)[..]);
        assert_eq!(ring.held(), 1);
        drop(held);
        assert_eq!(ring.held(), 0);
    });
}

/// Bad sizes are refused.
#[test]
fn bad_rings_are_refused() {
    run_test(|| async {
        for (count, size) in [(0, 16), (3, 16), (4, 0)] {
            let e = BufRing::new(count, size).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{count} x {size}");
        }
    });
}

/// A ring made on one runtime cannot feed reads on another (its buffers are registered with
/// the first one's driver): `InvalidInput`, not a read into the wrong ring.
#[test]
fn a_ring_from_another_executor_is_refused() {
    support::each_driver(|| {
        let first = support::rt();
        let ring = first.block_on(async { BufRing::new(2, 64).unwrap() });
        let second = support::rt();
        second.block_on(async {
            let (_client, server) = tcp_pair().await;
            let e = server.read_pooled(&ring).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
        });
    });
}

/// Pooled and readiness copies move the same bytes both ways, and leave no buffer out.
#[test]
fn copies_in_either_read_mode_are_byte_exact_and_give_their_buffers_back() {
    run_test(|| async {
        for mode in [ReadMode::Pooled, ReadMode::Ready] {
            let (mut a_near, a_far) = tcp_pair().await;
            let (mut b_near, b_far) = tcp_pair().await;
            let options = CopyOptions {
                buffer_size: 4096,
                splice: Splice::Never,
                read: mode,
            };
            let copy = corio::spawn(async move {
                copy_bidirectional_with(&mut a_near, &mut b_near, &options).await
            });
            let up = pattern(7, 300_000);
            let down = pattern(8, 200_000);
            let (af, bf) = (Rc::new(a_far), Rc::new(b_far));
            let (a2, b2) = (af.clone(), bf.clone());
            let w1 = corio::spawn(async move {
                let (res, _) = a2.write_all(pattern(7, 300_000)).await;
                res.unwrap();
                a2.shutdown(std::net::Shutdown::Write).await.unwrap();
            });
            let w2 = corio::spawn(async move {
                let (res, _) = b2.write_all(pattern(8, 200_000)).await;
                res.unwrap();
                b2.shutdown(std::net::Shutdown::Write).await.unwrap();
            });
            let (res, got_b) = bf.read_exact(Vec::with_capacity(up.len())).await;
            res.unwrap();
            let (res, got_a) = af.read_exact(Vec::with_capacity(down.len())).await;
            res.unwrap();
            assert_eq!(got_b, up, "{mode:?}");
            assert_eq!(got_a, down, "{mode:?}");
            w1.await.unwrap();
            w2.await.unwrap();
            let (there, back) = copy.await.unwrap().unwrap();
            assert_eq!((there, back), (300_000, 200_000), "{mode:?}");
            assert_eq!(pool_stats().buffers_in_use, 0, "{mode:?}");
        }
    });
}

/// A pooled read of bytes already there is one operation: one SQE on io_uring (a readiness
/// wait and a read would be two), one recv(2) on epoll.
#[test]
fn a_pooled_read_is_one_operation() {
    run_test(|| async {
        let ring = BufRing::new(4, 1024).unwrap();
        let (client, server) = tcp_pair().await;
        for i in 0..10u64 {
            let (res, _) = client.write_all(pattern(i, 100)).await;
            res.unwrap();
            sleep(Duration::from_millis(5)).await;
            let before = corio::current_driver_stats();
            let buf = server.read_pooled(&ring).await.unwrap();
            let after = corio::current_driver_stats();
            assert_eq!(&buf[..], &pattern(i, 100)[..]);
            let ops = match driver() {
                corio::DriverKind::IoUring => after.ops_submitted - before.ops_submitted,
                _ => after.io_syscalls - before.io_syscalls,
            };
            assert_eq!(ops, 1, "read {i}");
        }
    });
}
