//! Per-connection read and write deadlines (Go's SetReadDeadline / SetWriteDeadline): expiry
//! fails the waiting op with `TimedOut`, the buffer comes back, and the connection stays usable
//! once the deadline moves. Runs under both drivers.

mod support;

use corio::net::{TcpListener, TcpStream, UdpSocket};
use std::io::ErrorKind;
use std::time::{Duration, Instant};
use support::tcp_pair as pair;
use support::{pattern, run_test};

#[test]
fn read_deadline_expires_then_connection_is_reused() {
    run_test(|| async {
        let (client, server) = pair().await;
        let start = Instant::now();
        client.set_read_deadline(Some(start + Duration::from_millis(50)));
        let (res, buf) = client.read(Vec::with_capacity(1024)).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(start.elapsed() >= Duration::from_millis(50), "fired early");
        assert_eq!(buf.capacity(), 1024, "the buffer comes back");
        assert!(buf.is_empty());

        // Past the deadline, a new read fails at once, even with data waiting.
        let data = pattern(1, 1000);
        let (res, _) = server.write_all(data.clone()).await;
        res.unwrap();
        corio::time::sleep(Duration::from_millis(20)).await;
        let (res, buf) = client.read(buf).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(buf.is_empty());

        // Move the deadline: the connection works and nothing was lost, byte-exact.
        client.set_read_deadline(Some(Instant::now() + Duration::from_secs(10)));
        let (res, buf) = client.read_exact(Vec::with_capacity(1000)).await;
        res.unwrap();
        assert_eq!(buf, data);

        // Clear it: a read waits as long as it must.
        client.set_read_deadline(None);
        assert_eq!(client.read_deadline(), None);
        let reader = corio::spawn(async move {
            let (res, buf) = client.read(Vec::with_capacity(16)).await;
            (res.unwrap(), buf)
        });
        corio::time::sleep(Duration::from_millis(80)).await;
        let (res, _) = server.write_all(&b"late"[..]).await;
        res.unwrap();
        let (n, buf) = reader.await.unwrap();
        assert_eq!(&buf[..n], b"late");
    });
}

#[test]
fn moving_a_deadline_earlier_wakes_a_waiting_read() {
    run_test(|| async {
        let (client, _server) = pair().await;
        let client = std::rc::Rc::new(client);
        let c = client.clone();
        let reader = corio::spawn(async move {
            let start = Instant::now();
            let (res, _) = c.read(Vec::with_capacity(64)).await;
            (res, start.elapsed())
        });
        corio::time::sleep(Duration::from_millis(20)).await;
        // The read is parked with no deadline; setting one must reach it.
        client.set_read_deadline(Some(Instant::now() + Duration::from_millis(30)));
        let (res, waited) = reader.await.unwrap();
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(
            waited >= Duration::from_millis(50),
            "fired early: {waited:?}"
        );
        assert!(waited < Duration::from_secs(10), "never fired: {waited:?}");
    });
}

#[test]
fn moving_a_deadline_later_keeps_the_read_waiting() {
    run_test(|| async {
        let (client, server) = pair().await;
        let client = std::rc::Rc::new(client);
        client.set_read_deadline(Some(Instant::now() + Duration::from_millis(40)));
        let c = client.clone();
        let reader = corio::spawn(async move {
            let (res, buf) = c.read(Vec::with_capacity(64)).await;
            res.map(|n| buf[..n].to_vec())
        });
        corio::time::sleep(Duration::from_millis(10)).await;
        client.set_read_deadline(Some(Instant::now() + Duration::from_secs(10)));
        corio::time::sleep(Duration::from_millis(100)).await;
        let (res, _) = server.write_all(&b"still here"[..]).await;
        res.unwrap();
        assert_eq!(reader.await.unwrap().unwrap(), b"still here");
    });
}

#[test]
fn write_deadline_on_a_full_socket() {
    run_test(|| async {
        let (client, server) = pair().await;
        // Nobody reads `server`: the send buffers fill and write_all must wait.
        let big = pattern(2, 32 << 20);
        client.set_write_deadline(Some(Instant::now() + Duration::from_millis(100)));
        let (res, big) = client.write_all(big).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        assert_eq!(big.len(), 32 << 20, "the buffer comes back");

        // Reads are unaffected by the write deadline, and the stream still writes once the
        // deadline is cleared: drain what arrived, then a fresh message goes through.
        client.set_write_deadline(None);
        server.set_read_deadline(Some(Instant::now() + Duration::from_millis(200)));
        let mut received = 0usize;
        let mut buf = Vec::with_capacity(1 << 20);
        loop {
            buf.clear();
            let (res, b) = server.read(buf).await;
            buf = b;
            match res {
                Ok(n) => {
                    assert_eq!(&buf[..n], &big[received..received + n], "byte-exact prefix");
                    received += n;
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::TimedOut);
                    break;
                }
            }
        }
        assert!(received > 0 && received < big.len(), "received {received}");
    });
}

#[test]
fn accept_deadline() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_deadline(Some(Instant::now() + Duration::from_millis(30)));
        let err = listener.accept().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        listener.set_deadline(None);
        let addr = listener.local_addr().unwrap();
        let connect = corio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
        let (_conn, peer) = listener.accept().await.unwrap();
        let client = connect.await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
    });
}

#[test]
fn udp_recv_deadline() {
    run_test(|| async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_read_deadline(Some(Instant::now() + Duration::from_millis(30)));
        let (res, buf) = a.recv_from(Vec::with_capacity(64)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::TimedOut);
        a.set_read_deadline(None);
        let (res, _) = b.send_to(&b"ping"[..], a.local_addr().unwrap()).await;
        res.unwrap();
        let (res, buf) = a.recv_from(buf).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"ping");
        assert_eq!(from, b.local_addr().unwrap());
    });
}

/// Many reads expiring while data keeps arriving: every byte is delivered exactly once, in
/// order, whether a read returned it or the deadline won (on io_uring, data that raced the
/// cancel is returned instead of the error).
#[test]
fn deadline_races_lose_no_bytes() {
    run_test(|| async {
        let (client, server) = pair().await;
        let data = pattern(3, 200_000);
        let expect = data.clone();
        let writer = corio::spawn(async move {
            for chunk in data.chunks(1000) {
                let (res, _) = server.write_all(chunk.to_vec()).await;
                res.unwrap();
                corio::time::sleep(Duration::from_micros(200)).await;
            }
            server
        });
        let mut got = Vec::with_capacity(expect.len());
        let mut timeouts = 0;
        let mut round = 0u64;
        while got.len() < expect.len() {
            round += 1;
            let wait = Duration::from_micros(round % 7 * 60);
            client.set_read_deadline(Some(Instant::now() + wait));
            let (res, buf) = client.read(Vec::with_capacity(4096)).await;
            match res {
                Ok(0) => panic!("unexpected EOF"),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::TimedOut => timeouts += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, expect);
        drop(writer.await.unwrap());
        assert!(timeouts > 0, "no read expired: the race was not exercised");
        println!("timeouts: {timeouts} of {round} reads");
    });
}
