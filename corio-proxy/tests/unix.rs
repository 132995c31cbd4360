//! Unix sockets on both sides: `unix:` listeners (made with unix-mode, a stale file replaced,
//! a live socket at the path an error naming it, the file removed at exit) and `unix:`
//! upstreams, byte-exact across Unix -> Unix, TCP -> Unix and Unix -> TCP, buffered and
//! spliced, with send-proxy from a Unix client.

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{pattern, proxy_config, round_trip, wait_for, Echo, Proxy, Recorder, TempPath, BIN};

/// An echo upstream on a Unix socket.
fn unix_echo(path: &TempPath) {
    let l = UnixListener::bind(&path.0).unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return drop(conn.shutdown(std::net::Shutdown::Write)),
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}

/// Sends `data` over a Unix connection to `path`, half-closes, and returns the echo.
fn unix_round_trip(path: &TempPath, data: Vec<u8>) -> Vec<u8> {
    let s = UnixStream::connect(&path.0).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    (&s).read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    got
}

#[test]
fn unix_listeners_and_upstreams_carry_bytes_exactly() {
    let up_path = TempPath::new("up.sock");
    unix_echo(&up_path);
    let tcp_echo = Echo::start();
    for copy in ["buffered", "splice"] {
        let (l1, l2) = (TempPath::new("l1.sock"), TempPath::new("l2.sock"));
        let text = format!(
            "workers = 2\n\
             [[listener]]\nlisten = \"unix:{l1}\"\nupstreams = [\"unix:{up}\"]\ncopy = \"{copy}\"\n\
             [[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"unix:{up}\"]\ncopy = \"{copy}\"\n\
             [[listener]]\nlisten = \"unix:{l2}\"\nupstreams = [\"{tcp}\"]\ncopy = \"{copy}\"\n\
             unix-mode = \"0600\"\n",
            l1 = l1.str(),
            l2 = l2.str(),
            up = up_path.str(),
            tcp = tcp_echo.addr
        );
        let (mut proxy, _file) = proxy_config(&text, 3);
        let mode = |p: &TempPath| std::fs::metadata(&p.0).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&l1), mode(&l2)), (0o660, 0o600));
        for (i, len) in [(0u64, 1 << 20), (1, 3), (2, 200_000)] {
            let data = pattern(i, len);
            assert!(
                unix_round_trip(&l1, data.clone()) == data,
                "{copy}: unix -> unix"
            );
            assert!(
                round_trip(proxy.addr(), data.clone()) == data,
                "{copy}: tcp -> unix"
            );
            assert!(
                unix_round_trip(&l2, data.clone()) == data,
                "{copy}: unix -> tcp"
            );
        }
        proxy.signal(libc::SIGTERM);
        assert!(proxy.wait_exit(Duration::from_secs(10)).unwrap().success());
        assert!(
            !l1.0.exists() && !l2.0.exists(),
            "the socket files are removed at exit"
        );
    }
}

