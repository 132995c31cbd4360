//! examples/port_from_tokio.rs, the gateway ported from tokio, run as a child process under
//! each driver: it proxies byte-exact both ways with half-close, follows a config change to a
//! new upstream, holds connections past its limit until one ends, and stops cleanly when its
//! standard input closes.
#![cfg(feature = "macros")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The example's binary, built by `cargo test --all-targets` (or here, if missing).
fn example() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("examples").join("port_from_tokio");
    if !bin.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--example",
                "port_from_tokio",
                "--features",
                "macros",
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
    bin
}

/// A std echo server on its own thread that answers each connection with `tag` first.
fn upstream(tag: &'static [u8]) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                c.write_all(tag).unwrap();
                let mut r = c.try_clone().unwrap();
                std::io::copy(&mut r, &mut c).unwrap();
                c.shutdown(Shutdown::Write).unwrap();
            });
        }
    });
    addr
}

fn round_trip(addr: std::net::SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = c.try_clone().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    got
}

#[test]
fn the_ported_gateway_runs_under_both_drivers() {
    let bin = example();
    support::each_driver(|| {
        let dir = std::env::temp_dir().join(format!(
            "corio-port-{}-{}",
            std::process::id(),
            support::name(support::choice())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("gateway.conf");
        let (a, b) = (upstream(b"A:"), upstream(b"B:"));
        std::fs::write(&config, format!("{a}\n1\n")).unwrap();
        let mut child = Command::new(&bin)
            .args(["127.0.0.1:0", config.to_str().unwrap()])
            .env("CORIO_DRIVER", support::name(support::choice()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr: std::net::SocketAddr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .parse()
            .unwrap();

        let data = support::pattern(9, 200_000);
        let got = round_trip(addr, &data);
        assert_eq!(&got[..2], b"A:");
        assert_eq!(&got[2..], &data[..]);

        // The limit is 1: a second client waits while the first is open.
        let mut first = TcpStream::connect(addr).unwrap();
        let mut tag = [0u8; 2];
        first.read_exact(&mut tag).unwrap();
        let mut second = TcpStream::connect(addr).unwrap();
        second
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert!(
            second.read_exact(&mut tag).is_err(),
            "over the limit: not yet served"
        );
        drop(first);
        second
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        second.read_exact(&mut tag).unwrap();
        assert_eq!(&tag, b"A:");
        drop(second);

        // A new config: later connections go to upstream B.
        std::fs::write(&config, format!("{b}\n4\n")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = round_trip(addr, b"x");
            if got.starts_with(b"B:") {
                assert_eq!(&got[2..], b"x");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the config change was not followed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }

        // Standard input closed: it stops, reporting what it moved.
        drop(child.stdin.take());
        let mut rest = String::new();
        out.read_to_string(&mut rest).unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        assert!(
            rest.contains("stopped:") && rest.contains(" 0 failed"),
            "{rest}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
