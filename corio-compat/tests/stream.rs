//! The compat layer itself: byte-exact transfers through tokio's and futures-io's traits, the
//! flush and shutdown contract, errors, and cancellation (a dropped read loses no byte).

mod support;

use corio::net::{TcpStream, UnixStream};
use corio_compat::{echo, Compat};
use std::io::ErrorKind;
use std::time::Duration;
use support::{noise, run, tcp_pair};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(30);

/// Everything `peer` receives until EOF.
async fn read_to_eof(peer: &TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let (res, buf) = peer.read(Vec::with_capacity(64 << 10)).await;
        if res.unwrap() == 0 {
            return got;
        }
        got.extend_from_slice(&buf);
    }
}

/// Sends `data` from `tx` to `rx` through two `Compat`s with the given buffer sizes.
async fn transfer<S: corio_compat::OwnedStream>(tx: S, rx: S, data: Vec<u8>, bufs: (usize, usize)) {
    let mut tx = Compat::with_capacity(tx, bufs.0, bufs.1);
    let mut rx = Compat::with_capacity(rx, bufs.0, bufs.1);
    let expect = data.clone();
    let writer = corio::spawn(async move {
        tx.write_all(&data).await.unwrap();
        tx.shutdown().await.unwrap();
        tx
    });
    let mut got = Vec::new();
    rx.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), expect.len());
    assert!(got == expect, "bytes differ");
    drop(writer.await.unwrap());
}

#[test]
fn tokio_traits_are_byte_exact_over_tcp_and_unix() {
    run(LIMIT, async {
        let sizes = [0, 1, 5, 6, 16383, 16384, 16385, (1 << 20) + 7];
        for (i, &len) in sizes.iter().enumerate() {
            for bufs in [(16384, 16384), (7, 5)] {
                if bufs.0 < 16 && len > 100_000 {
                    continue;
                }
                let (a, b) = tcp_pair().await;
                transfer(a, b, noise(i as u64, len), bufs).await;
                let (a, b) = UnixStream::pair().unwrap();
                transfer(a, b, noise(i as u64 + 100, len), bufs).await;
            }
        }
    });
}

#[test]
fn futures_io_traits_are_byte_exact() {
    use futures_util::io::AsyncWriteExt as _;
    run(LIMIT, async {
        let (a, b) = tcp_pair().await;
        let data = noise(7, 300_000);
        let expect = data.clone();
        let writer = corio::spawn(async move {
            let mut tx = Compat::new(a);
            futures_util::io::AsyncWriteExt::write_all(&mut tx, &data)
                .await
                .unwrap();
            tx.close().await.unwrap();
        });
        let mut rx = Compat::new(b);
        let mut got = Vec::new();
        futures_util::io::AsyncReadExt::read_to_end(&mut rx, &mut got)
            .await
            .unwrap();
        assert!(got == expect);
        writer.await.unwrap();
    });
}

#[test]
fn a_read_dropped_by_a_timeout_loses_no_bytes() {
    run(LIMIT, async {
        let (peer, conn) = tcp_pair().await;
        let mut io = Compat::new(conn);
        let mut buf = [0u8; 64];
        // Three poll-based reads given up by timeouts, one after the other.
        for _ in 0..3 {
            let r = corio::time::timeout(Duration::from_millis(20), io.read(&mut buf)).await;
            assert!(r.is_err(), "nothing was sent yet: the read must time out");
            assert!(io.read_in_flight(), "the read stays with the Compat");
        }
        let data = noise(3, 200_000);
        let (res, _) = peer.write_all(data.clone()).await;
        res.unwrap();
        peer.shutdown(std::net::Shutdown::Write).await.unwrap();
        let mut got = Vec::new();
        io.read_to_end(&mut got).await.unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "every byte, in order, once");
    });
}

#[test]
fn a_timeout_racing_arriving_data_loses_no_bytes() {
    run(LIMIT, async {
        let (peer, conn) = tcp_pair().await;
        let mut io = Compat::with_capacity(conn, 1000, 1000);
        let data = noise(4, 100_000);
        let send = data.clone();
        let writer = corio::spawn(async move {
            for chunk in send.chunks(997) {
                let (res, _) = peer.write_all(chunk.to_vec()).await;
                res.unwrap();
                corio::time::sleep(Duration::from_micros(200)).await;
            }
            peer.shutdown(std::net::Shutdown::Write).await.unwrap();
        });
        // Timeouts short enough to elapse at any point of a read: before, during, after data.
        let mut got = Vec::new();
        let mut buf = [0u8; 333];
        loop {
            match corio::time::timeout(Duration::from_micros(150), io.read(&mut buf)).await {
                Err(_) => continue,
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => panic!("read: {e}"),
            }
        }
        assert_eq!(got.len(), data.len());
        assert!(got == data);
        writer.await.unwrap();
    });
}

