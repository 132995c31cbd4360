//! Helpers for the corio-proxy integration tests: the proxy as a child process (its driver
//! comes from `CORIO_DRIVER`, which ./test.sh sets to each driver in turn), echo upstreams,
//! and loopback clients. Everything is bounded in time; children are killed by pid on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod ops;
#[allow(unused_imports)]
pub use ops::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_corio-proxy");

/// A deterministic byte pattern of length `len`, distinct per `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
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

/// A running corio-proxy child.
pub struct Proxy {
    child: Child,
    pub listen: Vec<SocketAddr>,
    pub admin: Option<SocketAddr>,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// The word after `marker` in a log line, text or JSON (up to a space or a quote).
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let (_, rest) = line.split_once(marker)?;
    rest.split([' ', '"']).next()
}

/// Waits up to `limit` for `f` to return `Some`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Proxy {
    /// Starts the proxy with `args` and waits until it listens on `listeners` addresses.
    pub fn start(args: &[&str]) -> Proxy {
        let listeners = args.iter().filter(|a| **a == "--listen").count().max(1);
        Proxy::start_with(args, listeners, &[])
    }

    /// Like `start`, with extra environment and an explicit listener count (for --config).
    pub fn start_with(args: &[&str], listeners: usize, env: &[(&str, &str)]) -> Proxy {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Proxy::start_cmd(cmd, listeners)
    }

    /// Starts `cmd` (corio-proxy with its arguments) and waits for `listeners` "listening on"
    /// lines.
    pub fn start_cmd(mut cmd: Command, listeners: usize) -> Proxy {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start corio-proxy");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                lines.lock().unwrap().push(line);
            }
        });
        let mut proxy = Proxy {
            child,
            listen: vec![],
            admin: None,
            stderr,
        };
        let ready = wait_for(Duration::from_secs(20), || {
            let lines = proxy.stderr.lock().unwrap();
            let shown: Vec<&str> = lines
                .iter()
                .filter_map(|l| after(l, "listening on "))
                .collect();
            // unix:/path listeners are counted, and not in `listen`.
            let listen: Vec<SocketAddr> = shown.iter().filter_map(|a| a.parse().ok()).collect();
            (shown.len() >= listeners).then(|| {
                let admin = lines.iter().find_map(|l| {
                    let a = after(l, "admin on http://")?;
                    a.strip_suffix("/metrics")?.parse().ok()
                });
                (listen, admin)
            })
        });
        match ready {
            Some((listen, admin)) => {
                proxy.listen = listen;
                proxy.admin = admin;
                proxy
            }
            None => panic!("corio-proxy did not start: {:?}", proxy.stderr()),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listen[0]
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to `limit` for a stderr line containing `needle`.
    pub fn wait_line(&self, needle: &str, limit: Duration) -> Option<String> {
        wait_for(limit, || {
            let lines = self.stderr.lock().unwrap();
            lines.iter().find(|l| l.contains(needle)).cloned()
        })
    }

    /// Open fds of the proxy process.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Resident set size of the proxy process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// GET /metrics from the admin address: the body.
    pub fn metrics(&self) -> String {
        let addr = self.admin.expect("started with --admin");
        http_get(addr, "/metrics").1
    }

    /// GET /status from the admin address, parsed.
    pub fn status(&self) -> serde_json::Value {
        let addr = self.admin.expect("started with --admin");
        let (head, body) = http_get(addr, "/status");
        assert!(head.contains("200"), "{head}");
        serde_json::from_str(&body).unwrap()
    }

    /// The sum of the samples of `name` whose labels contain `label` ("" for any).
    pub fn metric(&self, name: &str, label: &str) -> u64 {
        metric_value(&self.metrics(), name, label)
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child we started and have not reaped.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0);
    }

    /// Waits up to `limit` for the proxy to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_for(limit, || self.child.try_wait().unwrap())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One HTTP/1.1 GET: (status line, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The sum of the samples of `name` whose labels contain `label`.
pub fn metric_value(text: &str, name: &str, label: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(k, _)| {
            let base = k.split('{').next().unwrap_or("");
            base == name && k.contains(label)
        })
        .map(|(_, v)| v.parse::<u64>().unwrap())
        .sum()
}

/// A port nothing listens on (bound, then closed): free for a server the test starts.
pub fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// An address that refuses connections for the rest of the test process: bound, never
/// listening, and kept bound, so that no other bind (a parallel test's, another process's)
/// can take the port, as one that was bound and closed (`closed_port`) can be.
pub fn refused_addr() -> SocketAddr {
    static HELD: Mutex<Vec<socket2::Socket>> = Mutex::new(Vec::new());
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    s.bind(&any.into()).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    HELD.lock().unwrap().push(s);
    addr
}

