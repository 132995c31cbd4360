//! Sockets as operators configure them, under both drivers: TcpSocket (backlog, reuse,
//! bind-before-connect), socket options read back from the kernel, std and raw-fd
//! conversions on every socket type (socket2's SockRef on a corio socket), lookup_host and
//! connect by name, UnixDatagram, and peer credentials.

mod support;

use corio::net::{
    lookup_host, TcpKeepalive, TcpListener, TcpSocket, TcpStream, UdpSocket, UnixDatagram,
    UnixListener, UnixStream,
};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd};
use std::time::Duration;
use support::{open_fds, run_test, settled_fds, tcp_pair};

/// The tests of this file run one at a time: one of them counts the process's fds, which a
/// test running beside it would change.
fn serial() -> support::CountingFds {
    support::counting_fds()
}

#[test]
fn a_tcp_socket_binds_before_connecting_and_listens_with_its_backlog() {
    let _serial = serial();
    run_test(|| async {
        let a = TcpSocket::new_v4().unwrap();
        a.set_reuseaddr(true).unwrap();
        a.set_reuseport(true).unwrap();
        a.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = a.local_addr().unwrap();
        // SO_REUSEPORT: a second listener on the same port.
        let b = TcpSocket::new_v4().unwrap();
        b.set_reuseport(true).unwrap();
        b.set_reuseaddr(true).unwrap();
        b.bind(addr).unwrap();
        let l1 = a.listen(7).unwrap();
        let l2 = b.listen(7).unwrap();
        assert_eq!(l2.local_addr().unwrap(), addr);
        drop(l2);
        // Bind-before-connect: the client's source port is the one it bound.
        let client = TcpSocket::new_v4().unwrap();
        client.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let from = client.local_addr().unwrap();
        let stream = client.connect(addr).await.unwrap();
        let (conn, peer) = l1.accept().await.unwrap();
        assert_eq!(peer, from);
        assert_eq!(stream.local_addr().unwrap(), from);
        let (res, _) = stream.write_all(&b"hi"[..]).await;
        res.unwrap();
        let (res, buf) = conn.read_exact(Vec::with_capacity(2)).await;
        res.unwrap();
        assert_eq!(buf, b"hi");
    });
}

