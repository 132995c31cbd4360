//! No fd outlives its owner: after cancellation, close, aborted tasks and runtime drop, the
//! process's fd count returns to its baseline. The tests in this binary hold
//! `support::counting_fds` (the count is process-wide).

mod support;

use corio::net::{TcpListener, TcpStream};
use corio::time::timeout;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};
use support::{each_driver, open_fds, run, run_test, LIMIT};

fn serial() -> support::CountingFds {
    support::counting_fds()
}

#[test]
fn close_with_parked_operations_releases_the_fd() {
    let _g = serial();
    each_driver(|| {
        let base = open_fds();
        run(LIMIT, async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let client = Rc::new(
                TcpStream::connect(listener.local_addr().unwrap())
                    .await
                    .unwrap(),
            );
            let (server, _) = listener.accept().await.unwrap();
            let c = client.clone();
            let reader = corio::spawn(async move { c.read(Vec::with_capacity(64)).await.0 });
            corio::time::sleep(Duration::from_millis(20)).await;
            client.close().await.unwrap();
            assert!(reader.await.unwrap().is_err());
            drop(client);
            // The peer sees the close.
            let (res, _) = server.read(Vec::with_capacity(8)).await;
            assert_eq!(res.unwrap(), 0);
        });
        assert_eq!(open_fds(), base);
    });
}

#[test]
fn explicit_close_releases_the_fd_at_once() {
    let _g = serial();
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = open_fds();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert_eq!(open_fds(), base + 2);
        client.close().await.unwrap();
        server.close().await.unwrap();
        assert_eq!(
            open_fds(),
            base,
            "close() with no operation in flight closes now"
        );
        drop((client, server));
        assert_eq!(open_fds(), base);
    });
}

#[test]
fn dropping_the_runtime_with_io_in_flight_is_prompt_and_leaks_nothing() {
    let _g = serial();
    each_driver(|| {
        let base = open_fds();
        let start = Instant::now();
        {
            let rt = support::rt();
            rt.block_on(async {
                let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
                let addr = listener.local_addr().unwrap();
                let mut conns = Vec::new();
                for _ in 0..20 {
                    let c = TcpStream::connect(addr).await.unwrap();
                    let (s, _) = listener.accept().await.unwrap();
                    conns.push((c, s));
                }
                // Idle reads on every socket, an accept, and a long sleep: all in flight.
                for (c, s) in conns {
                    corio::spawn(async move {
                        let _keep = s;
                        c.read(Vec::with_capacity(1024)).await
                    });
                }
                let l = listener.clone();
                corio::spawn(async move { l.accept().await.map(drop) });
                corio::spawn(corio::time::sleep(Duration::from_secs(3600)));
                corio::time::sleep(Duration::from_millis(20)).await;
            });
            drop(rt);
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(open_fds(), base);
    });
}

#[test]
fn connections_kept_by_dropped_accepts_close_with_the_listener() {
    let _g = serial();
    each_driver(|| {
        let base = open_fds();
        run(LIMIT, async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let clients = std::thread::spawn(move || {
                (0..20)
                    .map(|_| std::net::TcpStream::connect(addr).unwrap())
                    .collect::<Vec<_>>()
            });
            // Accept with zero patience: some accepts complete after their future is dropped and
            // their connections are kept on the listener.
            let mut taken = Vec::new();
            let give_up = Instant::now() + Duration::from_millis(300);
            while Instant::now() < give_up && taken.len() < 10 {
                if let Ok(res) = timeout(Duration::from_micros(50), listener.accept()).await {
                    taken.push(res.unwrap().0);
                }
            }
            let clients = clients.join().unwrap();
            drop(taken);
            listener.close().await.unwrap();
            drop(listener);
            // Every client sees its connection end: served ones by drop, kept ones with the
            // listener, never-accepted ones by the listener's close (reset).
            for mut c in clients {
                use std::io::Read;
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut b = [0u8; 1];
                match c.read(&mut b) {
                    Ok(0) | Err(_) => {}
                    Ok(_) => panic!("unexpected data"),
                }
            }
        });
        assert_eq!(open_fds(), base);
    });
}