/// An echo upstream: a thread per connection, each echoing until EOF (then closing). `kill`
/// resets every connection and closes the listener, like a crashed server.
pub struct Echo {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl Echo {
    pub fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (s, c) = (stop.clone(), conns.clone());
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Acquire) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                c.lock().unwrap().push(conn.try_clone().unwrap());
                std::thread::Builder::new()
                    .stack_size(64 << 10)
                    .spawn(move || echo_conn(conn))
                    .unwrap();
            }
        });
        Echo {
            addr,
            stop,
            conns,
            accept: Some(accept),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    /// Resets every connection and stops listening.
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::Release);
        for c in self.conns.lock().unwrap().drain(..) {
            set_linger_zero(&c);
            let _ = c.shutdown(Shutdown::Both);
        }
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.kill();
        }
    }
}

fn echo_conn(mut conn: TcpStream) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match conn.read(&mut buf) {
            // `kill` holds a clone of the socket: shut it, so the FIN goes out now.
            Ok(0) | Err(_) => return drop(conn.shutdown(Shutdown::Both)),
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// SO_LINGER 0: closing sends a reset.
pub fn set_linger_zero(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads `linger`, valid for the call, on an fd `s` owns.
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

/// Raises this test process's soft open-file limit to the hard one (1,000 pairs need more
/// than the usual 1,024 soft limit on this side: clients and the echo upstream's sockets).
pub fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into `lim`, which lives for the call.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads `lim`, which lives for the call.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}

/// A client through the proxy.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `data` and reads the echo back concurrently, then half-closes; returns what came
/// back before EOF.
pub fn round_trip(addr: SocketAddr, data: Vec<u8>) -> Vec<u8> {
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(&data).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    (&s).read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    got
}

/// One echo exchange on an open connection.
pub fn ping(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

/// True once the connection reports EOF or a reset (within the read timeout).
pub fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A path under the temp dir, unique to this test process, removed (file or tree) on drop.
pub struct TempPath(pub std::path::PathBuf);

impl TempPath {
    pub fn new(name: &str) -> TempPath {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("cp-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempPath(p)
    }

    pub fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts the proxy from a TOML config (`listeners` listeners to wait for).
pub fn proxy_config(text: &str, listeners: usize) -> (Proxy, TempPath) {
    let file = TempPath::new("proxy.toml");
    std::fs::write(&file.0, text).unwrap();
    let proxy = Proxy::start_with(&["--config", file.str()], listeners, &[]);
    (proxy, file)
}

/// What a recording upstream got on one connection: the bytes until EOF, and the peer.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub peer: SocketAddr,
    pub bytes: Vec<u8>,
}

/// An upstream that records every connection's bytes until the client's EOF (then closes),
/// and answers `reply` once it has received `reply_after` bytes (if any reply is set).
pub struct Recorder {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    pub fn start() -> Recorder {
        Recorder::with_reply(Vec::new(), 0)
    }

    pub fn with_reply(reply: Vec<u8>, reply_after: usize) -> Recorder {
        Recorder::on(
            TcpListener::bind("127.0.0.1:0").unwrap(),
            reply,
            reply_after,
        )
    }

    pub fn on(listener: TcpListener, reply: Vec<u8>, reply_after: usize) -> Recorder {
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Acquire) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let (g, reply) = (g.clone(), reply.clone());
                std::thread::spawn(move || {
                    let peer = conn.peer_addr().unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(20)))
                        .unwrap();
                    let mut bytes = Vec::new();
                    let mut buf = [0u8; 16 << 10];
                    let mut replied = reply.is_empty();
                    loop {
                        match conn.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => bytes.extend_from_slice(&buf[..n]),
                        }
                        if !replied && bytes.len() >= reply_after {
                            replied = true;
                            let _ = conn.write_all(&reply);
                        }
                    }
                    g.lock().unwrap().push(Recorded { peer, bytes });
                });
            }
        });
        Recorder {
            addr,
            got,
            stop,
            accept: Some(accept),
        }
    }

    /// Waits until `n` connections have ended, and returns them all.
    pub fn wait(&self, n: usize) -> Vec<Recorded> {
        let got = wait_for(Duration::from_secs(20), || {
            let g = self.got.lock().unwrap();
            (g.len() >= n).then(|| g.clone())
        });
        got.unwrap_or_else(|| panic!("fewer than {n} connections: {:?}", self.got.lock().unwrap()))
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

impl Drop for Recorder {
    /// Returns once the listener is closed: a test that stops an upstream connects to it
    /// right after, and must be refused (a connection accepted into the backlog of a
    /// listener about to close is reset instead, and its client reaches no upstream).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// Sends `data` on a new connection (in one write), half-closes, and reads until EOF.
pub fn send_and_close(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(data).unwrap();
    // A client the proxy refuses may be reset before it shuts down (ENOTCONN then).
    let _ = s.shutdown(Shutdown::Write);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

/// A TCP connection from a chosen local address (127.0.0.2, 127.0.0.3, ...).
pub fn connect_from(local: std::net::IpAddr, to: SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    s.bind(&SocketAddr::new(local, 0).into()).unwrap();
    s.connect(&to.into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}
