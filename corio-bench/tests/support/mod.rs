//! What the corio-bench integration tests share: running the binary with a time limit, a
//! server child that is always stopped and reaped, and a clean short load. Every child is
//! bounded in time and signalled only by its own pid.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_corio-bench");

/// Runs the binary with `args`, killing it if it outlives `limit`.
pub fn run(args: &[&str], limit: Duration) -> Output {
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

pub fn json_field(json: &str, name: &str) -> f64 {
    let key = format!("\"{name}\":");
    let rest = &json[json
        .find(&key)
        .unwrap_or_else(|| panic!("{name} in {json}"))
        + key.len()..];
    rest.split([',', '}']).next().unwrap().parse().unwrap()
}

/// A server child that is stopped (SIGTERM, then SIGKILL) and reaped when dropped, so a failing
/// test leaves nothing running.
pub struct Server(pub Child);

pub fn sigterm(child: &Child) {
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `corio-bench serve echo ARGS --addr ADDR` (with `env` set) and waits for its
/// "listening on" line; returns the server and the stderr lines before that one.
pub fn serve_with(args: &[&str], addr: &str, env: &[(&str, &str)]) -> (Server, Vec<String>) {
    let mut all = vec!["echo"];
    all.extend_from_slice(args);
    serve_service(&all, addr, env)
}

/// Starts `corio-bench serve SERVICE.. --addr ADDR` (`service`: the words after `serve`) and
/// waits for its "listening on" line, as [`serve_with`] does.
pub fn serve_service(args: &[&str], addr: &str, env: &[(&str, &str)]) -> (Server, Vec<String>) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .args(["--addr", addr])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut before = Vec::new();
    // Bounded: the server prints a handful of lines, then "listening on", or exits (EOF).
    for _ in 0..8 {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.starts_with("listening on") {
            return (Server(child), before);
        }
        before.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve {args:?} did not start: {before:?}");
}

/// SIGTERM, then the server's last stdout line (its stats) once it exited 0.
pub fn stop_for_stats(mut server: Server) -> String {
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
    assert_eq!(status.code(), Some(0), "{stdout}");
    stdout.lines().last().unwrap_or_default().to_string()
}

/// A short ping-pong load (4 in flight on 10 connections) that must see no error of any kind.
pub fn clean_load(addr: &str, what: &str) {
    clean_load_with(addr, what, &["--conns", "10", "--depth", "4"]);
}

/// A short load with `args` added (0.3 s, no warm-up) that must see no error of any kind.
pub fn clean_load_with(addr: &str, what: &str, args: &[&str]) {
    let mut all = vec![
        "load", "--addr", addr, "--secs", "0.3", "--warmup", "0", "--json",
    ];
    all.extend_from_slice(args);
    let out = run(&all, Duration::from_secs(30));
    assert!(out.status.success(), "{what} {args:?}: {out:?}");
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(
        json_field(&json, "requests") > 0.0,
        "{what} {args:?}: {json}"
    );
    for field in ["errors", "corrupt", "connect_errors"] {
        assert_eq!(json_field(&json, field), 0.0, "{what} {args:?}: {json}");
    }
}

/// Echoes requests of falling sizes, each answered before the next is sent, then half-closes
/// and reads to EOF: every byte must come back once, in order, and nothing more. A server that
/// echoes a stale buffer length (its last read's, not this one's) sends extra bytes here.
pub fn echo_falling_sizes(addr: &str, what: &str) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_nodelay(true).unwrap();
    for (i, size) in [4000usize, 1000, 64, 10, 1].into_iter().enumerate() {
        let sent: Vec<u8> = (0..size).map(|j| (i * 31 + j * 7) as u8).collect();
        s.write_all(&sent).unwrap();
        let mut got = vec![0u8; size];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, sent, "{what}: request {i} of {size} bytes");
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "{what}: {} bytes more than were sent",
        rest.len()
    );
}

/// Whether this machine lets corio use io_uring (else the io_uring servers cannot run).
pub fn uring_works() -> bool {
    corio::Runtime::builder()
        .driver(corio::DriverChoice::IoUring)
        .build()
        .is_ok()
}
