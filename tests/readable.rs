//! `TcpStream::readable` / `writable`: readiness waits that move no data (IORING_OP_POLL_ADD on
//! io_uring, the poll descriptor's slot on epoll), so a caller takes a buffer only once bytes
//! are there. Runs under both drivers.

mod support;

use corio::time::timeout;
use corio::DriverKind;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::{Duration, Instant};
use support::{driver, pattern, run_test, set_linger_zero, tcp_pair};

/// readable() waits for data, completes when it arrives, and leaves every byte for the read.
#[test]
fn readable_waits_for_data_and_moves_none() {
    run_test(|| async {
        let (client, server) = tcp_pair().await;
        let server = Rc::new(server);
        let s = server.clone();
        let wait = corio::spawn(async move { s.readable().await });
        corio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !wait.is_finished(),
            "readable() completed with nothing sent"
        );
        let (res, _) = client.write_all(pattern(1, 3000)).await;
        res.unwrap();
        wait.await.unwrap().unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(3000)).await;
        res.unwrap();
        assert_eq!(buf, pattern(1, 3000));
    });
}

/// Data already queued: readable() completes at once (epoll: the probe of a slot with no
/// knowledge), and again after a read that left bytes behind.
#[test]
fn readable_with_data_already_there() {
    run_test(|| async {
        let (client, server) = tcp_pair().await;
        let (res, _) = client.write_all(pattern(2, 10_000)).await;
        res.unwrap();
        corio::time::sleep(Duration::from_millis(20)).await;
        let mut got = Vec::new();
        while got.len() < 10_000 {
            timeout(Duration::from_secs(5), server.readable())
                .await
                .expect("readable() with bytes queued must not wait")
                .unwrap();
            let (res, buf) = server.read(Vec::with_capacity(1000)).await;
            let n = res.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, pattern(2, 10_000));
    });
}

/// An edge recorded before the bytes were read is stale: readable() must not trust it once
/// the socket is empty (epoll: a Ready slot left by a read that took everything but was not
/// short). Here the read asks for exactly what was sent, so it is not a short read.
#[test]
fn readable_ignores_a_stale_edge() {
    run_test(|| async {
        let (client, server) = tcp_pair().await;
        let (res, _) = client.write_all(pattern(9, 100)).await;
        res.unwrap();
        // Let the driver see the edge (epoll: the read slot becomes Ready, no one waiting).
        corio::time::sleep(Duration::from_millis(20)).await;
        let (res, buf) = server.read_exact(Vec::with_capacity(100)).await;
        res.unwrap();
        assert_eq!(buf, pattern(9, 100));
        let r = timeout(Duration::from_millis(50), server.readable()).await;
        assert!(r.is_err(), "readable() with nothing to read: {r:?}");
        let (res, _) = client.write_all(&b"more"[..]).await;
        res.unwrap();
        timeout(Duration::from_secs(5), server.readable())
            .await
            .unwrap()
            .unwrap();
    });
}

/// A ping-pong of readable → read → reply: after each short read (epoll: the slot is
/// "drained") the next readable() parks and the next message's edge completes it.
#[test]
fn readable_after_short_reads_in_ping_pong() {
    run_test(|| async {
        let (client, server) = tcp_pair().await;
        let echo = corio::spawn(async move {
            loop {
                server.readable().await.unwrap();
                let (res, buf) = server.read(Vec::with_capacity(64)).await;
                match res.unwrap() {
                    0 => return,
                    _ => {
                        let (res, _) = server.write_all(buf).await;
                        res.unwrap();
                    }
                }
            }
        });
        for i in 0..500u32 {
            let (res, _) = client.write_all(i.to_le_bytes().to_vec()).await;
            res.unwrap();
            let (res, buf) = timeout(
                Duration::from_secs(5),
                client.read_exact(Vec::with_capacity(4)),
            )
            .await
            .unwrap_or_else(|_| panic!("round {i}: a readiness edge was lost"));
            res.unwrap();
            assert_eq!(buf, i.to_le_bytes());
        }
        client.shutdown(std::net::Shutdown::Write).await.unwrap();
        echo.await.unwrap();
    });
}