#[test]
fn into_inner_returns_unconsumed_bytes_and_keeps_an_in_flight_read() {
    run(LIMIT, async {
        let (peer, conn) = tcp_pair().await;
        let data = noise(5, 100);
        let (res, _) = peer.write_all(data.clone()).await;
        res.unwrap();
        let mut io = Compat::new(conn);
        let mut head = [0u8; 10];
        io.read_exact(&mut head).await.unwrap();
        let (conn, rest) = io.into_inner().expect("nothing staged");
        let mut got = head.to_vec();
        got.extend_from_slice(&rest);
        while got.len() < data.len() {
            let (res, buf) = conn.read(Vec::with_capacity(256)).await;
            assert!(res.unwrap() > 0);
            got.extend_from_slice(&buf);
        }
        assert_eq!(got, data);

        // A read in flight when the stream is taken back: corio cancels it losslessly.
        let mut io = Compat::new(conn);
        let r = corio::time::timeout(Duration::from_millis(20), io.read(&mut head)).await;
        assert!(r.is_err());
        let (conn, rest) = io.into_inner().expect("nothing staged");
        assert!(rest.is_empty());
        let (res, _) = peer.write_all(&b"after"[..]).await;
        res.unwrap();
        let (res, buf) = conn.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(&buf, b"after");
    });
}

#[test]
fn writes_go_out_on_flush_and_shutdown() {
    run(LIMIT, async {
        let (peer, conn) = tcp_pair().await;
        let mut io = Compat::new(conn);
        io.write_all(b"staged").await.unwrap();
        let early =
            corio::time::timeout(Duration::from_millis(50), peer.read(Vec::with_capacity(16)))
                .await;
        assert!(early.is_err(), "nothing is sent before a flush");
        let e = io.into_inner().expect_err("refused while bytes are staged");
        let mut io = e;
        io.flush().await.unwrap();
        let (res, buf) = peer.read_exact(Vec::with_capacity(6)).await;
        res.unwrap();
        assert_eq!(&buf, b"staged");

        // shutdown flushes first, then the peer reads EOF.
        let data = noise(6, 150_000);
        io.write_all(&data).await.unwrap();
        io.shutdown().await.unwrap();
        io.shutdown().await.unwrap(); // idempotent
        let got = read_to_eof(&peer).await;
        assert!(got == data);
    });
}

/// The write side's two buffers: a flush that is started and abandoned leaves its write in
/// flight; bytes staged meanwhile go to the second buffer; the next flush sends both batches
/// in order. Mixed with plain write-flush rounds (where the finished write's buffer is reused
/// as the staging buffer) and writes larger than the buffer, every byte arrives once, in order.
#[test]
fn staging_while_a_write_is_in_flight_keeps_the_byte_order() {
    run(LIMIT, async {
        let (peer, conn) = tcp_pair().await;
        let mut io = Compat::with_capacity(conn, 4096, 4096);
        let mut sent = Vec::new();
        for round in 0..60u64 {
            let a = noise(round, 1 + (round as usize * 97) % 6000);
            io.write_all(&a).await.unwrap();
            sent.extend_from_slice(&a);
            if round % 2 == 0 {
                // One poll of the flush starts the write; dropping the flush leaves it in
                // flight inside the Compat.
                let mut flush = std::pin::pin!(io.flush());
                std::future::poll_fn(|cx| {
                    let _ = std::future::Future::poll(flush.as_mut(), cx);
                    std::task::Poll::Ready(())
                })
                .await;
                let b = noise(round + 1000, 1 + (round as usize * 31) % 300);
                io.write_all(&b).await.unwrap();
                sent.extend_from_slice(&b);
            }
            io.flush().await.unwrap();
        }
        io.shutdown().await.unwrap();
        let got = read_to_eof(&peer).await;
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "bytes differ");
    });
}

#[test]
fn a_failed_write_is_reported_and_sticks() {
    run(LIMIT, async {
        let (peer, conn) = tcp_pair().await;
        drop(peer);
        let mut io = Compat::new(conn);
        let chunk = vec![1u8; 64 << 10];
        let mut err = None;
        for _ in 0..200 {
            if let Err(e) = async {
                io.write_all(&chunk).await?;
                io.flush().await
            }
            .await
            {
                err = Some(e);
                break;
            }
        }
        let kind = err.expect("writing to a closed peer fails").kind();
        assert!(
            matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "{kind:?}"
        );
        assert_eq!(io.write(b"x").await.unwrap_err().kind(), kind);
        assert_eq!(io.flush().await.unwrap_err().kind(), kind);
    });
}

