//! The harness's plug-in contract: argument errors and `--help` anywhere, unreachable and
//! host-name addresses, byte checking against a corrupting server, a server that closes early,
//! and `load` against `serve echo` on both corio drivers with zero errors.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

mod support;
use support::*;

#[test]
fn argument_errors_exit_2_with_a_message() {
    for args in [
        vec!["load", "--bogus"],
        vec!["load", "--addr", "127.0.0.1:1", "--conns", "0"],
        vec!["load", "--addr", "127.0.0.1:1", "--conns", "many"],
        vec!["load", "--addr", "127.0.0.1:1", "--mode", "rate"],
        vec!["load"],
        vec![
            "serve",
            "echo",
            "--server",
            "nginx",
            "--addr",
            "127.0.0.1:0",
        ],
        vec!["serve", "echo", "--driver", "uring"],
        vec![
            "serve",
            "chat",
            "--driver",
            "uring",
            "--addr",
            "127.0.0.1:0",
        ],
        vec!["--servers", "apache"],
        vec!["--frobnicate"],
        // A server without the service, a file service without its file, a runner that is
        // not one.
        vec![
            "serve",
            "file",
            "--server",
            "raw-epoll",
            "--file",
            "/dev/null",
            "--addr",
            "127.0.0.1:0",
        ],
        vec![
            "serve",
            "file",
            "--server",
            "tokio",
            "--addr",
            "127.0.0.1:0",
        ],
        vec![
            "serve",
            "http",
            "--server",
            "monoio",
            "--addr",
            "127.0.0.1:0",
        ],
        vec!["file-read", "--server", "raw-epoll", "--file", "/dev/null"],
        vec!["file-read", "--server", "tokio"],
        vec!["--cases", "files"],
        vec!["proxy", "--proxies", "apache"],
        vec!["proxy", "--cases", "nothing"],
        vec!["proxy", "--rounds", "0"],
        vec!["proxy", "--idle-pairs", "-3"],
        vec!["--syscall-cost", "docker"],
        vec!["--syscall-cost", "seccomp-nocache-x99"],
        vec!["--workers", "0"],
        vec!["--rounds", "0"],
        vec!["report"],
    ] {
        let out = run(&args, Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.trim().is_empty(), "{args:?}: no message");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let out = run(&["--help"], Duration::from_secs(10));
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve echo",
        "--server NAME",
        "load --addr",
        "--json",
        "SIGUSR1",
    ] {
        assert!(help.contains(word), "help lacks {word}");
    }
}

#[test]
fn unreachable_address_is_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = run(
        &["load", "--addr", &addr, "--secs", "1"],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("connect to") && err.contains("refused"),
        "{err}"
    );
}

/// A tiny echo server on std threads that flips one byte of every `nth` chunk it echoes
/// (never when `nth` is 0) and closes connections after `close_after` bytes (never when 0).
fn bad_server(nth: usize, close_after: usize) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let stop = Instant::now() + Duration::from_secs(15);
        let mut workers = Vec::new();
        while Instant::now() < stop {
            match listener.accept() {
                Ok((mut s, _)) => workers.push(std::thread::spawn(move || {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut buf = [0u8; 4096];
                    let (mut chunks, mut total) = (0usize, 0usize);
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        chunks += 1;
                        total += n;
                        if nth > 0 && chunks % nth == 0 {
                            buf[n / 2] ^= 0x40;
                        }
                        if s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                        if close_after > 0 && total >= close_after {
                            return;
                        }
                    }
                })),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
            if workers.len() >= 4 && workers.iter().all(|w| w.is_finished()) {
                return;
            }
        }
    });
    (addr, handle)
}

#[test]
fn a_corrupting_server_is_caught() {
    let (addr, server) = bad_server(50, 0);
    let out = run(
        &[
            "load", "--addr", &addr, "--conns", "4", "--secs", "1", "--warmup", "0", "--json",
        ],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{out:?}");
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json_field(&json, "corrupt") >= 1.0, "{json}");
    drop(server);
}

#[test]
fn a_server_that_closes_early_counts_errors_without_hanging() {
    let (addr, server) = bad_server(0, 64 * 20);
    let start = Instant::now();
    let out = run(
        &[
            "load", "--addr", &addr, "--conns", "4", "--secs", "2", "--warmup", "0", "--json",
        ],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{out:?}");
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json_field(&json, "errors") >= 1.0, "{json}");
    assert!(start.elapsed() < Duration::from_secs(15));
    drop(server);
}

fn serve(driver: &str) -> (Server, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let (server, _) = serve_with(&["--driver", driver], &addr, &[]);
    (server, addr)
}

#[test]
fn load_against_serve_reports_zero_errors_on_both_drivers() {
    for driver in ["uring", "epoll"] {
        let (server, addr) = serve(driver);
        for mode in [
            &["--depth", "4"][..],
            &["--mode", "churn", "--conns", "2"][..],
            &["--mode", "bulk", "--conns", "1", "--size", "16384"][..],
            &["--mode", "rate", "--rate", "2000"][..],
        ] {
            let mut args = vec![
                "load", "--addr", &addr, "--conns", "20", "--secs", "0.5", "--json",
            ];
            args.extend_from_slice(mode);
            let out = run(&args, Duration::from_secs(30));
            assert!(out.status.success(), "{driver} {mode:?}: {out:?}");
            let json = String::from_utf8_lossy(&out.stdout);
            let json = json.trim();
            assert!(
                json.starts_with('{') && json.ends_with('}') && !json.contains('\n'),
                "exactly one JSON object: {json}"
            );
            assert!(json_field(json, "requests") > 0.0, "{json}");
            for field in ["errors", "corrupt", "connect_errors"] {
                assert_eq!(json_field(json, field), 0.0, "{driver} {mode:?}: {json}");
            }
        }
        // SIGTERM: exit 0 with one JSON stats line that counts the work.
        let line = stop_for_stats(server);
        assert!(json_field(&line, "accepted") >= 20.0, "{line}");
        assert!(json_field(&line, "ops_submitted") > 0.0, "{line}");
    }
}

#[test]
fn help_works_after_any_subcommand() {
    for (args, word) in [
        (&["load", "--conns", "5", "--help"][..], "--conns"),
        (&["serve", "--help"][..], "echo"),
        (&["serve", "echo", "--help"][..], "SIGUSR1"),
        (&["suite", "--help"][..], "--servers"),
        (&["serve", "file", "--help"][..], "64 KiB"),
        (&["serve", "http", "--help"][..], "hyper"),
        (&["file-read", "--help"][..], "--check-every"),
        (&["proxy", "--help"][..], "HAProxy"),
        (&["report", "--help"][..], "results.json"),
        (&["--help"][..], "--syscall-cost"),
    ] {
        let out = run(args, Duration::from_secs(10));
        assert!(out.status.success(), "{args:?}: {out:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains(word), "{args:?}: {help}");
    }
}

#[test]
fn serve_file_without_the_file_exits_1_saying_so() {
    let addr = format!("127.0.0.1:{}", free_port());
    let out = run(
        &[
            "serve",
            "file",
            "--server",
            "corio-epoll",
            "--file",
            "/nonexistent/corio-bench",
            "--addr",
            &addr,
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No such file") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn addr_takes_host_names_on_serve_and_load() {
    let addr = format!("localhost:{}", free_port());
    let (server, _) = serve_with(&["--server", "raw-epoll"], &addr, &[]);
    clean_load(&addr, "localhost");
    stop_for_stats(server);
    let out = run(
        &["load", "--addr", "no-such-host.invalid:1"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--addr"));
}
