//! The readiness driver's hard cases (issue: epoll driver with Go's netpoller semantics), run
//! under both drivers so the two stay interchangeable: readiness arriving before a task parks,
//! close waking parked tasks, accept under connection churn, and short writes against a slow
//! reader.

mod support;

use corio::net::{TcpListener, TcpStream};
use corio::DriverKind;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};
use support::{driver, only_on, pattern, run, run_test, LIMIT};

/// Readiness that arrives between a failed attempt (EAGAIN) and the park must not be lost:
/// with edge-triggered epoll there is no second edge, so a lost one hangs the exchange. Another
/// OS thread answers every message at a random moment, thousands of times; the whole test is
/// bounded, so a lost wake-up fails it instead of hanging.
#[test]
fn readiness_before_park_is_never_lost() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        const ROUNDS: u32 = 3000;
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            let mut b = [0u8; 4];
            let mut x = 1u32;
            for _ in 0..ROUNDS {
                s.read_exact(&mut b).unwrap();
                // Spin a pseudo-random, tiny while: the reply lands before, during or after
                // the reader's park.
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_nanos(u64::from(x % 20_000)) {}
                s.write_all(&b).unwrap();
            }
        });
        let (conn, _) = listener.accept().await.unwrap();
        conn.set_nodelay(true).unwrap();
        let mut buf = Vec::with_capacity(4);
        for i in 0..ROUNDS {
            let (res, b) = conn.write_all(i.to_le_bytes().to_vec()).await;
            res.unwrap();
            drop(b);
            buf.clear();
            let (res, b) = corio::time::timeout(Duration::from_secs(5), conn.read_exact(buf))
                .await
                .unwrap_or_else(|_| panic!("round {i}: the wake-up was lost"));
            buf = b;
            res.unwrap();
            assert_eq!(buf, i.to_le_bytes());
        }
        peer.join().unwrap();
    });
}

/// Go's evict: closing a socket wakes the reader and the writer parked on it, each with
/// "use of closed network connection"; later operations fail the same way. (fd release is
/// checked in fd_leaks.rs, where no other test runs concurrently.)
#[test]
fn close_wakes_parked_reader_and_writer() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = Rc::new(TcpStream::connect(addr).await.unwrap());
        let (server, _) = listener.accept().await.unwrap();

        let c = client.clone();
        let reader = corio::spawn(async move { c.read(Vec::with_capacity(64)).await.0 });
        let c = client.clone();
        // Nobody reads `server`: this write fills both socket buffers and parks.
        let writer = corio::spawn(async move { c.write_all(pattern(7, 64 << 20)).await.0 });
        corio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !reader.is_finished() && !writer.is_finished(),
            "both must be parked"
        );

        client.close().await.unwrap();
        for (what, res) in [
            ("reader", reader.await.unwrap().map(drop)),
            ("writer", writer.await.unwrap()),
        ] {
            let err = res.expect_err(what);
            assert_eq!(err.kind(), ErrorKind::NotConnected, "{what}: {err}");
            assert!(
                err.to_string().contains("use of closed network connection"),
                "{err}"
            );
        }
        let (res, _) = client.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotConnected);
        let (res, _) = client.write(&b"x"[..]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotConnected);
        assert!(client.close().await.is_ok(), "close is idempotent");
        drop(client);
        drop(server);
        drop(listener);
    });
}

/// Clients that connect and reset at once (the ECONNABORTED case: gone before or right after
/// accept) interleaved with clients that need service: the accept loop never fails, and every
/// real client is served.
#[test]
fn accept_survives_connection_churn() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        const REAL: usize = 200;
        let clients = std::thread::spawn(move || {
            let mut served = 0;
            for i in 0..REAL {
                for _ in 0..3 {
                    // Connect and abort with RST.
                    if let Ok(s) = std::net::TcpStream::connect(addr) {
                        support::set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&s));
                        drop(s);
                    }
                }
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(&(i as u32).to_le_bytes()).unwrap();
                let mut b = [0u8; 4];
                s.read_exact(&mut b).unwrap();
                assert_eq!(u32::from_le_bytes(b), i as u32);
                served += 1;
            }
            served
        });
        let mut answered = 0;
        while answered < REAL {
            let (conn, _) = listener
                .accept()
                .await
                .expect("accept must not fail under churn");
            corio::spawn(async move {
                let (res, buf) = conn.read_exact(Vec::with_capacity(4)).await;
                if res.is_ok() {
                    let _ = conn.write_all(buf).await;
                }
            });
            // Count only real clients: they are the ones that finish the exchange; the thread
            // checks each. Stop once the thread is done.
            answered += 1;
            if clients.is_finished() {
                break;
            }
        }
        while !clients.is_finished() {
            let accepted = corio::time::timeout(Duration::from_millis(20), listener.accept()).await;
            if let Ok(res) = accepted {
                let (conn, _) = res.expect("accept must not fail under churn");
                corio::spawn(async move {
                    let (res, buf) = conn.read_exact(Vec::with_capacity(4)).await;
                    if res.is_ok() {
                        let _ = conn.write_all(buf).await;
                    }
                });
            }
        }
        assert_eq!(clients.join().unwrap(), REAL);
    });
}

