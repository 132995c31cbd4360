//! Helpers shared by corio-compat's tests. ./test.sh runs every test binary twice, with
//! `CORIO_DRIVER=uring` and `CORIO_DRIVER=epoll`; corio runtimes here and the example servers
//! started as child processes both honour it.
#![allow(dead_code)]

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `f` on a corio runtime (driver from `CORIO_DRIVER`), failing if it takes over `limit`.
pub fn run<F: Future>(limit: Duration, f: F) -> F::Output {
    let rt = corio::Runtime::new().expect("corio runtime");
    rt.block_on(async move {
        corio::time::timeout(limit, f)
            .await
            .expect("test exceeded its time limit")
    })
}

/// Byte `i` of the hyper_server example's `/bytes/N` body.
pub fn server_pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A deterministic, non-periodic byte pattern.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Number of open fds of process `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Number of open fds of this process.
pub fn own_fds() -> usize {
    fd_count(std::process::id())
}

/// Waits (up to `limit`) until `cond()` holds; returns whether it did.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// True if `program --version` runs; otherwise prints why the caller skips.
pub fn have(program: &str, test: &str) -> bool {
    let ok = Command::new(program)
        .arg(if program == "openssl" {
            "version"
        } else {
            "--version"
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        println!("SKIPPED {test}: `{program}` is not installed (.ci/run installs it with apt-get)");
    }
    ok
}

/// Asserts that an example server's banner names the driver `CORIO_DRIVER` asks for.
pub fn assert_driver(server: &Server) {
    let want = match std::env::var("CORIO_DRIVER").as_deref() {
        Ok("uring") => "driver=IoUring",
        Ok("epoll") => "driver=Epoll",
        _ => return,
    };
    assert!(
        server.seen.iter().any(|l| l.contains(want)),
        "expected {want} in {:?}",
        server.seen
    );
}

/// An example server running as a child process; killed (by pid) when dropped.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub pid: u32,
    /// The lines printed so far that `wait_line` skipped (e.g. the driver banner).
    pub seen: Vec<String>,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `bin args...` and waits (up to 30 s) for its `READY <addr> ...` line.
    pub fn start(bin: &str, args: &[&str]) -> Server {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let pid = child.id();
        let mut server = Server {
            child: Some(child),
            addr: "0.0.0.0:0".parse().unwrap(),
            pid,
            seen: Vec::new(),
            lines,
        };
        let ready = server
            .wait_line("READY", Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{bin} printed no READY line"));
        let addr = ready.split_whitespace().nth(1).expect("READY <addr>");
        server.addr = addr
            .trim_start_matches("http://")
            .parse()
            .expect("READY address");
        server
    }

    /// The next line of the server's stdout that starts with `prefix`, within `limit`.
    pub fn wait_line(&mut self, prefix: &str, limit: Duration) -> Option<String> {
        let end = Instant::now() + limit;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Some(line),
                Ok(line) => self.seen.push(line),
                Err(_) => return None,
            }
        }
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        // SAFETY: kill(2) takes plain integers; the pid is our unreaped child, so it cannot
        // name another process.
        let rc = unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM)");
    }

    /// Waits (up to `limit`) for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        let child = self.child.as_mut()?;
        while Instant::now() < end {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A connected corio TCP pair on loopback: (client, server). Call inside a runtime.
pub async fn tcp_pair() -> (corio::net::TcpStream, corio::net::TcpStream) {
    let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connect = corio::spawn(async move { corio::net::TcpStream::connect(addr).await.unwrap() });
    let (server, _) = listener.accept().await.unwrap();
    (connect.await.unwrap(), server)
}
