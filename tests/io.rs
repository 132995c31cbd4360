//! corio::io under both drivers: the owned-buffer traits on every stream type, copy and
//! copy_bidirectional (exact half-close, byte counts, errors, buffered and spliced, pooled
//! buffers given back), BufReader / BufWriter, and owned halves.

mod support;

use corio::io::{
    copy, copy_bidirectional, copy_bidirectional_with, pool_stats, AsyncReadRent, AsyncWriteRent,
    BufReader, BufWriter, CopyOptions, Splice,
};
use corio::net::{TcpListener, TcpStream, UnixStream};
use std::net::Shutdown;
use std::time::Duration;
use support::{pattern, run_test, tcp_pair};

/// Sends `data` and reads everything back until EOF, through any stream.
async fn send_and_drain<S: AsyncReadRent + AsyncWriteRent>(s: &mut S, data: Vec<u8>) -> Vec<u8> {
    let (res, _) = s.write_all(data).await;
    res.unwrap();
    s.shutdown().await.unwrap();
    let mut got = Vec::new();
    loop {
        let (res, buf) = s.read(Vec::with_capacity(64 << 10)).await;
        if res.unwrap() == 0 {
            return got;
        }
        got.extend_from_slice(&buf);
    }
}

#[test]
fn the_traits_work_on_tcp_unix_and_files() {
    run_test(|| async {
        let (mut c, s) = tcp_pair().await;
        corio::spawn(support::echo(s));
        let data = pattern(1, 300_000);
        assert_eq!(send_and_drain(&mut c, data.clone()).await, data);

        let (mut a, b) = UnixStream::pair().unwrap();
        corio::spawn(async move {
            let (mut r, mut w) = (&b, &b);
            copy(&mut r, &mut w).await.unwrap();
            b.shutdown(Shutdown::Write).await.unwrap();
        });
        assert_eq!(send_and_drain(&mut a, data.clone()).await, data);

        let path = std::env::temp_dir().join(format!(
            "corio-io-{}-{:?}",
            std::process::id(),
            support::choice()
        ));
        let mut f = corio::fs::File::create(&path).await.unwrap();
        let (res, _) = AsyncWriteRent::write_all(&mut f, b"abc".to_vec()).await;
        res.unwrap();
        let (res, _) = AsyncWriteRent::write_all(&mut f, b"def".to_vec()).await;
        res.unwrap();
        assert_eq!(f.position(), 6);
        f.set_position(2);
        let (res, buf) = AsyncReadRent::read_exact(&mut f, Vec::with_capacity(4)).await;
        res.unwrap();
        assert_eq!(buf, b"cdef");
        let (n, _) = AsyncReadRent::read(&mut f, Vec::with_capacity(4)).await;
        assert_eq!(n.unwrap(), 0, "end of file");
        std::fs::remove_file(&path).unwrap();
    });
}

/// A backend that reads everything until EOF, then answers with `reply` and shuts down.
async fn read_all_then_reply(conn: TcpStream, reply: Vec<u8>) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let (res, buf) = conn.read(Vec::with_capacity(64 << 10)).await;
        if res.unwrap() == 0 {
            break;
        }
        got.extend_from_slice(&buf);
    }
    let (res, _) = conn.write_all(reply).await;
    res.unwrap();
    conn.shutdown(Shutdown::Write).await.unwrap();
    got
}

fn half_close_case(splice: Splice) {
    run_test(move || async move {
        let backend = TcpListener::bind("127.0.0.1:0").unwrap();
        let front = TcpListener::bind("127.0.0.1:0").unwrap();
        let (baddr, faddr) = (backend.local_addr().unwrap(), front.local_addr().unwrap());
        let up = pattern(2, 1_000_000);
        let down = pattern(3, 700_000);
        let proxy = corio::spawn(async move {
            let (mut client, _) = front.accept().await.unwrap();
            let mut upstream = TcpStream::connect(baddr).await.unwrap();
            let options = CopyOptions {
                splice,
                ..CopyOptions::default()
            };
            copy_bidirectional_with(&mut client, &mut upstream, &options).await
        });
        let (down2, up2) = (down.clone(), up.clone());
        let server = corio::spawn(async move {
            let (conn, _) = backend.accept().await.unwrap();
            // The reply starts only after the client's EOF: the other direction kept going.
            assert_eq!(read_all_then_reply(conn, down2).await, up2);
        });
        let mut client = TcpStream::connect(faddr).await.unwrap();
        assert_eq!(send_and_drain(&mut client, up.clone()).await, down);
        server.await.unwrap();
        let (a_to_b, b_to_a) = proxy.await.unwrap().unwrap();
        assert_eq!((a_to_b, b_to_a), (up.len() as u64, down.len() as u64));
        let stats = pool_stats();
        assert_eq!(
            (stats.buffers_in_use, stats.pipes_in_use),
            (0, 0),
            "{stats:?}"
        );
    });
}

