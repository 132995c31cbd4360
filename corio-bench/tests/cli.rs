//! The harness's plug-in contract: argument errors, unreachable addresses, byte checking
//! against a corrupting server, a server that closes early, and `load` against `serve echo` on
//! both corio drivers with zero errors. Every child is bounded in time and killed by pid.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_corio-bench");

/// Runs the binary with `args`, killing it if it outlives `limit`.
fn run(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("corio-bench {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn json_field(json: &str, name: &str) -> f64 {
    let key = format!("\"{name}\":");
    let rest = &json[json
        .find(&key)
        .unwrap_or_else(|| panic!("{name} in {json}"))
        + key.len()..];
    rest.split([',', '}']).next().unwrap().parse().unwrap()
}

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

/// A server child that is stopped (SIGTERM, then SIGKILL) and reaped when dropped, so a failing
/// test leaves nothing running.
struct Server(Child);

fn sigterm(child: &Child) {
    // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.0.try_wait() {
            return;
        }
        sigterm(&self.0);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(driver: &str) -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["serve", "echo", "--driver", driver, "--addr", &addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on"), "{line}");
    (Server(child), addr)
}

#[test]
fn load_against_serve_reports_zero_errors_on_both_drivers() {
    for driver in ["uring", "epoll"] {
        let (mut server, addr) = serve(driver);
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
        sigterm(&server.0);
        let mut stdout = String::new();
        server
            .0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let status = server.0.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{driver}");
        let line = stdout.lines().last().unwrap_or_default();
        assert!(json_field(line, "accepted") >= 20.0, "{line}");
        assert!(json_field(line, "ops_submitted") > 0.0, "{line}");
        drop(server); // already reaped: nothing more to stop
    }
}

#[test]
fn serve_reports_a_port_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(
        &["serve", "echo", "--server", "raw-epoll", "--addr", &addr],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use"),
        "{out:?}"
    );
}

#[test]
fn quick_suite_writes_a_complete_report() {
    let out_dir = std::env::temp_dir().join(format!("corio-bench-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let dir = out_dir.to_str().unwrap();
    let out = run(
        &[
            "suite",
            "--quick",
            "--servers",
            "raw-epoll,corio-uring",
            "--cases",
            "pingpong c=1,pingpong c=50,churn",
            "--out",
            dir,
        ],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("[case 6/6] churn c=8 · corio-uring · ~"),
        "{stderr}"
    );
    assert!(
        stdout.contains("### pingpong c=50") && stdout.contains(dir),
        "{stdout}"
    );
    let file = |name: &str| std::fs::read_to_string(out_dir.join(name)).unwrap();
    let results = file("results.json");
    assert_eq!(results.matches("\"case\":").count(), 6, "{results}");
    assert_eq!(results.matches("\"error\":null").count(), 6, "{results}");
    assert!(!results.contains("\"requests\":0,"), "{results}");
    let report = file("report.md");
    assert!(report.contains("server pinned to core") || report.contains("no pinning"));
    assert!(report.contains("| raw-epoll |") && report.contains("--out"));
    for svg in ["throughput.svg", "p99.svg"] {
        let svg = file(svg);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // Axes plus one line per server.
        assert_eq!(svg.matches("<polyline").count(), 3, "{svg}");
    }
    std::fs::remove_dir_all(&out_dir).unwrap();
}
