//! UDP sockets (send_to/recv_from, connected send/recv, truncation, empty datagrams, IPv6) and
//! Unix-domain streams (listener over a temp path, pair, addresses, errors). Runs under both
//! drivers.

mod support;

use corio::buf::IoBuf;
use corio::net::{UdpSocket, UnixListener, UnixStream};
use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{pattern, run_test};

/// A unique socket path in the temp dir, removed (if present) when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "corio-{tag}-{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&p);
        TempPath(p)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn udp_send_to_and_recv_from_are_byte_exact() {
    run_test(|| async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_ne!(aa.port(), 0);
        assert_ne!(aa, ba);
        // Not connected: no peer.
        let err = a.peer_addr().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotConnected, "{err}");

        // Datagrams of several sizes, each arriving whole and in order on loopback.
        for (i, len) in [1usize, 100, 1472, 8000, 65_507].into_iter().enumerate() {
            let data = pattern(i as u64, len);
            let (res, back) = a.send_to(data.clone(), ba).await;
            assert_eq!(res.unwrap(), len);
            assert_eq!(back, data);
            let (res, got) = b.recv_from(Vec::with_capacity(65_536)).await;
            let (n, from) = res.unwrap();
            assert_eq!((n, from), (len, aa));
            assert!(got == data, "datagram of {len} bytes differs");
        }

        // Existing bytes in the buffer are kept; the datagram is appended.
        let (res, _) = b.send_to("pong", aa).await;
        assert_eq!(res.unwrap(), 4);
        let mut buf = Vec::with_capacity(16);
        buf.extend_from_slice(b">>");
        let (res, buf) = a.recv_from(buf).await;
        assert_eq!(res.unwrap(), (4, ba));
        assert_eq!(buf, b">>pong");

        // Into a slice.
        let (res, _) = a.send_to(&b"slice"[..], ba).await;
        res.unwrap();
        let mut v = Vec::with_capacity(32);
        v.extend_from_slice(b"0123");
        let (res, s) = b.recv_from(v.slice(4..12)).await;
        assert_eq!(res.unwrap(), (5, aa));
        assert_eq!(s.into_inner(), b"0123slice");

        // A full buffer is refused.
        let (res, _) = b.recv_from(vec![0u8; 4]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn udp_connected_send_recv_and_peer_addr() {
    run_test(|| async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let other = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        a.connect(ba).await.unwrap();
        b.connect(aa).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), ba);
        assert_eq!(b.peer_addr().unwrap(), aa);

        // A datagram from a third socket is filtered out by the connected socket.
        let (res, _) = other.send_to(&b"intruder"[..], ba).await;
        res.unwrap();
        for i in 0..20u8 {
            let (res, _) = a.send(vec![i; 1 + i as usize]).await;
            assert_eq!(res.unwrap(), 1 + i as usize);
        }
        for i in 0..20u8 {
            let (res, got) = b.recv(Vec::with_capacity(64)).await;
            assert_eq!(res.unwrap(), 1 + i as usize);
            assert_eq!(got, vec![i; 1 + i as usize], "datagram {i}");
        }
        // recv_from on a connected socket reports the peer.
        let (res, _) = b.send(&b"back"[..]).await;
        res.unwrap();
        let (res, got) = a.recv_from(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), (4, ba));
        assert_eq!(got, b"back");

        // Connecting to an unparsable address is an error, not a panic.
        let err = a.connect("nonsense").await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    });
}

/// A datagram larger than the buffer is truncated to the spare capacity (recv(2) semantics:
/// the rest is discarded), identically on both drivers; the next datagram is intact.
#[test]
fn udp_receive_into_a_small_buffer_truncates() {
    run_test(|| async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let big = pattern(11, 100);
        for _ in 0..2 {
            let (res, _) = a.send_to(big.clone(), ba).await;
            res.unwrap();
        }
        let (res, _) = a.send_to(&b"next"[..], ba).await;
        res.unwrap();

        let (res, got) = b.recv_from(Vec::with_capacity(10)).await;
        assert_eq!(res.unwrap(), (10, aa));
        assert_eq!(got, big[..10]);
        // Connected recv truncates the same way.
        b.connect(aa).await.unwrap();
        let (res, got) = b.recv(Vec::with_capacity(7)).await;
        assert_eq!(res.unwrap(), 7);
        assert_eq!(got, big[..7]);
        // The truncated remainders are gone: the next read gets the next datagram.
        let (res, got) = b.recv(Vec::with_capacity(100)).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(got, b"next");
    });
}