#[test]
fn socket_options_read_back_as_set() {
    let _serial = serial();
    run_test(|| async {
        let s = TcpSocket::new_v4().unwrap();
        let ka = TcpKeepalive::new()
            .with_time(Duration::from_secs(30))
            .with_interval(Duration::from_secs(5))
            .with_retries(4);
        s.set_keepalive(Some(&ka)).unwrap();
        assert_eq!(s.keepalive().unwrap(), Some(ka));
        s.set_linger(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(s.linger().unwrap(), Some(Duration::from_secs(3)));
        s.set_send_buffer_size(64 << 10).unwrap();
        assert!(s.send_buffer_size().unwrap() >= 64 << 10);
        s.set_recv_buffer_size(64 << 10).unwrap();
        assert!(s.recv_buffer_size().unwrap() >= 64 << 10);
        s.set_ttl(33).unwrap();
        assert_eq!(s.ttl().unwrap(), 33);
        s.set_tos(0x10).unwrap();
        assert_eq!(s.tos().unwrap(), 0x10);
        s.set_user_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        assert_eq!(s.user_timeout().unwrap(), Some(Duration::from_millis(1500)));
        s.set_nodelay(true).unwrap();
        assert!(s.nodelay().unwrap());
        assert_eq!(s.device().unwrap(), None);
        let e = s.bind_device(Some(b"no\0such")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let v6 = TcpSocket::new_v6().unwrap();
        v6.set_only_v6(true).unwrap();
        assert!(v6.only_v6().unwrap());
        v6.set_ttl(17).unwrap();
        assert_eq!(v6.ttl().unwrap(), 17);

        let (c, server) = tcp_pair().await;
        c.set_linger(Some(Duration::ZERO)).unwrap();
        assert_eq!(c.linger().unwrap(), Some(Duration::ZERO));
        c.set_keepalive(None).unwrap();
        assert_eq!(c.keepalive().unwrap(), None);
        c.set_quickack(true).unwrap();
        c.set_ttl(5).unwrap();
        assert_eq!(c.ttl().unwrap(), 5);
        // Linger 0: closing sends RST, which the peer reads as a reset.
        drop(c);
        let (res, _) = server.read(Vec::with_capacity(8)).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
    });
}

#[test]
fn socket2_sockref_works_on_every_corio_socket() {
    let _serial = serial();
    run_test(|| async {
        let (c, _s) = tcp_pair().await;
        let r = socket2::SockRef::from(&c);
        r.set_tcp_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            socket2::SockRef::from(&l).local_addr().unwrap().as_socket(),
            l.local_addr().ok()
        );
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket2::SockRef::from(&u).set_broadcast(true).unwrap();
        let (a, _b) = UnixStream::pair().unwrap();
        assert_eq!(a.as_fd().as_raw_fd(), a.as_raw_fd());
        let (d, _e) = UnixDatagram::pair().unwrap();
        assert!(socket2::SockRef::from(&d).r#type().unwrap() == socket2::Type::DGRAM);
    });
}

#[test]
fn every_socket_type_goes_to_std_and_back_and_through_a_raw_fd() {
    let _serial = serial();
    run_test(|| async {
        let base = open_fds();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let l = TcpListener::from_std(l.into_std().unwrap()).unwrap();
        // SAFETY: into_raw_fd gave up ownership; from_raw_fd takes it back.
        let l = unsafe { TcpListener::from_raw_fd(l.into_raw_fd()) };
        let c = TcpStream::connect(addr).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        // SAFETY: as above.
        let c = unsafe { TcpStream::from_raw_fd(c.into_raw_fd()) };
        let (res, _) = c.write_all(&b"x"[..]).await;
        res.unwrap();
        let (res, buf) = s.read(Vec::with_capacity(1)).await;
        assert_eq!((res.unwrap(), &buf[..]), (1, &b"x"[..]));
        let u = UdpSocket::from_std(UdpSocket::bind("127.0.0.1:0").unwrap().into_std().unwrap())
            .unwrap();
        let dir = std::env::temp_dir().join(format!(
            "corio-sockets-{}-{:?}",
            std::process::id(),
            support::choice()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ul = UnixListener::bind(dir.join("l")).unwrap();
        let ul = UnixListener::from_std(ul.into_std().unwrap()).unwrap();
        let (x, _y) = UnixStream::pair().unwrap();
        let x = UnixStream::from_std(x.into_std().unwrap()).unwrap();
        let d = UnixDatagram::unbound().unwrap();
        // SAFETY: as above.
        let d = unsafe { UnixDatagram::from_raw_fd(d.into_raw_fd()) };
        drop((l, c, s, u, ul, x, _y, d));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(settled_fds(base).await, base, "no fd leaked or lost");
    });
}

#[test]
fn into_std_is_refused_while_a_dropped_read_holds_the_socket() {
    let _serial = serial();
    run_test(|| async {
        let (c, _s) = UnixStream::pair().unwrap();
        let r = corio::time::timeout(Duration::from_millis(5), c.read(Vec::with_capacity(8))).await;
        assert!(r.is_err());
        match c.into_std() {
            // io_uring: the cancelled recv may still be in flight, or already reaped.
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
            Ok(std) => drop(std),
        }
    });
}

#[test]
fn lookup_host_resolves_names_on_the_pool_and_connect_takes_host_port() {
    let _serial = serial();
    run_test(|| async {
        let addrs: Vec<_> = lookup_host("localhost:1").await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 1));
        let addrs: Vec<_> = lookup_host(("127.0.0.1", 9)).await.unwrap().collect();
        assert_eq!(addrs, ["127.0.0.1:9".parse().unwrap()]);
        let Err(e) = lookup_host("no-such-host.invalid:80").await else {
            panic!("resolved")
        };
        assert_ne!(e.kind(), std::io::ErrorKind::Other, "{e}");
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let accept = corio::spawn(async move { l.accept().await.map(|_| ()) });
        let s = TcpStream::connect(format!("localhost:{port}")).await;
        // localhost may name ::1 first: connect tries each address in turn.
        s.unwrap();
        accept.await.unwrap().unwrap();
    });
}

#[test]
fn unix_datagrams_go_by_path_and_by_connection() {
    let _serial = serial();
    run_test(|| async {
        let dir = std::env::temp_dir().join(format!(
            "corio-dgram-{}-{:?}",
            std::process::id(),
            support::choice()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let server = UnixDatagram::bind(dir.join("server")).unwrap();
        let client = UnixDatagram::bind(dir.join("client")).unwrap();
        // recv_from waits (readiness) before the datagram is sent.
        let waiting = corio::spawn(async move {
            let (res, buf) = server.recv_from(Vec::with_capacity(64)).await;
            let (n, from) = res.unwrap();
            (buf[..n].to_vec(), from, server)
        });
        corio::time::sleep(Duration::from_millis(5)).await;
        let (res, _) = client.send_to(&b"hello"[..], dir.join("server")).await;
        assert_eq!(res.unwrap(), 5);
        let (data, from, server) = waiting.await.unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(from.as_pathname(), Some(dir.join("client").as_path()));
        server.connect(dir.join("client")).unwrap();
        let (res, _) = server.send(&b"back"[..]).await;
        res.unwrap();
        let (res, buf) = client.recv(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..res.unwrap()], b"back");
        // A dropped recv_from loses nothing: nothing is in the kernel between polls.
        assert!(corio::time::timeout(
            Duration::from_millis(5),
            client.recv_from(Vec::with_capacity(8))
        )
        .await
        .is_err());
        let e = client
            .send_to(&b"x"[..], dir.join("nobody"))
            .await
            .0
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn peer_credentials_name_this_process() {
    let _serial = serial();
    run_test(|| async {
        let (a, _b) = UnixStream::pair().unwrap();
        let cred = a.peer_cred().unwrap();
        assert_eq!(cred.pid, Some(std::process::id() as i32));
        // SAFETY: getuid/getgid have no preconditions.
        assert_eq!((cred.uid, cred.gid), unsafe {
            (libc::getuid(), libc::getgid())
        });
        let (d, _e) = UnixDatagram::pair().unwrap();
        assert_eq!(d.peer_cred().unwrap().pid, Some(std::process::id() as i32));
    });
}
