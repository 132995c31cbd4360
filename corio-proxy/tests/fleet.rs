//! A fleet on one machine (docs/proxy.md, "Running a fleet"): every host is a network
//! namespace this test makes (one bridge, a veth pair per host, addresses inside the
//! namespaces only, all removed at the end):
//!
//! ```text
//!   client 10.77.0.2-.9 --> lb 10.77.0.1:8000 (HAProxy, mode tcp, send-proxy-v2)
//!                             |-- h1 10.77.0.11:8000 (corio-proxy, accept-proxy, send-proxy v1)
//!                             '-- h2 10.77.0.12:8000 (corio-proxy, accept-proxy, send-proxy v1)
//!                                   --> up 10.77.0.100:9000 (recording echo upstream)
//! ```
//!
//! Under a connect-per-request load (each request: connect from one of eight client
//! addresses, 64 bytes, the echo, close), h1 is upgraded by listener hand-over (a new process
//! with `--takeover`) and h2 is drained (SIGTERM) and brought back. Every request must
//! succeed, byte-exact, and the upstream must see each one's real client address and port in
//! the PROXY header h1 or h2 sent. Skips with the reason where namespaces cannot be made (not
//! root, no `ip`) or HAProxy is missing.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{wait_for, TempPath, BIN};

/// Requests by client address: what each sent, or what the upstream saw from each.
type Requests = Vec<(SocketAddr, Vec<u8>)>;

const HOSTS: [&str; 5] = ["client", "lb", "h1", "h2", "up"];

/// The namespaces and the bridge between them; all removed on drop.
struct Net {
    prefix: String,
}

impl Net {
    fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.prefix)
    }

    /// Makes the namespaces, or says why it cannot.
    fn make() -> Result<Net, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: network namespaces need CAP_SYS_ADMIN".into());
        }
        let net = Net {
            prefix: format!("cpf{}", std::process::id() % 100_000),
        };
        let fab = net.ns("fab");
        ip(&["netns", "add", &fab])?;
        ip(&["-n", &fab, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &fab, "link", "set", "br0", "up"])?;
        ip(&["-n", &fab, "link", "set", "lo", "up"])?;
        let addrs = [
            ("client", &["10.77.0.2"][..]),
            ("lb", &["10.77.0.1"]),
            ("h1", &["10.77.0.11"]),
            ("h2", &["10.77.0.12"]),
            ("up", &["10.77.0.100"]),
        ];
        for (i, (host, ips)) in addrs.iter().enumerate() {
            let ns = net.ns(host);
            let (inner, outer) = (format!("cpfi{i}"), format!("{}o{i}", net.prefix));
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &inner, "type", "veth", "peer", "name", &outer,
            ])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            ip(&["link", "set", &outer, "netns", &fab])?;
            ip(&["-n", &fab, "link", "set", &outer, "master", "br0", "up"])?;
            ip(&["-n", &ns, "link", "set", &inner, "name", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            for a in *ips {
                ip(&["-n", &ns, "addr", "add", &format!("{a}/24"), "dev", "eth0"])?;
            }
        }
        for k in 3..=9 {
            ip(&[
                "-n",
                &net.ns("client"),
                "addr",
                "add",
                &format!("10.77.0.{k}/24"),
                "dev",
                "eth0",
            ])?;
        }
        Ok(net)
    }

    /// Runs `cmd` inside `host`'s namespace.
    fn spawn(&self, host: &str, cmd: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(host)])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The path that names `host`'s namespace, for `enter` on another thread.
    fn path(&self, host: &str) -> String {
        format!("/var/run/netns/{}", self.ns(host))
    }
}