/// An empty datagram is a datagram: it is sent and received as length 0 (not EOF).
#[test]
fn udp_empty_datagrams() {
    run_test(|| async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let (res, _) = a.send_to(Vec::new(), ba).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = a.send_to(&b"after"[..], ba).await;
        res.unwrap();
        let (res, got) = b.recv_from(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), (0, aa));
        assert!(got.is_empty());
        let (res, got) = b.recv_from(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), (5, aa));
        assert_eq!(got, b"after");
    });
}

/// A receive parked before the datagram is sent completes when it arrives; many parked
/// receivers on many sockets each get theirs.
#[test]
fn udp_parked_receives_complete() {
    run_test(|| async {
        let receivers: Vec<UdpSocket> = (0..50)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs: Vec<SocketAddr> = receivers.iter().map(|r| r.local_addr().unwrap()).collect();
        let tasks: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                corio::spawn(async move {
                    let (res, got) = r.recv_from(Vec::with_capacity(64)).await;
                    let (n, _) = res.unwrap();
                    assert_eq!(n, 8);
                    assert_eq!(got, (i as u64).to_le_bytes(), "socket {i}");
                })
            })
            .collect();
        corio::time::sleep(Duration::from_millis(10)).await;
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for (i, addr) in addrs.iter().enumerate().rev() {
            let (res, _) = sender
                .send_to((i as u64).to_le_bytes().to_vec(), *addr)
                .await;
            res.unwrap();
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn udp_errors_and_ipv6() {
    run_test(|| async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = UdpSocket::bind(a.local_addr().unwrap()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        let err = UdpSocket::bind("bogus").err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        // An IPv6 datagram to an IPv4 socket's address family mismatch: EAFNOSUPPORT or
        // EINVAL, an error either way.
        let (res, _) = a.send_to(&b"x"[..], "[::1]:9".parse().unwrap()).await;
        assert!(res.is_err());

        if std::net::UdpSocket::bind("[::1]:0").is_err() {
            println!("skipped IPv6: loopback unavailable");
            return;
        }
        let x = UdpSocket::bind("[::1]:0").unwrap();
        let y = UdpSocket::bind("[::1]:0").unwrap();
        let (xa, ya) = (x.local_addr().unwrap(), y.local_addr().unwrap());
        assert!(xa.is_ipv6());
        let data = pattern(12, 1200);
        let (res, _) = x.send_to(data.clone(), ya).await;
        assert_eq!(res.unwrap(), 1200);
        let (res, got) = y.recv_from(Vec::with_capacity(2000)).await;
        assert_eq!(res.unwrap(), (1200, xa));
        assert!(got == data);
    });
}

#[test]
fn unix_listener_echo_over_a_temp_path() {
    run_test(|| async {
        let path = TempPath::new("echo");
        let listener = UnixListener::bind(&path.0).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.0.as_path())
        );
        let server = corio::spawn(async move {
            let (s, peer) = listener.accept().await.unwrap();
            // The client is unnamed.
            assert_eq!(peer.as_pathname(), None);
            let mut total = 0;
            let mut buf = Vec::with_capacity(32 * 1024);
            loop {
                buf.clear();
                let (res, b) = s.read(buf).await;
                buf = b;
                let n = res.unwrap();
                if n == 0 {
                    break;
                }
                total += n;
                let (res, b) = s.write_all(buf).await;
                buf = b;
                res.unwrap();
            }
            s.shutdown(Shutdown::Write).await.unwrap();
            total
        });
        let c = std::rc::Rc::new(UnixStream::connect(&path.0).await.unwrap());
        assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(path.0.as_path()));
        assert_eq!(c.local_addr().unwrap().as_pathname(), None);

        const LEN: usize = 1 << 20;
        let data = pattern(21, LEN);
        let writer = {
            let c = c.clone();
            let data = data.clone();
            corio::spawn(async move {
                let mut data = data;
                let mut off = 0;
                let mut step = 1;
                while off < LEN {
                    let end = (off + step).min(LEN);
                    let (res, s) = c.write_all(data.slice(off..end)).await;
                    res.unwrap();
                    data = s.into_inner();
                    off = end;
                    step = step * 3 % 65_521 + 1;
                }
                c.shutdown(Shutdown::Write).await.unwrap();
            })
        };
        let mut got = Vec::with_capacity(LEN);
        loop {
            let (res, buf) = c.read(Vec::with_capacity(10_000)).await;
            if res.unwrap() == 0 {
                break;
            }
            got.extend_from_slice(&buf);
        }
        writer.await.unwrap();
        assert_eq!(server.await.unwrap(), LEN);
        assert!(got == data, "unix echo differs");
    });
}