/// EOF and reset both make the socket readable; the read reports them.
#[test]
fn readable_on_eof_and_reset() {
    run_test(|| async {
        let (client, server) = tcp_pair().await;
        client.shutdown(std::net::Shutdown::Write).await.unwrap();
        timeout(Duration::from_secs(5), server.readable())
            .await
            .unwrap()
            .unwrap();
        let (res, _) = server.read(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), 0);

        let (client, server) = tcp_pair().await;
        let server = Rc::new(server);
        let s = server.clone();
        let wait = corio::spawn(async move { s.readable().await });
        corio::time::sleep(Duration::from_millis(20)).await;
        set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&client));
        drop(client);
        timeout(Duration::from_secs(5), wait)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let (res, _) = server.read(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionReset);
    });
}

/// A dropped readable() leaves nothing behind: the next wait and read get every byte, and on
/// io_uring the POLL_ADD is cancelled (nothing stays in flight).
#[test]
fn dropped_readable_loses_nothing() {
    run_test(|| async {
        let (client, server) = tcp_pair().await;
        let before = corio::current_driver_stats();
        for _ in 0..20 {
            assert!(timeout(Duration::from_millis(2), server.readable())
                .await
                .is_err());
        }
        let (res, _) = client.write_all(pattern(3, 500)).await;
        res.unwrap();
        server.readable().await.unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(500)).await;
        res.unwrap();
        assert_eq!(buf, pattern(3, 500));
        corio::time::sleep(Duration::from_millis(20)).await;
        let stats = corio::current_driver_stats();
        if driver() == DriverKind::IoUring {
            // Each dropped wait was cancelled on the ring, or had completed before it was
            // dropped (its result then goes to the slot as an orphan completion).
            let cancelled = stats.cancellations - before.cancellations;
            let orphaned = stats.orphan_completions - before.orphan_completions;
            assert!(cancelled + orphaned >= 20, "{stats:?}");
        }
        // Nothing stays in flight but the driver's own wake-up read.
        assert!(stats.in_flight <= 1, "{stats:?}");
    });
}

/// close() wakes a parked readable() with NotConnected; a passed read deadline fails it with
/// TimedOut and the socket stays usable.
#[test]
fn readable_close_and_deadline() {
    run_test(|| async {
        let (_client, server) = tcp_pair().await;
        let server = Rc::new(server);
        let s = server.clone();
        let wait = corio::spawn(async move { s.readable().await });
        corio::time::sleep(Duration::from_millis(20)).await;
        server.close().await.unwrap();
        let err = timeout(Duration::from_secs(5), wait)
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotConnected);

        let (client, server) = tcp_pair().await;
        let start = Instant::now();
        server.set_read_deadline(Some(start + Duration::from_millis(50)));
        let err = server.readable().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(50));
        server.set_read_deadline(None);
        let (res, _) = client.write_all(&b"late"[..]).await;
        res.unwrap();
        server.readable().await.unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        assert_eq!(&buf, b"late");
    });
}

/// writable(): ready on a fresh socket; once the buffers are full it waits until the peer
/// reads.
#[test]
fn writable_waits_for_space() {
    run_test(|| async {
        let (client, server) = tcp_pair().await;
        timeout(Duration::from_secs(5), client.writable())
            .await
            .unwrap()
            .unwrap();
        let client = Rc::new(client);
        let c = client.clone();
        // Fill both socket buffers: the write parks with the rest.
        let fill = corio::spawn(async move { c.write_all(pattern(4, 32 << 20)).await.0 });
        corio::time::sleep(Duration::from_millis(100)).await;
        assert!(!fill.is_finished(), "the buffers never filled");
        let c = client.clone();
        let wait = corio::spawn(async move { c.writable().await });
        corio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !wait.is_finished(),
            "writable() completed with the buffers full"
        );
        let mut got = 0usize;
        let mut buf = Vec::with_capacity(1 << 20);
        while got < 32 << 20 {
            buf.clear();
            let (res, b) = server.read(buf).await;
            buf = b;
            got += res.unwrap();
        }
        fill.await.unwrap().unwrap();
        timeout(Duration::from_secs(5), wait)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        timeout(Duration::from_secs(5), client.writable())
            .await
            .unwrap()
            .unwrap();
    });
}
