//! TCP: listeners and streams over loopback (IPv4, and IPv6 where available), byte-exact
//! echo, every write and read form, shutdown, socket options, many connections, errors of the
//! right kind, close and fd accounting, SO_REUSEPORT. Runs under both drivers.

mod support;

use corio::buf::IoBuf;
use corio::net::{TcpListener, TcpStream};
use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;
use support::{pattern, run_test, set_linger_zero};

/// A connected pair on `ip`: (client, server).
async fn pair_on(ip: &str) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let connect = corio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (connect.await.unwrap(), server)
}

async fn pair() -> (TcpStream, TcpStream) {
    pair_on("127.0.0.1").await
}

/// A small deterministic generator for sizes.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn ipv6_available() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn bind_accept_connect_and_addresses() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let laddr = listener.local_addr().unwrap();
        assert_eq!(laddr.ip().to_string(), "127.0.0.1");
        assert_ne!(laddr.port(), 0, "port 0 must resolve to a real port");
        let client = corio::spawn(async move {
            let c = TcpStream::connect(laddr).await.unwrap();
            assert_eq!(c.peer_addr().unwrap(), laddr);
            c
        });
        let (server, peer) = listener.accept().await.unwrap();
        let client = client.await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        assert_eq!(server.local_addr().unwrap(), laddr);
        assert!(server.as_raw_fd() >= 0 && client.as_raw_fd() != server.as_raw_fd());
        let _ = format!("{listener:?} {server:?}");

        // Connect by a string that needs resolving.
        let c2 = corio::spawn(async move {
            TcpStream::connect(format!("127.0.0.1:{}", laddr.port()))
                .await
                .unwrap()
        });
        let (_s2, p2) = listener.accept().await.unwrap();
        assert_eq!(p2, c2.await.unwrap().local_addr().unwrap());
    });
}

#[test]
fn ipv6_loopback_round_trip() {
    if !ipv6_available() {
        println!("skipped: IPv6 loopback unavailable");
        return;
    }
    run_test(|| async {
        let (c, s) = pair_on("::1").await;
        assert!(c.local_addr().unwrap().is_ipv6());
        assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
        let data = pattern(6, 200_000);
        let (res, _) = c.write_all(data.clone()).await;
        res.unwrap();
        let (res, got) = s.read_exact(Vec::with_capacity(data.len())).await;
        res.unwrap();
        assert!(got == data);
    });
}

/// 4 MiB through an echo server, written in random-size pieces with `write` (short writes
/// handled by hand) and read back with random-size buffers: byte-exact.
#[test]
fn echo_4_mib_with_random_sizes_is_byte_exact() {
    const LEN: usize = 4 << 20;
    run_test(|| async {
        let (client, server) = pair().await;
        let echo = corio::spawn(async move {
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut total = 0;
            loop {
                buf.clear();
                let (res, b) = server.read(buf).await;
                buf = b;
                let n = res.unwrap();
                if n == 0 {
                    break;
                }
                total += n;
                let (res, b) = server.write_all(buf).await;
                buf = b;
                res.unwrap();
            }
            server.shutdown(Shutdown::Write).await.unwrap();
            total
        });
        let client = Rc::new(client);
        let writer = {
            let client = client.clone();
            corio::spawn(async move {
                let mut data = pattern(42, LEN);
                let mut rng = Rng(0x1234_5678);
                let mut off = 0;
                while off < LEN {
                    let end = (off + 1 + rng.below(100_000)).min(LEN);
                    let (res, s) = client.write(data.slice(off..end)).await;
                    data = s.into_inner();
                    let n = res.unwrap();
                    assert!(n > 0 && n <= end - off);
                    off += n;
                }
                client.shutdown(Shutdown::Write).await.unwrap();
            })
        };
        let mut got = Vec::with_capacity(LEN);
        let mut rng = Rng(0x9abc_def1);
        loop {
            let (res, buf) = client.read(Vec::with_capacity(1 + rng.below(70_000))).await;
            let n = res.unwrap();
            if n == 0 {
                break;
            }
            assert_eq!(buf.len(), n);
            got.extend_from_slice(&buf);
        }
        writer.await.unwrap();
        assert_eq!(echo.await.unwrap(), LEN);
        assert_eq!(got.len(), LEN);
        assert!(got == pattern(42, LEN), "echoed bytes differ");
    });
}

