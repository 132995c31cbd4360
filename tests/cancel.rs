//! Cancellation: dropping an in-flight operation is safe and loses nothing. A dropped read's
//! bytes come back on the next read, a dropped accept's connection on the next accept; slots
//! are never confused; small rings overflow and recover. Runs under both drivers.

mod support;

use corio::net::TcpListener;
use corio::time::timeout;
use corio::DriverKind;
use std::io::{Read, Write};
use std::time::Duration;
use support::tcp_pair as pair;
use support::{driver, each_driver, pattern, run_test};

/// `timeout` around reads while data streams in: reads are dropped at every stage (before
/// submission, in flight, after the CQE carried data), and every byte still arrives exactly
/// once, in order.
#[test]
fn dropped_reads_lose_no_bytes() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        const LEN: usize = 400_000;
        let writer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let data = pattern(21, LEN);
            for chunk in data.chunks(997) {
                s.write_all(chunk).unwrap();
                std::thread::sleep(Duration::from_micros(50));
            }
        });
        let (conn, _) = listener.accept().await.unwrap();
        let before = corio::current_driver_stats();
        let mut got = Vec::with_capacity(LEN);
        let mut dropped = 0;
        let mut round = 0u64;
        while got.len() < LEN {
            round += 1;
            let wait = Duration::from_micros(round % 5 * 40);
            match timeout(wait, conn.read(Vec::with_capacity(1500))).await {
                Ok((res, buf)) => {
                    let n = res.unwrap();
                    assert!(n > 0, "unexpected EOF after {} bytes", got.len());
                    got.extend_from_slice(&buf[..n]);
                }
                Err(_) => dropped += 1,
            }
        }
        writer.join().unwrap();
        assert_eq!(got, pattern(21, LEN));
        assert!(
            dropped > 0,
            "no read was dropped: the test exercised nothing"
        );
        let after = corio::current_driver_stats();
        if driver() == DriverKind::IoUring {
            assert!(after.cancellations > before.cancellations, "{after:?}");
        }
        // Nothing stays in flight but the driver's own wake-up read.
        assert!(after.in_flight <= 1, "{after:?}");
        println!("{dropped} of {round} reads dropped; {after:?}");
    });
}

/// `timeout` around accepts while clients connect: a connection accepted by a dropped accept
/// is returned by the next one, so every client is served.
#[test]
fn dropped_accepts_lose_no_connections() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        const CLIENTS: u32 = 300;
        let clients = std::thread::spawn(move || {
            for i in 0..CLIENTS {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(&i.to_le_bytes()).unwrap();
                let mut b = [0u8; 4];
                s.read_exact(&mut b).expect("served");
                assert_eq!(u32::from_le_bytes(b), i);
            }
        });
        let mut seen = vec![false; CLIENTS as usize];
        let mut served = 0;
        let mut round = 0u64;
        while served < CLIENTS {
            round += 1;
            let wait = Duration::from_micros(round % 4 * 30);
            let Ok(res) = timeout(wait, listener.accept()).await else {
                continue;
            };
            let (conn, _) = res.unwrap();
            let (res, buf) = conn.read_exact(Vec::with_capacity(4)).await;
            res.unwrap();
            let id = u32::from_le_bytes(buf[..].try_into().unwrap());
            assert!(!seen[id as usize], "client {id} accepted twice");
            seen[id as usize] = true;
            let (res, _) = conn.write_all(buf).await;
            res.unwrap();
            served += 1;
        }
        clients.join().unwrap();
    });
}

/// A read dropped in flight keeps its fd open until its completion, so a new socket cannot take
/// the number and receive the old connection's bytes.
#[test]
fn dropped_read_never_completes_into_a_reused_fd() {
    run_test(|| async {
        for round in 0..50u8 {
            let (old, old_peer) = pair().await;
            let _ = timeout(Duration::from_micros(100), old.read(Vec::with_capacity(64))).await;
            drop(old);
            let (new, new_peer) = pair().await;
            // The old peer's bytes must never show up on the new connection.
            let _ = old_peer.write_all(vec![0xEE; 32]).await;
            let (res, _) = new_peer.write_all(vec![round; 8]).await;
            res.unwrap();
            let (res, buf) = new.read_exact(Vec::with_capacity(8)).await;
            res.unwrap();
            assert_eq!(buf, [round; 8]);
        }
    });
}