/// A write much larger than the socket buffers against a reader that drains slowly: write_all
/// keeps writing through short writes (parking for EPOLLOUT on epoll), and every byte arrives,
/// in order.
#[test]
fn short_writes_to_a_slow_reader_deliver_every_byte() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        const LEN: usize = 24 << 20;
        let reader = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let mut got = Vec::with_capacity(LEN);
            let mut chunk = vec![0u8; 64 << 10];
            let mut reads = 0;
            loop {
                let n = s.read(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&chunk[..n]);
                reads += 1;
                if reads % 16 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            got
        });
        let (conn, _) = listener.accept().await.unwrap();
        let data = pattern(11, LEN);
        let before = corio::current_driver_stats();
        let (res, data) = conn.write_all(data).await;
        res.unwrap();
        let after = corio::current_driver_stats();
        conn.close().await.unwrap();
        let got = reader.join().unwrap();
        assert_eq!(got.len(), LEN);
        assert!(got == data, "bytes differ");
        if driver() == DriverKind::Epoll {
            assert!(
                after.eagain > before.eagain,
                "the writer never had to park: {after:?}"
            );
        }
    });
}

/// Several tasks accepting on one listener all get connections (on epoll they share one
/// poll-descriptor slot).
#[test]
fn concurrent_accepts_on_one_listener() {
    run_test(|| async {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let acceptors: Vec<_> = (0..4)
            .map(|_| {
                let l = listener.clone();
                corio::spawn(async move {
                    let mut n = 0;
                    for _ in 0..5 {
                        let (conn, _) = l.accept().await.unwrap();
                        let (res, buf) = conn.read_exact(Vec::with_capacity(1)).await;
                        res.unwrap();
                        let (res, _) = conn.write_all(buf).await;
                        res.unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        corio::time::sleep(Duration::from_millis(20)).await;
        for i in 0..20u8 {
            let c = TcpStream::connect(addr).await.unwrap();
            let (res, _) = c.write_all(vec![i]).await;
            res.unwrap();
            let (res, buf) = c.read_exact(Vec::with_capacity(1)).await;
            res.unwrap();
            assert_eq!(buf, [i]);
        }
        let mut total = 0;
        for a in acceptors {
            total += a.await.unwrap();
        }
        assert_eq!(total, 20);
    });
}

/// Data followed at once by the peer's close, read with a buffer larger than the data: the
/// short read must not make the next read wait for an edge that will never come (the FIN's
/// edge may already have been consumed). Every round ends with all bytes and then EOF.
#[test]
fn short_read_then_eof_never_hangs() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        const ROUNDS: usize = 300;
        let peer = std::thread::spawn(move || {
            for i in 0..ROUNDS {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_micros((i % 7) as u64 * 30) {}
                s.write_all(&[i as u8; 100]).unwrap();
                // Closed right after the data: FIN follows in the same or the next segment.
            }
        });
        for i in 0..ROUNDS {
            let (conn, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            loop {
                let read = conn.read(Vec::with_capacity(4096));
                let (res, buf) = corio::time::timeout(Duration::from_secs(5), read)
                    .await
                    .unwrap_or_else(|_| panic!("round {i}: read hung after {} bytes", got.len()));
                match res.unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
            assert_eq!(got, vec![i as u8; 100], "round {i}");
        }
        peer.join().unwrap();
    });
}

/// A ping-pong request costs the readiness driver two I/O syscalls (recv with data, send):
/// after a short read the next recv parks without the attempt that would only say EAGAIN.
#[test]
fn ping_pong_costs_two_io_syscalls_per_request_on_epoll() {
    only_on(DriverKind::Epoll, "counts epoll's syscalls", || {
        run(LIMIT, async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            const ROUNDS: u64 = 2000;
            let client = std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                let mut b = [0u8; 32];
                for _ in 0..ROUNDS {
                    s.write_all(&[7; 32]).unwrap();
                    s.read_exact(&mut b).unwrap();
                }
            });
            let (conn, _) = listener.accept().await.unwrap();
            conn.set_nodelay(true).unwrap();
            let before = corio::current_driver_stats();
            let mut buf = Vec::with_capacity(4096);
            loop {
                buf.clear();
                let (res, b) = conn.read(buf).await;
                if res.unwrap() == 0 {
                    break;
                }
                let (res, b) = conn.write_all(b).await;
                res.unwrap();
                buf = b;
            }
            client.join().unwrap();
            let after = corio::current_driver_stats();
            let per_request = (after.io_syscalls - before.io_syscalls) as f64 / ROUNDS as f64;
            // recv + send per request, plus the final EOF read; 2.5 leaves room for reads that
            // catch half a request.
            assert!(
                per_request <= 2.5,
                "{per_request:.2} I/O syscalls per request: {after:?}"
            );
            println!("{per_request:.3} I/O syscalls per request");
        });
    });
}