#[test]
fn write_all_read_exact_and_writev() {
    run_test(|| async {
        let (c, s) = pair().await;
        // write_all of 1 MiB, read_exact of it in two parts.
        let data = pattern(1, 1 << 20);
        let expected = data.clone();
        let writer = corio::spawn(async move {
            let (res, back) = c.write_all(data).await;
            res.unwrap();
            assert_eq!(back.len(), 1 << 20, "write_all gives the buffer back");
            c
        });
        let (res, first) = s.read_exact(Vec::with_capacity(1000)).await;
        res.unwrap();
        let (res, rest) = s.read_exact(Vec::with_capacity((1 << 20) - 1000)).await;
        res.unwrap();
        assert!(first == expected[..1000] && rest == expected[1000..]);
        let c = writer.await.unwrap();

        // writev: several buffers, in order, in one call.
        let bufs = vec![
            b"alpha-".to_vec(),
            Vec::new(),
            b"beta-".to_vec(),
            pattern(2, 3000),
            b"-omega".to_vec(),
        ];
        let expected: Vec<u8> = bufs.concat();
        let (res, bufs) = c.writev(bufs).await;
        let n = res.unwrap();
        assert_eq!(bufs.len(), 5);
        assert_eq!(bufs[0], b"alpha-");
        // Loopback takes this much at once; if it ever were short, send the rest.
        if n < expected.len() {
            let (res, _) = c.write_all(expected[n..].to_vec()).await;
            res.unwrap();
        }
        let (res, got) = s.read_exact(Vec::with_capacity(expected.len())).await;
        res.unwrap();
        assert!(got == expected);

        // writev of slices and of static buffers.
        let (res, _) = c
            .writev(vec![
                b"xxABxx".to_vec().slice(2..4),
                b"CD".to_vec().slice(..),
            ])
            .await;
        assert_eq!(res.unwrap(), 4);
        let (res, _) = c.writev(vec![&b"EF"[..], &b"G"[..]]).await;
        assert_eq!(res.unwrap(), 3);
        let (res, got) = s.read_exact(Vec::with_capacity(7)).await;
        res.unwrap();
        assert_eq!(got, b"ABCDEFG");

        // read_exact hitting EOF first: UnexpectedEof, with what arrived kept in the buffer.
        let (res, _) = c.write_all(&b"xyz"[..]).await;
        res.unwrap();
        c.shutdown(Shutdown::Write).await.unwrap();
        let (res, got) = s.read_exact(Vec::with_capacity(10)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert_eq!(got, b"xyz");
    });
}

/// A read fills at most the spare capacity, keeps the bytes already there, and sets len.
#[test]
fn read_fills_exactly_the_spare_capacity() {
    run_test(|| async {
        let (c, s) = pair().await;
        let data = pattern(5, 100);
        let (res, _) = c.write_all(data.clone()).await;
        res.unwrap();
        // Let all 100 bytes arrive so the read could take more than the spare room.
        corio::time::sleep(Duration::from_millis(20)).await;

        let mut buf = Vec::with_capacity(40);
        buf.extend_from_slice(b"prefix");
        let spare = buf.capacity() - buf.len();
        let (res, buf) = s.read(buf).await;
        let n = res.unwrap();
        assert_eq!(n, spare, "the read should fill the spare capacity exactly");
        assert_eq!(buf.len(), 6 + n);
        assert_eq!(&buf[..6], b"prefix");
        assert_eq!(&buf[6..], &data[..n]);

        // Into a slice of a Vec: only the slice's range is written; the Vec's length follows.
        let mut v = vec![0xAAu8; 10];
        v.reserve_exact(30);
        let (res, sl) = s.read(v.slice(10..20)).await;
        let m = res.unwrap();
        assert_eq!(m, 10);
        let v = sl.into_inner();
        assert_eq!(v.len(), 20);
        assert_eq!(&v[..10], &[0xAA; 10]);
        assert_eq!(&v[10..], &data[n..n + 10]);

        // The rest, exactly.
        let rest = 100 - n - m;
        let (res, r) = s.read_exact(Vec::with_capacity(rest)).await;
        res.unwrap();
        assert_eq!(r, data[n + m..]);
    });
}

#[test]
fn shutdown_write_gives_the_peer_eof_and_keeps_the_other_direction() {
    run_test(|| async {
        let (c, s) = pair().await;
        let (res, _) = c.write_all(&b"last words"[..]).await;
        res.unwrap();
        c.shutdown(Shutdown::Write).await.unwrap();
        let (res, got) = s.read_exact(Vec::with_capacity(10)).await;
        res.unwrap();
        assert_eq!(got, b"last words");
        // EOF, and again: EOF is sticky.
        for _ in 0..3 {
            let (res, buf) = s.read(Vec::with_capacity(16)).await;
            assert_eq!(res.unwrap(), 0);
            assert!(buf.is_empty());
        }
        // Writing on the shut half fails with EPIPE (no SIGPIPE kills the process).
        let (res, _) = c.write(&b"more"[..]).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        assert_eq!(err.raw_os_error(), Some(libc::EPIPE));
        // The other direction still works.
        let (res, _) = s.write_all(&b"reply"[..]).await;
        res.unwrap();
        let (res, got) = c.read_exact(Vec::with_capacity(5)).await;
        res.unwrap();
        assert_eq!(got, b"reply");
        // Shutting both halves: the peer sees EOF too.
        s.shutdown(Shutdown::Both).await.unwrap();
        let (res, _) = c.read(Vec::with_capacity(4)).await;
        assert_eq!(res.unwrap(), 0);
    });
}

/// A peer dropping the connection normally: reads see EOF (Ok(0)) at once, even a read that
/// was already parked.
#[test]
fn peer_close_is_eof() {
    run_test(|| async {
        let (c, s) = pair().await;
        let s = Rc::new(s);
        let s2 = s.clone();
        let parked = corio::spawn(async move {
            let (res, _) = s2.read(Vec::with_capacity(8)).await;
            res.unwrap()
        });
        corio::time::sleep(Duration::from_millis(10)).await;
        drop(c);
        assert_eq!(parked.await.unwrap(), 0);
        let (res, _) = s.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0);
    });
}