#[test]
fn a_stale_file_is_replaced_and_a_live_socket_is_an_error() {
    let rec = Recorder::start();
    let path = TempPath::new("l.sock");
    drop(UnixListener::bind(&path.0).unwrap()); // the file stays, nothing listens: stale
    let proxy = Proxy::start(&[
        "--listen",
        &format!("unix:{}", path.str()),
        "--upstream",
        &rec.addr.to_string(),
        "--workers",
        "1",
    ]);
    assert!(std::fs::metadata(&path.0).unwrap().file_type().is_socket());
    // A second proxy on the same path: exit 1, naming it, and the first keeps serving.
    let out = Command::new(BIN)
        .args(["--listen", &format!("unix:{}", path.str())])
        .args(["--upstream", &rec.addr.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(path.str()) && err.contains("live socket"),
        "{err}"
    );
    let mut s = UnixStream::connect(&path.0).unwrap();
    s.write_all(b"still here").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let _ = s.read_to_end(&mut Vec::new());
    // The second proxy's probe was a connection too (empty): the first proxy served both.
    let got = rec.wait(2);
    assert!(got.iter().any(|r| r.bytes == b"still here"), "{got:?}");
    // A path that is not a socket is never replaced.
    let file = TempPath::new("plain");
    std::fs::write(&file.0, "keep me").unwrap();
    let out = Command::new(BIN)
        .args(["--listen", &format!("unix:{}", file.str())])
        .args(["--upstream", &rec.addr.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&file.0).unwrap(), "keep me");
    drop(proxy);
    // A start that fails after the socket file was made (the next listener's port is taken)
    // leaves no file behind.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let made = TempPath::new("made.sock");
    let text = format!(
        "[[listener]]\nlisten = \"unix:{}\"\nupstreams = [\"{r}\"]\n\
         [[listener]]\nlisten = \"{}\"\nupstreams = [\"{r}\"]\n",
        made.str(),
        taken.local_addr().unwrap(),
        r = rec.addr
    );
    let cfg = TempPath::new("failing.toml");
    std::fs::write(&cfg.0, text).unwrap();
    let out = Command::new(BIN)
        .args(["--config", cfg.str()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!made.0.exists(), "the socket file of a failed start stayed");
}

/// A Unix client has no IP: send-proxy says so (v1 UNKNOWN), and the bytes follow.
#[test]
fn send_proxy_from_a_unix_client() {
    let rec = Recorder::start();
    let path = TempPath::new("l.sock");
    let text = format!(
        "workers = 1\n[[listener]]\nlisten = \"unix:{}\"\nupstreams = [\"{}\"]\nsend-proxy = \"v1\"\n",
        path.str(),
        rec.addr
    );
    let (_proxy, _file) = proxy_config(&text, 1);
    let mut s = UnixStream::connect(&path.0).unwrap();
    s.write_all(b"x").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let _ = s.read_to_end(&mut Vec::new());
    wait_for(Duration::from_secs(10), || (rec.count() == 1).then_some(())).unwrap();
    assert_eq!(rec.wait(1)[0].bytes, b"PROXY UNKNOWN\r\nx");
}

/// A `unix:` listener is handed over by `--takeover` like a TCP one: the path keeps
/// accepting throughout, the old process exits 0 and leaves the file (the successor's now),
/// which the successor removes at its exit.
#[test]
fn a_unix_listener_is_handed_over() {
    let rec = Recorder::start();
    let (path, control) = (TempPath::new("l.sock"), TempPath::new("control.sock"));
    let text = format!(
        "workers = 2\n[[listener]]\nlisten = \"unix:{}\"\nupstreams = [\"{}\"]\n",
        path.str(),
        rec.addr
    );
    let file = TempPath::new("takeover.toml");
    std::fs::write(&file.0, text).unwrap();
    let start = |extra: &[&str]| {
        let args = [
            &["--config", file.str(), "--control", control.str()][..],
            extra,
        ]
        .concat();
        Proxy::start_with(&args, 1, &[])
    };
    let mut old = start(&[]);
    let send = |msg: &[u8]| {
        let mut s = UnixStream::connect(&path.0).unwrap();
        s.write_all(msg).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    };
    send(b"before");
    let mut new = start(&["--takeover", control.str()]);
    assert!(
        old.wait_exit(Duration::from_secs(20)).unwrap().success(),
        "{:?}",
        old.stderr()
    );
    assert!(
        path.0.exists(),
        "the old process left the successor's socket file"
    );
    send(b"after");
    let got = rec.wait(2);
    assert!(got.iter().any(|r| r.bytes == b"after"), "{got:?}");
    new.signal(libc::SIGTERM);
    assert!(new.wait_exit(Duration::from_secs(20)).unwrap().success());
    assert!(!path.0.exists(), "the successor removes it at its exit");
}