#[test]
fn copy_bidirectional_propagates_half_close_exactly_buffered() {
    half_close_case(Splice::Never);
}

#[test]
fn copy_bidirectional_propagates_half_close_exactly_spliced() {
    half_close_case(Splice::Always);
}

#[test]
fn a_spliced_copy_first_delivers_what_a_dropped_read_kept() {
    run_test(|| async {
        let (mut a, a_peer) = tcp_pair().await;
        let (mut b, b_peer) = tcp_pair().await;
        // A read dropped by select-style racing, which got bytes the kernel handed it.
        let (res, _) = a_peer.write_all(&b"early "[..]).await;
        res.unwrap();
        corio::time::sleep(Duration::from_millis(5)).await;
        let read = a.read(Vec::with_capacity(64));
        // On epoll the read may complete in its first poll: then it is simply read here.
        let mut want = Vec::new();
        if let Ok((res, buf)) = corio::time::timeout(Duration::ZERO, read).await {
            res.unwrap();
            want.extend_from_slice(&buf);
        }
        let options = CopyOptions {
            splice: Splice::Always,
            ..CopyOptions::default()
        };
        let proxy =
            corio::spawn(async move { copy_bidirectional_with(&mut a, &mut b, &options).await });
        let (res, _) = a_peer.write_all(&b"late"[..]).await;
        res.unwrap();
        a_peer.shutdown(Shutdown::Write).await.unwrap();
        let mut got = Vec::new();
        loop {
            let (res, buf) = b_peer.read(Vec::with_capacity(64)).await;
            if res.unwrap() == 0 {
                break;
            }
            got.extend_from_slice(&buf);
        }
        want.extend_from_slice(&got);
        assert_eq!(want, b"early late");
        drop(b_peer);
        drop(a_peer);
        let _ = proxy.await;
    });
}

#[test]
fn copy_bidirectional_reports_a_reset_and_an_idle_pair_holds_no_buffer() {
    run_test(|| async {
        let (mut a, a_peer) = tcp_pair().await;
        let (mut b, b_peer) = tcp_pair().await;
        let proxy = corio::spawn(async move { copy_bidirectional(&mut a, &mut b).await });
        corio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(pool_stats().buffers_in_use, 0, "idle: no buffer held");
        let (res, _) = a_peer.write_all(&b"ping"[..]).await;
        res.unwrap();
        let (res, buf) = b_peer.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        assert_eq!(buf, b"ping");
        support::set_linger_zero(std::os::fd::AsRawFd::as_raw_fd(&b_peer));
        drop(b_peer);
        let err = proxy.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
        drop(a_peer);
        assert_eq!(pool_stats().buffers_in_use, 0);
    });
}

#[test]
fn a_buf_reader_reads_lines_split_across_reads() {
    run_test(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let writer = corio::spawn(async move {
            for part in [&b"first li"[..], b"ne\nsecond\n", b"\xffbad\n", b"last"] {
                let (res, _) = a.write_all(part).await;
                res.unwrap();
                corio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let mut r = BufReader::with_capacity(4, b);
        let mut line = String::new();
        assert_eq!(r.read_line(&mut line).await.unwrap(), 11);
        assert_eq!(line, "first line\n");
        line.clear();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "second\n");
        let e = r.read_line(&mut line).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(line, "second\n", "left as it was");
        writer.await.unwrap();
        let mut rest = Vec::new();
        assert_eq!(r.read_until(b'\n', &mut rest).await.unwrap(), 4);
        assert_eq!(rest, b"last");
        assert_eq!(r.read_until(b'\n', &mut rest).await.unwrap(), 0, "EOF");
    });
}

#[test]
fn a_buf_reader_hands_out_buffered_bytes_through_read() {
    run_test(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a.write_all(pattern(4, 1000)).await;
        res.unwrap();
        drop(a);
        let mut r = BufReader::with_capacity(64, b);
        let mut got = Vec::new();
        loop {
            let (n, buf) = r.read(Vec::with_capacity(10)).await;
            if n.unwrap() == 0 {
                break;
            }
            got.extend_from_slice(&buf);
        }
        assert_eq!(got, pattern(4, 1000));
    });
}