/// Moves the calling thread into the namespace at `path` (sockets it makes live there).
fn enter(path: &str) {
    let f = std::fs::File::open(path).unwrap();
    // SAFETY: setns on an open namespace fd; it changes this thread's namespace only.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

impl Drop for Net {
    fn drop(&mut self) {
        for host in HOSTS.iter().chain(&["fab"]) {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(host)])
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip (iproute2): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// A corio-proxy host process, its stderr kept.
struct Host {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Host {
    fn start(net: &Net, host: &str, args: &[&str]) -> Host {
        let mut child = net.spawn(host, &[&[BIN][..], args].concat());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (pipe, l) = (child.stderr.take().unwrap(), lines.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        let h = Host { child, lines };
        wait_for(Duration::from_secs(20), || {
            h.lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("listening on"))
                .then_some(())
        })
        .unwrap_or_else(|| panic!("{host} did not start: {:?}", h.lines.lock().unwrap()));
        h
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a child of ours that has not been reaped.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    fn wait_exit(&mut self) -> i32 {
        let status = wait_for(Duration::from_secs(20), || self.child.try_wait().unwrap())
            .unwrap_or_else(|| panic!("did not exit: {:?}", self.lines.lock().unwrap()));
        status.code().unwrap_or(-1)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The upstream in `up`: reads the PROXY v1 line, records the client it names, echoes.
fn upstream(net: &Net, seen: Arc<Mutex<Requests>>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let ns = net.path("up");
    std::thread::spawn(move || {
        enter(&ns);
        let l = TcpListener::bind("10.77.0.100:9000").unwrap();
        tx.send(()).unwrap();
        for conn in l.incoming() {
            let Ok(conn) = conn else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || serve_upstream(conn, &seen));
        }
    });
    rx.recv().unwrap();
}

fn serve_upstream(conn: TcpStream, seen: &Mutex<Requests>) {
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let f: Vec<&str> = line.trim_end().split(' ').collect();
    let mut payload = Vec::new();
    let mut w = conn;
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                payload.extend_from_slice(&buf[..n]);
                if w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = w.shutdown(Shutdown::Write);
    // Health checks from HAProxy (LOCAL, no payload) are not requests.
    if f.len() == 6 && !payload.is_empty() {
        let client = SocketAddr::new(f[2].parse().unwrap(), f[4].parse().unwrap());
        seen.lock().unwrap().push((client, payload));
    }
}

/// The load: two threads in `client`, each request from the next of eight addresses.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    sent: Arc<Mutex<Requests>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(net: &Net) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..2u8)
            .map(|t| {
                let (ns, stop, ok) = (net.path("client"), stop.clone(), ok.clone());
                let (failures, sent) = (failures.clone(), sent.clone());
                std::thread::spawn(move || {
                    enter(&ns);
                    let mut n = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        n += 1;
                        let src = IpAddr::V4(Ipv4Addr::new(10, 77, 0, 2 + (n % 8) as u8));
                        let msg = format!("{t}:{n:08}:{}", "x".repeat(53)).into_bytes();
                        match request(src, &msg) {
                            Ok(local) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                                sent.lock().unwrap().push((local, msg));
                            }
                            Err(e) => failures
                                .lock()
                                .unwrap()
                                .push(format!("request {t}/{n}: {e}")),
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failures,
            sent,
            threads,
        }
    }

    /// Waits until `more` further requests have succeeded.
    fn progress(&self, more: u64) {
        let target = self.ok.load(Ordering::Relaxed) + more;
        wait_for(Duration::from_secs(30), || {
            (self.ok.load(Ordering::Relaxed) >= target).then_some(())
        })
        .unwrap_or_else(|| panic!("the load stalled: {:?}", self.failures.lock().unwrap()));
    }

    fn stop(self) -> (u64, Vec<String>, Requests) {
        self.stop.store(true, Ordering::Release);
        for t in self.threads {
            t.join().unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        let sent = self.sent.lock().unwrap().clone();
        (self.ok.load(Ordering::Relaxed), failures, sent)
    }
}

/// One request: connect from `src`, 64 bytes, the echo, close. Returns the client address.
fn request(src: IpAddr, msg: &[u8]) -> std::io::Result<SocketAddr> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::new(src, 0).into())?;
    let lb: SocketAddr = "10.77.0.1:8000".parse().unwrap();
    s.connect_timeout(&lb.into(), Duration::from_secs(5))?;
    let mut s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let local = s.local_addr()?;
    s.write_all(msg)?;
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back)?;
    if back != msg {
        return Err(std::io::Error::other("wrong bytes came back"));
    }
    s.shutdown(Shutdown::Write)?;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)?;
    Ok(local)
}

/// One command on HAProxy's runtime API (its stats socket): how an operator takes a host
/// out of rotation before draining it, and puts it back.
fn haproxy_cmd(dir: &TempPath, cmd: &str) {
    let mut s = std::os::unix::net::UnixStream::connect(dir.0.join("haproxy.sock")).unwrap();
    writeln!(s, "{cmd}").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.trim().is_empty(), "haproxy: {cmd}: {answer}");
}

/// Client bytes a host has carried (its /metrics, read from inside its namespace).
fn bytes_up(net: &Net, host: &str, admin: &str) -> u64 {
    let (ns, admin) = (net.path(host), admin.parse().unwrap());
    std::thread::spawn(move || {
        enter(&ns);
        let (_, body) = support::http_get(admin, "/metrics");
        support::metric_value(&body, "corio_proxy_bytes_total", "client_to_upstream")
    })
    .join()
    .unwrap()
}

fn haproxy_config(dir: &TempPath) -> String {
    let path = dir.0.join("haproxy.cfg");
    let sock = dir.0.join("haproxy.sock");
    let cfg = format!("global\n  maxconn 4000\n  stats socket {} level admin\n", sock.display())
        + "\
        defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
        \x20 retries 3\n  option redispatch 1\n\
        frontend fe\n  bind 10.77.0.1:8000\n  default_backend hosts\n\
        backend hosts\n  balance roundrobin\n  default-server send-proxy-v2 check check-send-proxy inter 200ms fall 1 rise 2\n\
        \x20 server h1 10.77.0.11:8000\n  server h2 10.77.0.12:8000\n";
    std::fs::write(&path, cfg).unwrap();
    path.to_str().unwrap().to_string()
}

fn proxy_config(dir: &TempPath, host: &str, ip: &str) -> String {
    let path = dir.0.join(format!("{host}.toml"));
    let cfg = format!(
        "workers = 2\ndrain-timeout = \"10s\"\nadmin = \"{ip}:9100\"\n[[listener]]\nlisten = \"{ip}:8000\"\n\
         upstreams = [\"10.77.0.100:9000\"]\naccept-proxy = true\nsend-proxy = \"v1\"\n"
    );
    std::fs::write(&path, cfg).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_fleet_behind_haproxy_upgrades_and_drains_with_zero_failures() {
    if Command::new("haproxy").arg("-v").output().is_err() {
        println!("skipped: haproxy is not installed (.ci/run installs it)");
        return;
    }
    let net = match Net::make() {
        Ok(n) => n,
        Err(why) => {
            println!("skipped: cannot make network namespaces: {why}");
            return;
        }
    };
    let takeover = Command::new(BIN)
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--takeover"));
    let dir = TempPath::new("fleet");
    std::fs::create_dir_all(&dir.0).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    upstream(&net, seen.clone());
    let (c1, c2) = (
        proxy_config(&dir, "h1", "10.77.0.11"),
        proxy_config(&dir, "h2", "10.77.0.12"),
    );
    let control = dir.0.join("h1.control");
    let control = control.to_str().unwrap();
    let h1_args: Vec<&str> = if takeover {
        vec!["--config", &c1, "--control", control]
    } else {
        vec!["--config", &c1]
    };
    let mut h1 = Host::start(&net, "h1", &h1_args);
    let mut h2 = Host::start(&net, "h2", &["--config", &c2]);
    let mut lb = net.spawn("lb", &["haproxy", "-db", "-f", &haproxy_config(&dir)]);
    // Ready: HAProxy accepts, and its checks found both hosts up.
    let lb_ready = {
        let ns = net.path("client");
        std::thread::spawn(move || {
            enter(&ns);
            wait_for(Duration::from_secs(20), || {
                request("10.77.0.2".parse().unwrap(), b"ready?").ok()
            })
        })
        .join()
        .unwrap()
    };
    assert!(lb_ready.is_some(), "HAProxy did not start");
    wait_for(Duration::from_secs(20), || {
        (bytes_up(&net, "h1", "10.77.0.11:9100") > 0 && bytes_up(&net, "h2", "10.77.0.12:9100") > 0)
            .then_some(())
            .or_else(|| {
                let ns = net.path("client");
                let _ = std::thread::spawn(move || {
                    enter(&ns);
                    request("10.77.0.2".parse().unwrap(), b"ready?")
                })
                .join();
                None
            })
    })
    .expect("HAProxy sends clients to both hosts");
    let load = Load::start(&net);
    load.progress(200);
    // h1: upgraded by listener hand-over.
    if takeover {
        let mut new_h1 = Host::start(
            &net,
            "h1",
            &["--config", &c1, "--takeover", control, "--control", control],
        );
        assert_eq!(
            h1.wait_exit(),
            0,
            "the old h1: {:?}",
            h1.lines.lock().unwrap()
        );
        load.progress(200);
        std::mem::swap(&mut h1, &mut new_h1);
    } else {
        println!("not tested: the upgrade by listener hand-over (this build has no --takeover)");
    }
    // h2: taken out of rotation at the balancer, drained, brought back, put back.
    haproxy_cmd(&dir, "set server hosts/h2 state maint");
    h2.signal(libc::SIGTERM);
    assert_eq!(h2.wait_exit(), 0, "h2: {:?}", h2.lines.lock().unwrap());
    load.progress(200);
    let h2_back = Host::start(&net, "h2", &["--config", &c2]);
    haproxy_cmd(&dir, "set server hosts/h2 state ready");
    // HAProxy's checks (200 ms apart, rise 2) see it up; then it takes clients again.
    load.progress(400);
    let served = bytes_up(&net, "h2", "10.77.0.12:9100");
    assert!(served > 0, "h2 took no client after it came back");
    let (ok, failures, sent) = load.stop();
    let _ = lb.kill();
    let _ = lb.wait();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        ok + failures.len() as u64,
        &failures[..failures.len().min(5)]
    );
    // Every request reached the upstream with its client's real address and port.
    let seen = seen.lock().unwrap().clone();
    let by_client: std::collections::HashMap<SocketAddr, Vec<u8>> = seen.into_iter().collect();
    for (client, msg) in &sent {
        assert_eq!(
            by_client.get(client),
            Some(msg),
            "{client}: its request did not arrive as itself"
        );
    }
    println!(
        "fleet: {ok} requests, 0 failures, every client address seen; h2 served {served} bytes after it came back"
    );
    drop(h2_back);
    drop(h1);
}