#[test]
fn nodelay_round_trips() {
    run_test(|| async {
        let (c, s) = pair().await;
        assert!(!c.nodelay().unwrap(), "Nagle is on by default");
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        assert!(!s.nodelay().unwrap(), "the option is per socket");
        c.set_nodelay(false).unwrap();
        assert!(!c.nodelay().unwrap());
        s.set_nodelay(true).unwrap();
        // Small writes still arrive whole.
        for i in 0..50u8 {
            let (res, _) = s.write_all(vec![i; 3]).await;
            res.unwrap();
        }
        let (res, got) = c.read_exact(Vec::with_capacity(150)).await;
        res.unwrap();
        let expected: Vec<u8> = (0..50u8).flat_map(|i| [i; 3]).collect();
        assert_eq!(got, expected);
    });
}

/// 200 clients at once against one echo server, each with its own data.
#[test]
fn two_hundred_concurrent_connections_echo() {
    const CLIENTS: u64 = 200;
    const LEN: usize = 8 * 1024;
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let mut conns = Vec::new();
            for _ in 0..CLIENTS {
                let (s, _) = listener.accept().await.unwrap();
                conns.push(corio::spawn(async move {
                    let mut buf = Vec::with_capacity(4096);
                    loop {
                        buf.clear();
                        let (res, b) = s.read(buf).await;
                        buf = b;
                        if res.unwrap() == 0 {
                            return;
                        }
                        let (res, b) = s.write_all(buf).await;
                        buf = b;
                        res.unwrap();
                    }
                }));
            }
            for c in conns {
                c.await.unwrap();
            }
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                corio::spawn(async move {
                    let c = TcpStream::connect(addr).await.unwrap();
                    let data = pattern(1000 + i, LEN);
                    let (res, _) = c.write_all(data.clone()).await;
                    res.unwrap();
                    let (res, got) = c.read_exact(Vec::with_capacity(LEN)).await;
                    res.unwrap();
                    assert!(got == data, "client {i}: echo differs");
                    c.shutdown(Shutdown::Write).await.unwrap();
                    let (res, _) = c.read(Vec::with_capacity(1)).await;
                    assert_eq!(res.unwrap(), 0);
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    run_test(|| async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        for _ in 0..3 {
            let err = TcpStream::connect(addr).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
            assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
        }
        if ipv6_available() {
            let l = TcpListener::bind("[::1]:0").unwrap();
            let addr = l.local_addr().unwrap();
            drop(l);
            let err = TcpStream::connect(addr).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        }
    });
}

#[test]
fn binding_a_port_in_use_is_addr_in_use() {
    run_test(|| async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
        // A port held by a std listener too.
        let std_l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = TcpListener::bind(std_l.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        // SO_REUSEPORT on one side only is not enough.
        let err = TcpListener::bind_reuseport(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    });
}

#[test]
fn unparsable_addresses_are_errors_not_panics() {
    run_test(|| async {
        for bad in ["not an address", "127.0.0.1", "127.0.0.1:99999", ""] {
            let err = TcpListener::bind(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "bind({bad:?}): {err}");
            let err = TcpStream::connect(bad).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidInput,
                "connect({bad:?}): {err}"
            );
        }
        // An empty list of addresses.
        let none: &[SocketAddr] = &[];
        let err = TcpStream::connect(none).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = TcpListener::bind(none).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    });
}

/// Binding several addresses tries each in turn: the first that works wins, and connect falls
/// through refused addresses to one that listens.
#[test]
fn multiple_addresses_are_tried_in_order() {
    run_test(|| async {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let free: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let l = TcpListener::bind(&[taken.local_addr().unwrap(), free][..]).unwrap();
        let addr = l.local_addr().unwrap();
        assert_ne!(addr, taken.local_addr().unwrap());

        let closed = {
            let t = TcpListener::bind("127.0.0.1:0").unwrap();
            t.local_addr().unwrap()
        };
        let c = corio::spawn(async move { TcpStream::connect(&[closed, addr][..]).await });
        let (_s, peer) = l.accept().await.unwrap();
        assert_eq!(c.await.unwrap().unwrap().local_addr().unwrap(), peer);
    });
}

/// The peer resets the connection (SO_LINGER 0, then close): a read, parked or not, fails with
/// ECONNRESET; writes fail with ECONNRESET or EPIPE; nothing panics, on either driver.
#[test]
fn peer_reset_is_an_error_not_a_panic() {
    run_test(|| async {
        // A read already parked when the RST arrives.
        let (c, s) = pair().await;
        let c = Rc::new(c);
        let c2 = c.clone();
        let parked = corio::spawn(async move {
            let (res, _) = c2.read(Vec::with_capacity(64)).await;
            res
        });
        corio::time::sleep(Duration::from_millis(10)).await;
        set_linger_zero(s.as_raw_fd());
        drop(s);
        let err = parked.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        // After the reset was reported: reads see EOF or the reset again, writes fail.
        let (res, _) = c.read(Vec::with_capacity(64)).await;
        match res {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        }
        let (res, _) = c.write_all(vec![7u8; 1 << 20]).await;
        let err = res.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{err}"
        );

        // The reset arrives before any read: written-then-reset from a std peer.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let p = std::net::TcpStream::connect(addr).unwrap();
            set_linger_zero(p.as_raw_fd());
            drop(p);
        });
        let (s, _) = listener.accept().await.unwrap();
        peer.join().unwrap();
        corio::time::sleep(Duration::from_millis(10)).await;
        let (res, _) = s.read(Vec::with_capacity(64)).await;
        let err = res.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");

        // A writer in the middle of a big write_all when the reader resets.
        let (c, s) = pair().await;
        let writer = corio::spawn(async move {
            let (res, _) = c.write_all(vec![1u8; 64 << 20]).await;
            res
        });
        let (res, _) = s.read_exact(Vec::with_capacity(4096)).await;
        res.unwrap();
        set_linger_zero(s.as_raw_fd());
        drop(s);
        let err = writer.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{err}"
        );
    });
}