#[test]
fn a_buf_writer_sends_on_flush_only() {
    run_test(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut w = BufWriter::with_capacity(1024, a);
        for i in 0..10u8 {
            let (res, _) = w.write(vec![i; 10]).await;
            assert_eq!(res.unwrap(), 10);
        }
        let early =
            corio::time::timeout(Duration::from_millis(10), b.read(Vec::with_capacity(8))).await;
        assert!(early.is_err(), "nothing sent before flush");
        w.flush().await.unwrap();
        let (res, buf) = b.read_exact(Vec::with_capacity(100)).await;
        res.unwrap();
        assert!(buf
            .chunks(10)
            .enumerate()
            .all(|(i, c)| c.iter().all(|x| *x == i as u8)));
        // A write larger than the buffer goes straight through (after what was buffered).
        let (res, _) = w.write_all(b"x".to_vec()).await;
        res.unwrap();
        let (res, _) = w.write_all(pattern(5, 5000)).await;
        res.unwrap();
        w.shutdown().await.unwrap();
        let mut got = Vec::new();
        loop {
            let (n, buf) = b.read(Vec::with_capacity(8192)).await;
            if n.unwrap() == 0 {
                break;
            }
            got.extend_from_slice(&buf);
        }
        assert_eq!(got[0], b'x');
        assert_eq!(&got[1..], &pattern(5, 5000)[..]);
    });
}

#[test]
fn owned_halves_work_from_two_tasks_and_reunite() {
    run_test(|| async {
        let (c, s) = tcp_pair().await;
        let (mut r, mut w) = c.into_split();
        let reader = corio::spawn(async move {
            let (res, buf) = r.read_exact(Vec::with_capacity(5)).await;
            res.unwrap();
            (r, buf)
        });
        let writer = corio::spawn(async move {
            let (res, _) = w.write_all(&b"hello"[..]).await;
            res.unwrap();
            w
        });
        let w = writer.await.unwrap();
        let (res, buf) = s.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(buf, b"hello");
        let (res, _) = s.write_all(&b"world"[..]).await;
        res.unwrap();
        let (r, buf) = reader.await.unwrap();
        assert_eq!(buf, b"world");
        let c = r.reunite(w).unwrap();
        let (c2, _s2) = tcp_pair().await;
        let (r2, w2) = c2.into_split();
        let err = r2.reunite(c.into_split().1).unwrap_err();
        drop(err);
        drop(w2);
        // The first stream's write half was dropped inside the error: s reads EOF.
        let (n, _) = s.read(Vec::with_capacity(1)).await;
        assert_eq!(n.unwrap(), 0);
    });
}

#[test]
fn pipe_ends_are_streams_and_lose_nothing_when_a_read_is_dropped() {
    use corio::net::unix::pipe;
    run_test(|| async {
        let (tx, rx) = pipe::pipe().unwrap();
        // A read dropped by a timeout (nothing there yet) loses nothing.
        assert!(
            corio::time::timeout(Duration::from_millis(5), rx.read(Vec::with_capacity(8)))
                .await
                .is_err()
        );
        let data = pattern(6, 1 << 20); // more than a pipe holds: the writer waits for room
        let d = data.clone();
        let writer = corio::spawn(async move {
            let mut tx = tx;
            let (res, _) = AsyncWriteRent::write_all(&mut tx, d).await;
            res.unwrap();
            AsyncWriteRent::shutdown(&mut tx).await.unwrap();
        });
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut rx = rx;
        let copied = corio::spawn(async move {
            let n = copy(&mut rx, &mut a).await.unwrap();
            a.shutdown(Shutdown::Write).await.unwrap();
            n
        });
        let mut got = Vec::new();
        loop {
            let (res, buf) = b.read(Vec::with_capacity(64 << 10)).await;
            if res.unwrap() == 0 {
                break;
            }
            got.extend_from_slice(&buf);
        }
        writer.await.unwrap();
        assert_eq!(copied.await.unwrap(), data.len() as u64);
        assert_eq!(got, data);
        let (tx, rx) = pipe::pipe().unwrap();
        drop(rx);
        let (res, _) = tx.write(&b"x"[..]).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    });
}