#[test]
fn buffered_reads_split_lines_across_refills() {
    run(LIMIT, async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a
            .write_all(&b"hello\nworld, longer than four\nend"[..])
            .await;
        res.unwrap();
        drop(a);
        let mut io = Compat::with_capacity(b, 4, 4);
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if io.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            lines.push(line);
        }
        assert_eq!(lines, ["hello\n", "world, longer than four\n", "end"]);
    });
}

#[test]
fn echo_serves_split_halves_in_two_tasks() {
    run(LIMIT, async {
        let (client, server) = tcp_pair().await;
        let served = corio::spawn(echo(Compat::new(server)));
        let (mut rd, mut wr) = tokio::io::split(Compat::with_capacity(client, 4096, 4096));
        let data = noise(8, 2 << 20);
        let send = data.clone();
        // The writer and the reader are separate tasks: each direction wakes its own.
        let writer = corio::spawn(async move {
            for chunk in send.chunks(10_000) {
                wr.write_all(chunk).await.unwrap();
                wr.flush().await.unwrap();
            }
            wr.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        rd.read_to_end(&mut got).await.unwrap();
        assert!(got == data);
        writer.await.unwrap();
        assert_eq!(served.await.unwrap().unwrap(), data.len() as u64);
    });
}

#[test]
fn get_ref_reaches_the_stream() {
    run(LIMIT, async {
        let (a, _b) = tcp_pair().await;
        let io: Compat<TcpStream> = Compat::new(a);
        io.get_ref().set_nodelay(true).unwrap();
        assert!(io.get_ref().nodelay().unwrap());
        assert!(format!("{io:?}").contains("Compat"));
    });
}

#[test]
fn shutdown_after_the_peer_reset_the_connection_is_done() {
    use std::os::fd::AsRawFd;
    run(LIMIT, async {
        let (peer, conn) = tcp_pair().await;
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: setsockopt reads `size_of::<linger>()` bytes from a live local; the fd is open.
        let rc = unsafe {
            libc::setsockopt(
                peer.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        drop(peer); // close with linger 0: an RST
        let mut io = Compat::new(conn);
        let mut buf = [0u8; 8];
        let err = io
            .read(&mut buf)
            .await
            .expect_err("the reset reaches the reader");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        io.shutdown().await.expect("nothing left to shut down");
    });
}

#[test]
fn a_dropped_compat_hands_its_operations_to_the_driver() {
    let rt = corio::Runtime::new().expect("corio runtime");
    let uring = rt.driver_info().kind == corio::DriverKind::IoUring;
    rt.block_on(async {
        corio::time::timeout(LIMIT, async {
            // One turn first, so the time limit's timer is in the baseline.
            corio::time::sleep(Duration::from_millis(1)).await;
            let base = corio::current_driver_stats();
            let (peer, conn) = tcp_pair().await;
            let mut io = Compat::new(conn);
            // A read in flight: nothing was sent.
            let mut buf = [0u8; 16];
            let r = corio::time::timeout(Duration::from_millis(10), io.read(&mut buf)).await;
            assert!(r.is_err());
            assert!(io.read_in_flight());
            // A write in flight: the peer does not read until the `Compat` is gone.
            let chunk = noise(9, 256 << 10);
            let stalled = corio::time::timeout(Duration::from_millis(50), async {
                loop {
                    io.write_all(&chunk).await?;
                    io.flush().await?;
                }
                #[allow(unreachable_code)]
                std::io::Result::Ok(())
            })
            .await;
            assert!(
                stalled.is_err(),
                "the peer does not read: writes must stall"
            );
            drop(io);

            // Both operations are cancelled; on io_uring their buffers stay with the driver
            // until the kernel's completions arrive, then nothing is left in flight.
            let mut now = corio::current_driver_stats();
            for _ in 0..200 {
                if now.in_flight <= base.in_flight {
                    break;
                }
                corio::time::sleep(Duration::from_millis(5)).await;
                now = corio::current_driver_stats();
            }
            assert!(now.in_flight <= base.in_flight, "{now:?} vs {base:?}");
            if uring {
                assert!(
                    now.cancellations >= base.cancellations + 2,
                    "{now:?} vs {base:?}"
                );
            }
            // What reached the peer is a prefix of what was written, byte-exact (a buffer
            // freed under the kernel would show here), then EOF: the stream closed.
            let got = read_to_eof(&peer).await;
            assert!(!got.is_empty());
            for (i, part) in got.chunks(chunk.len()).enumerate() {
                assert!(part == &chunk[..part.len()], "bytes differ in copy {i}");
            }
        })
        .await
        .expect("test exceeded its time limit")
    });
}