#[test]
fn bind_reuseport_shares_a_port_between_listeners() {
    run_test(|| async {
        let a = Rc::new(TcpListener::bind_reuseport("127.0.0.1:0").unwrap());
        let addr = a.local_addr().unwrap();
        let b = Rc::new(TcpListener::bind_reuseport(addr).unwrap());
        assert_eq!(b.local_addr().unwrap(), addr);
        // Both accept; the kernel spreads 64 connections between them (by 4-tuple hash: all 64
        // on one side has probability 2^-63).
        const N: usize = 64;
        let served = Rc::new(std::cell::RefCell::new([0usize; 2]));
        let acceptors: Vec<_> = [a, b]
            .into_iter()
            .enumerate()
            .map(|(idx, l)| {
                let served = served.clone();
                corio::spawn(async move {
                    loop {
                        let (s, _) = l.accept().await.unwrap();
                        served.borrow_mut()[idx] += 1;
                        corio::spawn(async move {
                            let (res, buf) = s.read_exact(Vec::with_capacity(8)).await;
                            res.unwrap();
                            let (res, _) = s.write_all(buf).await;
                            res.unwrap();
                        });
                    }
                })
            })
            .collect();
        for i in 0..N as u64 {
            let c = TcpStream::connect(addr).await.unwrap();
            let (res, _) = c.write_all(i.to_le_bytes().to_vec()).await;
            res.unwrap();
            let (res, got) = c.read_exact(Vec::with_capacity(8)).await;
            res.unwrap();
            assert_eq!(got, i.to_le_bytes());
        }
        let counts = *served.borrow();
        assert_eq!(counts[0] + counts[1], N);
        assert!(counts[0] > 0 && counts[1] > 0, "{counts:?}");
        for a in acceptors {
            a.abort();
        }
    });
}