/// Aborting a task with a read in flight cancels the read; the runtime keeps working.
#[test]
fn abort_cancels_in_flight_io() {
    run_test(|| async {
        let (client, server) = pair().await;
        let task = corio::spawn(async move {
            let (res, _) = client.read(Vec::with_capacity(64)).await;
            res.map(|_| ())
        });
        corio::time::sleep(Duration::from_millis(20)).await;
        task.abort();
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        // The aborted read's slot is released once its cancellation completes.
        for _ in 0..100 {
            if corio::current_driver_stats().in_flight <= 1 {
                break;
            }
            corio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(corio::current_driver_stats().in_flight <= 1);
        // The peer sees the connection closed (the aborted task owned the client).
        let (res, _) = server.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0);
    });
}

/// Thousands of operations started and dropped: later operations get their own results,
/// never a stale completion.
#[test]
fn dropped_ops_never_deliver_to_a_reused_slot() {
    run_test(|| async {
        let (client, server) = pair().await;
        for round in 0..200u32 {
            // Start reads and drop them at once.
            for _ in 0..5 {
                let read = client.read(Vec::with_capacity(16));
                let _ = timeout(Duration::ZERO, read).await;
            }
            let msg = round.to_le_bytes().to_vec();
            let (res, _) = server.write_all(msg.clone()).await;
            res.unwrap();
            let (res, buf) = client.read_exact(Vec::with_capacity(4)).await;
            res.unwrap();
            assert_eq!(buf, msg, "round {round}");
            corio::op::nop().await.unwrap();
        }
    });
}

/// A tiny ring (8 SQEs, 16 CQEs) with hundreds of operations at once: the SQ fills and is
/// flushed, the CQ overflows and is flushed, and every operation completes.
#[test]
fn tiny_ring_overflows_and_loses_nothing() {
    each_driver(|| {
        let rt = support::builder().ring_entries(8).build().unwrap();
        let stats = rt.block_on(async {
            timeout(Duration::from_secs(20), async {
                let nops: Vec<_> = (0..500).map(|_| corio::spawn(corio::op::nop())).collect();
                for n in nops {
                    n.await.unwrap().unwrap();
                }
                // Sockets too: 64 connections, each with a read in flight, all answered at once.
                let mut pairs = Vec::new();
                for _ in 0..64 {
                    let (client, server) = pair().await;
                    pairs.push((std::rc::Rc::new(client), server));
                }
                let mut readers = Vec::new();
                for (i, (client, _)) in pairs.iter().enumerate() {
                    let c = client.clone();
                    readers.push(corio::spawn(async move {
                        let (res, buf) = c.read_exact(Vec::with_capacity(100)).await;
                        res.unwrap();
                        assert_eq!(buf, pattern(i as u64, 100));
                    }));
                }
                corio::time::sleep(Duration::from_millis(20)).await;
                // All 64 answers at once, without yielding to the loop: their completions are all
                // due in the next turn, four times what the CQ holds.
                for (i, (_, server)) in pairs.iter().enumerate() {
                    use std::os::fd::AsRawFd;
                    let data = pattern(i as u64, 100);
                    // SAFETY: write(2) reads `data`, valid for the call, on an fd we own.
                    let n = unsafe { libc::write(server.as_raw_fd(), data.as_ptr().cast(), 100) };
                    assert_eq!(n, 100);
                }
                for r in readers {
                    r.await.unwrap();
                }
            })
            .await
            .expect("time limit");
            corio::current_driver_stats()
        });
        println!("{stats:?}");
        if rt.driver_info().kind == DriverKind::IoUring {
            assert!(stats.sq_full > 0, "the SQ never filled: {stats:?}");
            assert!(stats.cq_overflows > 0, "the CQ never overflowed: {stats:?}");
        }
    });
}