#[test]
fn unix_pair_is_connected_both_ways() {
    run_test(|| async {
        let (a, b) = UnixStream::pair().unwrap();
        assert_eq!(a.local_addr().unwrap().as_pathname(), None);
        assert_eq!(a.peer_addr().unwrap().as_pathname(), None);
        let data = pattern(31, 300_000);
        let d2 = data.clone();
        let t = corio::spawn(async move {
            let (res, got) = b.read_exact(Vec::with_capacity(d2.len())).await;
            res.unwrap();
            assert!(got == d2);
            let (res, _) = b.writev(vec![&b"ok"[..], &b"!"[..]]).await;
            assert_eq!(res.unwrap(), 3);
            b
        });
        let (res, _) = a.write_all(data).await;
        res.unwrap();
        let (res, got) = a.read_exact(Vec::with_capacity(3)).await;
        res.unwrap();
        assert_eq!(got, b"ok!");
        let b = t.await.unwrap();
        // Dropping one end: the other reads EOF, and writes fail with EPIPE.
        drop(b);
        let (res, _) = a.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = a.write(&b"x"[..]).await;
        let err = res.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    });
}

#[test]
fn unix_path_errors() {
    run_test(|| async {
        // Binding an existing socket path, or any existing file.
        let path = TempPath::new("inuse");
        let _l = UnixListener::bind(&path.0).unwrap();
        let err = UnixListener::bind(&path.0).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        let file = TempPath::new("file");
        std::fs::write(&file.0, b"not a socket").unwrap();
        let err = UnixListener::bind(&file.0).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");

        // Connecting to a path nobody created, or to a socket nobody listens on any more.
        let missing = TempPath::new("missing");
        let err = UnixStream::connect(&missing.0).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        let stale = TempPath::new("stale");
        drop(UnixListener::bind(&stale.0).unwrap());
        let err = UnixStream::connect(&stale.0).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

        // Paths that do not fit sun_path, or contain NUL: InvalidInput, not a panic.
        let long = std::env::temp_dir().join("x".repeat(200));
        let err = UnixListener::bind(&long).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = UnixStream::connect(&long).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = UnixListener::bind("/tmp/a\0b").err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    });
}

/// Several clients on one Unix listener, served concurrently.
#[test]
fn unix_listener_serves_many_clients() {
    run_test(|| async {
        let path = TempPath::new("many");
        let listener = UnixListener::bind(&path.0).unwrap();
        let server = corio::spawn(async move {
            for _ in 0..50 {
                let (s, _) = listener.accept().await.unwrap();
                corio::spawn(async move {
                    let (res, mut buf) = s.read_exact(Vec::with_capacity(8)).await;
                    res.unwrap();
                    buf.reverse();
                    let (res, _) = s.write_all(buf).await;
                    res.unwrap();
                });
            }
        });
        let clients: Vec<_> = (0..50u64)
            .map(|i| {
                let p = path.0.clone();
                corio::spawn(async move {
                    let c = UnixStream::connect(&p).await.unwrap();
                    let (res, _) = c.write_all(i.to_le_bytes().to_vec()).await;
                    res.unwrap();
                    let (res, got) = c.read_exact(Vec::with_capacity(8)).await;
                    res.unwrap();
                    assert_eq!(got, i.to_be_bytes());
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    });
}