/// `close` returns Ok and releases the fd at once; later operations fail with NotConnected;
/// close is idempotent; a read parked in another task is woken with NotConnected.
#[test]
fn close_releases_the_fd_and_fails_later_operations() {
    let _fds = support::counting_fds();
    run_test(|| async {
        let baseline = support::open_fds();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (c, s) = {
            let addr = listener.local_addr().unwrap();
            let connect = corio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
            let (server, _) = listener.accept().await.unwrap();
            (connect.await.unwrap(), server)
        };
        assert_eq!(support::open_fds(), baseline + 3);

        // Close with nothing in flight: the fd goes now.
        c.close().await.unwrap();
        assert_eq!(support::open_fds(), baseline + 2);
        c.close().await.unwrap();
        let (res, _) = c.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotConnected);
        let (res, _) = c.write(&b"x"[..]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotConnected);
        let (res, _) = c.writev(vec![&b"x"[..]]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotConnected);
        // The peer sees EOF.
        let (res, _) = s.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0);

        drop(s);
        assert_eq!(support::open_fds(), baseline + 1);

        // Close with a read parked in another task: it fails with NotConnected, and the fd is
        // released once that read has let go.
        let addr = listener.local_addr().unwrap();
        let connect = corio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
        let (s, _) = listener.accept().await.unwrap();
        let c = connect.await.unwrap();
        let s = Rc::new(s);
        let s2 = s.clone();
        let parked = corio::spawn(async move {
            let (res, _) = s2.read(Vec::with_capacity(8)).await;
            res.map_err(|e| e.kind())
        });
        corio::time::sleep(Duration::from_millis(10)).await;
        assert!(!parked.is_finished());
        s.close().await.unwrap();
        assert_eq!(parked.await.unwrap(), Err(ErrorKind::NotConnected));
        let (res, _) = s.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotConnected);
        drop(s);
        // The peer sees EOF once the fd is really closed.
        let (res, _) = c.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0);
        drop(c);
        // Give io_uring's cancellation time to complete, bounded.
        for _ in 0..200 {
            if support::open_fds() == baseline + 1 {
                break;
            }
            corio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(support::open_fds(), baseline + 1);

        // A parked accept, then close of the listener.
        let listener = Rc::new(listener);
        let l2 = listener.clone();
        let acc = corio::spawn(async move { l2.accept().await.map(drop).map_err(|e| e.kind()) });
        corio::time::sleep(Duration::from_millis(10)).await;
        listener.close().await.unwrap();
        assert_eq!(acc.await.unwrap(), Err(ErrorKind::NotConnected));
        drop(listener);
        assert_eq!(support::settled_fds(baseline).await, baseline);
    });
}

