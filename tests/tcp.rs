//! TCP: the ownership-passing API byte for byte, and errors of the right kind for bad input.
//! Runs under both drivers.

mod support;

use corio::buf::IoBuf;
use corio::net::{TcpListener, TcpStream};
use std::io::ErrorKind;
use std::net::Shutdown;
use std::time::Duration;
use support::{pattern, run_test};

/// A connected pair whose addresses agree on both sides.
async fn pair() -> (TcpStream, TcpStream) {
    let (client, server) = support::tcp_pair().await;
    assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
    assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
    (client, server)
}

#[test]
fn echo_4_mib_byte_exact() {
    run_test(async {
        let (client, server) = pair().await;
        let echo = corio::spawn(async move {
            let mut buf = Vec::with_capacity(16 << 10);
            loop {
                buf.clear();
                let (res, b) = server.read(buf).await;
                let n = res.unwrap();
                if n == 0 {
                    return;
                }
                let (res, b) = server.write_all(b).await;
                res.unwrap();
                buf = b;
            }
        });
        let data = pattern(1, 4 << 20);
        let sent = data.clone();
        let client = std::rc::Rc::new(client);
        let c = client.clone();
        let writer = corio::spawn(async move {
            let mut off = 0;
            let mut size = 1;
            while off < sent.len() {
                let end = (off + size).min(sent.len());
                let (res, _) = c.write_all(sent[off..end].to_vec()).await;
                res.unwrap();
                off = end;
                size = size * 7 % 65_521 + 1;
            }
            c.shutdown(Shutdown::Write).await.unwrap();
        });
        let (res, got) = client.read_exact(Vec::with_capacity(data.len())).await;
        res.unwrap();
        assert!(got == data, "echoed bytes differ");
        let (res, _) = client.read(Vec::with_capacity(1)).await;
        assert_eq!(res.unwrap(), 0, "EOF after the echo");
        writer.await.unwrap();
        echo.await.unwrap();
    });
}

#[test]
fn read_fills_spare_capacity_and_keeps_existing_bytes() {
    run_test(async {
        let (client, server) = pair().await;
        let (res, _) = server.write_all(&b"world"[..]).await;
        res.unwrap();
        let mut buf = Vec::with_capacity(10);
        buf.extend_from_slice(b"hello");
        let (res, buf) = client.read_exact(buf).await;
        res.unwrap();
        assert_eq!(buf, b"helloworld");

        // A slice view: read into bytes 2..6 of a fresh buffer's capacity.
        let (res, _) = server.write_all(&b"abcd"[..]).await;
        res.unwrap();
        let mut v = Vec::with_capacity(8);
        v.extend_from_slice(b"..");
        let (res, slice) = client.read_exact(v.slice(2..6)).await;
        res.unwrap();
        let v = slice.into_inner();
        assert_eq!(v, b"..abcd");

        // A full buffer cannot be read into: a clear error, not a fake EOF.
        let (res, _) = client.read(vec![0u8; 4]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
        let (res, _) = client.read(vec![0u8; 4].into_boxed_slice()).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn write_variants() {
    run_test(async {
        let (client, server) = pair().await;
        let (res, _) = client.write(&b"one "[..]).await;
        assert_eq!(res.unwrap(), 4);
        let (res, _) = client.write_all("two ").await;
        res.unwrap();
        let (res, _) = client
            .write_all(b"three ".to_vec().into_boxed_slice())
            .await;
        res.unwrap();
        let bufs = vec![b"fo".to_vec(), Vec::new(), b"ur".to_vec()];
        let (res, bufs) = client.writev(bufs).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(bufs.len(), 3, "buffers come back");
        let (res, got) = server.read_exact(Vec::with_capacity(18)).await;
        res.unwrap();
        assert_eq!(got, b"one two three four");
    });
}

#[test]
fn nodelay_and_addresses() {
    run_test(async {
        let (client, _server) = pair().await;
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        client.set_nodelay(false).unwrap();
        assert!(!client.nodelay().unwrap());
        // IPv6 loopback, where the machine has it.
        match TcpListener::bind("[::1]:0") {
            Ok(l) => {
                let addr = l.local_addr().unwrap();
                assert!(addr.is_ipv6());
                let c = corio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
                let (_s, peer) = l.accept().await.unwrap();
                assert!(peer.is_ipv6());
                drop(c.await.unwrap());
            }
            Err(e) => println!("skipped IPv6: {e}"),
        }
    });
}

#[test]
fn many_connections_at_once() {
    run_test(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            for _ in 0..200 {
                let (c, _) = listener.accept().await.unwrap();
                corio::spawn(async move {
                    let (res, buf) = c.read_exact(Vec::with_capacity(64)).await;
                    res.unwrap();
                    let (res, _) = c.write_all(buf).await;
                    res.unwrap();
                });
            }
        });
        let clients: Vec<_> = (0..200u64)
            .map(|i| {
                corio::spawn(async move {
                    let c = TcpStream::connect(addr).await.unwrap();
                    let (res, _) = c.write_all(pattern(i, 64)).await;
                    res.unwrap();
                    let (res, buf) = c.read_exact(Vec::with_capacity(64)).await;
                    res.unwrap();
                    assert_eq!(buf, pattern(i, 64));
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
fn errors_have_the_right_kind() {
    run_test(async {
        // Connection refused: a port nobody listens on.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let err = TcpStream::connect(addr).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

        // Port in use.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = TcpListener::bind(l.local_addr().unwrap()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        // ...unless both ask for SO_REUSEPORT.
        let a = TcpListener::bind_reuseport("127.0.0.1:0").unwrap();
        let b = TcpListener::bind_reuseport(a.local_addr().unwrap()).unwrap();
        assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());

        // Unparsable addresses.
        let err = TcpListener::bind("not an address").err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let err = TcpStream::connect("127.0.0.1:notaport")
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

        // Peer reset: the reader sees ECONNRESET, the writer ECONNRESET or EPIPE.
        let (client, server) = pair().await;
        reset(&server);
        drop(server);
        corio::time::sleep(Duration::from_millis(20)).await;
        let (res, _) = client.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::ConnectionReset);
        let (res, _) = client.write_all(vec![1u8; 1 << 20]).await;
        let err = res.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{err}"
        );

        // Shut down for writing: the peer reads EOF, then writes still work the other way.
        let (client, server) = pair().await;
        client.shutdown(Shutdown::Write).await.unwrap();
        let (res, _) = server.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = client.write(&b"x"[..]).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::BrokenPipe);
        let (res, _) = server.write_all(&b"back"[..]).await;
        res.unwrap();
        let (res, buf) = client.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        assert_eq!(buf, b"back");
    });
}

fn reset(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `linger` (valid for the call) on an fd the stream owns.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
}

#[test]
fn from_std_adopts_sockets() {
    run_test(async {
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
    run_test(async {
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
    run_test(async {
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