#[test]
fn connection_churn_returns_to_baseline() {
    let _g = serial();
    each_driver(|| {
        let base = open_fds();
        run(LIMIT, async {
            let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
            let addr = listener.local_addr().unwrap();
            let l = listener.clone();
            let server = corio::spawn(async move {
                for _ in 0..300 {
                    let (conn, _) = l.accept().await.unwrap();
                    corio::spawn(async move {
                        let (res, buf) = conn.read(Vec::with_capacity(16)).await;
                        if let Ok(n) = res {
                            if n > 0 {
                                let _ = conn.write_all(buf).await;
                            }
                        }
                    });
                }
            });
            for i in 0..300u32 {
                let c = TcpStream::connect(addr).await.unwrap();
                let (res, _) = c.write_all(i.to_le_bytes().to_vec()).await;
                res.unwrap();
                if i % 3 == 0 {
                    // Drop with a read in flight.
                    let _ = timeout(Duration::from_micros(10), c.read(Vec::with_capacity(4))).await;
                } else {
                    let (res, buf) = c.read_exact(Vec::with_capacity(4)).await;
                    res.unwrap();
                    assert_eq!(buf, i.to_le_bytes());
                }
            }
            server.await.unwrap();
            corio::time::sleep(Duration::from_millis(50)).await;
        });
        assert_eq!(open_fds(), base);
    });
}

/// A cancellation storm: 10,000 reads, accepts and sleeps dropped in flight. Afterwards the
/// process's fd count, the driver's in-flight slots and registered descriptors, and the timer
/// count are back to their baselines.
#[test]
fn cancellation_storm_returns_to_baseline() {
    let _g = serial();
    each_driver(|| {
        let base_fds = open_fds();
        run(LIMIT, async {
            // One turn first, so run's own time limit is armed before the baseline.
            corio::time::sleep(Duration::from_millis(1)).await;
            let base = corio::current_driver_stats();
            let base_timers = corio::time::pending_timers();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut pairs = Vec::new();
            for _ in 0..50 {
                let c = TcpStream::connect(addr).await.unwrap();
                let (s, _) = listener.accept().await.unwrap();
                pairs.push((c, s));
            }
            let mut dropped = 0;
            for round in 0..100 {
                // 50 reads, 25 accepts and 25 sleeps in flight at once, then all dropped.
                let mut reads = Vec::new();
                for (c, _) in &pairs {
                    reads.push(Box::pin(c.read(Vec::with_capacity(64))));
                }
                let mut accepts = Vec::new();
                for _ in 0..25 {
                    accepts.push(Box::pin(listener.accept()));
                }
                let mut sleeps = Vec::new();
                for _ in 0..25 {
                    sleeps.push(Box::pin(corio::time::sleep(Duration::from_secs(60))));
                }
                // Poll every future once so each is really in flight, then let them go.
                std::future::poll_fn(|cx| {
                    for r in reads.iter_mut() {
                        assert!(r.as_mut().poll(cx).is_pending());
                    }
                    for a in accepts.iter_mut() {
                        assert!(a.as_mut().poll(cx).is_pending());
                    }
                    for s in sleeps.iter_mut() {
                        assert!(s.as_mut().poll(cx).is_pending());
                    }
                    std::task::Poll::Ready(())
                })
                .await;
                dropped += reads.len() + accepts.len() + sleeps.len();
                drop((reads, accepts, sleeps));
                if round % 10 == 0 {
                    corio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            assert_eq!(dropped, 10_000);
            // The sockets still work, and nothing was lost or invented.
            for (i, (c, s)) in pairs.iter().enumerate() {
                let (res, _) = s.write_all(vec![i as u8; 3]).await;
                res.unwrap();
                let (res, buf) = c.read_exact(Vec::with_capacity(3)).await;
                res.unwrap();
                assert_eq!(buf, [i as u8; 3]);
            }
            drop(pairs);
            drop(listener);
            // Cancellations complete within a few loop turns.
            let mut now = corio::current_driver_stats();
            for _ in 0..200 {
                if now.in_flight <= base.in_flight && now.registered_fds <= base.registered_fds {
                    break;
                }
                corio::time::sleep(Duration::from_millis(5)).await;
                now = corio::current_driver_stats();
            }
            assert!(
                now.in_flight <= base.in_flight,
                "slots in flight: {now:?} vs {base:?}"
            );
            assert!(
                now.registered_fds <= base.registered_fds,
                "{now:?} vs {base:?}"
            );
            assert_eq!(corio::time::pending_timers(), base_timers);
        });
        assert_eq!(open_fds(), base_fds);
    });
}