/// 300 connections opened, used and dropped: the fd count returns to where it was.
#[test]
fn connection_churn_leaks_no_fds() {
    let _fds = support::counting_fds();
    run_test(|| async {
        let baseline = support::open_fds();
        {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = corio::spawn(async move {
                for _ in 0..300 {
                    let (s, _) = listener.accept().await.unwrap();
                    corio::spawn(async move {
                        let (res, buf) = s.read(Vec::with_capacity(16)).await;
                        if res.is_ok() {
                            let _ = s.write_all(buf).await;
                        }
                    });
                }
            });
            for i in 0..300u32 {
                let c = TcpStream::connect(addr).await.unwrap();
                let (res, _) = c.write_all(i.to_be_bytes().to_vec()).await;
                res.unwrap();
                let (res, got) = c.read_exact(Vec::with_capacity(4)).await;
                res.unwrap();
                assert_eq!(got, i.to_be_bytes());
                if i % 2 == 0 {
                    c.close().await.unwrap();
                }
            }
            server.await.unwrap();
        }
        assert_eq!(support::settled_fds(baseline).await, baseline);
    });
}

#[test]
fn from_std_adopts_sockets() {
    run_test(|| async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let client = TcpStream::from_std(std_client).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (res, _) = client.write_all(&b"adopted"[..]).await;
        res.unwrap();
        let (res, buf) = server.read_exact(Vec::with_capacity(7)).await;
        res.unwrap();
        assert_eq!(buf, b"adopted");
    });
}

/// Echo over one connection, byte-exact, for message sizes from 1 B to 4 MiB.
#[test]
fn echo_one_connection_sizes_1b_to_4mib() {
    run_test(|| async {
        let (client, server) = pair().await;
        let echo = corio::spawn(async move {
            let mut buf = Vec::with_capacity(64 << 10);
            loop {
                buf.clear();
                let (res, b) = server.read(buf).await;
                if res.unwrap() == 0 {
                    return;
                }
                let (res, b) = server.write_all(b).await;
                res.unwrap();
                buf = b;
            }
        });
        let client = std::rc::Rc::new(client);
        let mut size = 1usize;
        while size <= 4 << 20 {
            let msg = pattern(size as u64, size);
            let c = client.clone();
            let m = msg.clone();
            // Write and read concurrently: a 4 MiB message does not fit in socket buffers.
            let writer = corio::spawn(async move { c.write_all(m).await.0.unwrap() });
            let (res, got) = client.read_exact(Vec::with_capacity(size)).await;
            res.unwrap();
            writer.await.unwrap();
            assert!(got == msg, "size {size}: echoed bytes differ");
            size = if size < 4 << 20 {
                (size * 4).min(4 << 20)
            } else {
                size + 1
            };
        }
        client.shutdown(Shutdown::Write).await.unwrap();
        echo.await.unwrap();
    });
}

