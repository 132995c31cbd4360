//! UDP and Unix-domain sockets. Runs under both drivers.

mod support;

use corio::net::{UdpSocket, UnixListener, UnixStream};
use std::io::ErrorKind;
use support::{pattern, run_test};

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("corio-{}-{name}-{}", std::process::id(), line!()))
}

#[test]
fn udp_send_to_recv_from_and_connected() {
    run_test(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let msg = pattern(5, 1200);
        let (res, _) = a.send_to(msg.clone(), b_addr).await;
        assert_eq!(res.unwrap(), 1200);
        let (res, buf) = b.recv_from(Vec::with_capacity(2048)).await;
        let (n, from) = res.unwrap();
        assert_eq!((n, from), (1200, a_addr));
        assert_eq!(buf, msg);

        a.connect(b_addr).await.unwrap();
        b.connect(a_addr).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        let (res, _) = b.send(&b"pong"[..]).await;
        res.unwrap();
        let (res, buf) = a.recv(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf, b"pong");

        // A datagram longer than the buffer is truncated, like recv(2); the rest is gone and
        // the next datagram is read whole.
        let (res, _) = b.send(pattern(6, 100)).await;
        res.unwrap();
        let (res, _) = b.send(&b"next"[..]).await;
        res.unwrap();
        let (res, buf) = a.recv(Vec::with_capacity(10)).await;
        assert_eq!(res.unwrap(), 10);
        assert_eq!(buf, pattern(6, 100)[..10]);
        let (res, buf) = a.recv(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf, b"next");

        // Not connected: peer_addr is an error, send fails.
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(c.peer_addr().is_err());
        let err = UdpSocket::bind("bogus").err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn unix_stream_echo_and_addresses() {
    run_test(async {
        let path = temp_path("echo");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let p = path.clone();
        let client = corio::spawn(async move {
            let c = UnixStream::connect(&p).await.unwrap();
            assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(p.as_path()));
            let data = pattern(9, 300_000);
            let (res, _) = c.write_all(data.clone()).await;
            res.unwrap();
            let (res, got) = c.read_exact(Vec::with_capacity(data.len())).await;
            res.unwrap();
            assert!(got == data);
        });
        let (s, _) = listener.accept().await.unwrap();
        let (res, buf) = s.read_exact(Vec::with_capacity(300_000)).await;
        res.unwrap();
        let (res, _) = s.write_all(buf).await;
        res.unwrap();
        client.await.unwrap();

        // The path is taken.
        let err = UnixListener::bind(&path).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        std::fs::remove_file(&path).unwrap();
        // Nobody listens any more.
        let err = UnixStream::connect(&path).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn unix_pair() {
    run_test(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (res, _) = a.write_all(&b"paired"[..]).await;
        res.unwrap();
        let (res, buf) = b.read_exact(Vec::with_capacity(6)).await;
        res.unwrap();
        assert_eq!(buf, b"paired");
        drop(a);
        let (res, _) = b.read(Vec::with_capacity(1)).await;
        assert_eq!(res.unwrap(), 0);
    });
}