/// 500 concurrent connections, each echoing messages of different sizes, byte-exact.
#[test]
fn echo_500_concurrent_connections() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            for _ in 0..500 {
                let (c, _) = listener.accept().await.unwrap();
                corio::spawn(async move {
                    let mut buf = Vec::with_capacity(16 << 10);
                    loop {
                        buf.clear();
                        let (res, b) = c.read(buf).await;
                        if res.unwrap() == 0 {
                            return;
                        }
                        let (res, b) = c.write_all(b).await;
                        res.unwrap();
                        buf = b;
                    }
                });
            }
        });
        let clients: Vec<_> = (0..500u64)
            .map(|i| {
                corio::spawn(async move {
                    let c = TcpStream::connect(addr).await.unwrap();
                    for round in 0..3u64 {
                        let size = 1 + ((i * 7919 + round * 104_729) % 20_000) as usize;
                        let msg = pattern(i * 3 + round, size);
                        let (res, _) = c.write_all(msg.clone()).await;
                        res.unwrap();
                        let (res, got) = c.read_exact(Vec::with_capacity(size)).await;
                        res.unwrap();
                        assert!(got == msg, "conn {i} round {round}");
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    });
}

/// Issue 21 defect 2: on io_uring a read with 4 GiB of room went to the kernel with a length
/// of 0 (a u32), which returned 0: EOF, with 13 bytes waiting. Writes of 4 GiB sent 0 bytes.
/// A huge buffer means a short read or write, never 0. The buffers are reserved, not touched
/// (the kernel writes 13 bytes, and takes from the zero pages only what the socket holds).
#[test]
fn reads_and_writes_with_4_gib_buffers_are_short_not_zero() {
    const HUGE: usize = 1 << 32;
    run_test(|| async {
        let (a, b) = pair().await;
        for room in [HUGE, HUGE + 5, HUGE - 1] {
            let (res, _) = a.write_all(&b"thirteen byte"[..]).await;
            res.unwrap();
            let (res, got) = b.read(Vec::with_capacity(room)).await;
            assert_eq!(res.unwrap(), 13, "a read with {room} bytes of room");
            assert_eq!(got, b"thirteen byte");
        }
        let zeros = vec![0u8; HUGE + 3];
        let (res, zeros) = a.write(zeros).await;
        let n = res.unwrap();
        assert!(n > 0 && n < HUGE, "a 4 GiB write sent {n} bytes");
        read_zeros(&b, n).await;
        let (res, _) = a.writev(vec![zeros]).await;
        let m = res.unwrap();
        assert!(m > 0 && m < HUGE, "a 4 GiB writev sent {m} bytes");
        read_zeros(&b, m).await;
    });
}

/// Reads `n` bytes, which must all be zeros.
async fn read_zeros(s: &TcpStream, mut n: usize) {
    while n > 0 {
        let (res, got) = s.read(Vec::with_capacity(1 << 20)).await;
        let k = res.unwrap();
        assert!(k > 0 && got.iter().all(|&x| x == 0));
        n -= k;
    }
}

/// `read` and `write_all` hand back the op's own future: it does nothing until polled (one
/// created and dropped unpolled moves no byte and loses none), and it does not borrow the
/// stream (it can be made, then the stream moved, then it is awaited).
#[test]
fn read_and_write_all_futures_start_when_polled_and_own_the_socket() {
    run_test(|| async {
        let (a, b) = pair().await;
        drop(a.write_all(b"never sent".to_vec()));
        drop(b.read(Vec::with_capacity(64)));
        let write = a.write_all(pattern(7, 1000));
        let read = b.read_exact(Vec::with_capacity(1000));
        let moved = a;
        let (res, _) = write.await;
        res.unwrap();
        let (res, got) = read.await;
        res.unwrap();
        assert_eq!(
            got,
            pattern(7, 1000),
            "only the polled write's bytes arrive"
        );
        let later = b.read(Vec::with_capacity(16));
        drop(moved);
        let (res, got) = later.await;
        assert_eq!(res.unwrap(), 0, "EOF once the peer is gone: {got:?}");
    });
}
