//! The proxies the proxy workload drives, and how each is started the same way: one process
//! (one worker, one thread, no master), pinned alone to the proxy core (under the run's
//! syscall-cost filter), listening on a free loopback port and forwarding to the echo
//! upstream. Every proxy is a child of this process, stopped by its pid (SIGTERM, then
//! SIGKILL) before it is reaped.

use crate::child::{self, Placement};
use crate::results::Model;
use crate::sys;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a proxy may take to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a proxy may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// corio-proxy with this `--driver` and `--copy`.
    Corio {
        driver: &'static str,
        copy: &'static str,
    },
    Haproxy,
    Nginx,
    /// `corio-bench tokio-proxy`: tokio current_thread, copy_bidirectional.
    Tokio,
}

/// One proxy the workload can drive.
#[derive(Debug, PartialEq, Eq)]
pub struct ProxySpec {
    pub name: &'static str,
    pub model: Model,
    pub about: &'static str,
    kind: Kind,
}

const fn corio(
    name: &'static str,
    (driver, model): (&'static str, Model),
    copy: &'static str,
    about: &'static str,
) -> ProxySpec {
    ProxySpec {
        name,
        model,
        about,
        kind: Kind::Corio { driver, copy },
    }
}

const URING: (&str, Model) = ("uring", Model::Completion);
const EPOLL: (&str, Model) = ("epoll", Model::Readiness);

/// Every proxy, in table order.
pub static PROXIES: &[ProxySpec] = &[
    corio(
        "corio-uring",
        URING,
        "buffered",
        "corio-proxy --workers 1 on io_uring, buffered copy",
    ),
    corio(
        "corio-epoll",
        EPOLL,
        "buffered",
        "corio-proxy --workers 1 on epoll, buffered copy",
    ),
    corio(
        "corio-uring-splice",
        URING,
        "splice",
        "corio-proxy on io_uring, --copy splice (bulk only)",
    ),
    corio(
        "corio-epoll-splice",
        EPOLL,
        "splice",
        "corio-proxy on epoll, --copy splice (bulk only)",
    ),
    ProxySpec {
        name: "haproxy",
        model: Model::Readiness,
        about: "HAProxy (Debian's), mode tcp, nbthread 1, -db",
        kind: Kind::Haproxy,
    },
    ProxySpec {
        name: "nginx",
        model: Model::Readiness,
        about: "nginx's stream module (Debian's), one worker, master_process off, \
                proxy_half_close on",
        kind: Kind::Nginx,
    },
    ProxySpec {
        name: "tokio",
        model: Model::Readiness,
        about: "a tokio current_thread proxy, copy_bidirectional per pair (corio-bench \
                tokio-proxy)",
        kind: Kind::Tokio,
    },
];

/// The proxy of that name.
pub fn find(name: &str) -> Option<&'static ProxySpec> {
    PROXIES.iter().find(|p| p.name == name)
}

const HAPROXY: &[&str] = &["/usr/sbin/haproxy", "/usr/bin/haproxy"];
const NGINX: &[&str] = &["/usr/sbin/nginx", "/usr/bin/nginx"];
const NGINX_STREAM: &[&str] = &[
    "/usr/lib/nginx/modules/ngx_stream_module.so",
    "/usr/share/nginx/modules/ngx_stream_module.so",
];

fn first_existing(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.exists())
}

/// The corio-proxy binary beside this one (both are built into the same target folder).
fn corio_proxy_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.join("corio-proxy");
    bin.exists().then_some(bin)
}

/// A release corio-bench run by `cargo run` may not have built corio-proxy: build it once
/// (cargo is what ran us). Debug builds (the tests) only look.
pub fn ensure_corio_proxy() -> Result<PathBuf, String> {
    if let Some(bin) = corio_proxy_bin() {
        return Ok(bin);
    }
    let release = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.file_name()? == "release"))
        .unwrap_or(false);
    if !release {
        return Err(
            "corio-proxy is not built beside corio-bench (cargo build -p corio-proxy)".into(),
        );
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("corio-bench proxy: building corio-proxy (cargo build --release -p corio-proxy)");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "corio-proxy"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("running cargo to build corio-proxy: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --release -p corio-proxy: {status}"));
    }
    corio_proxy_bin().ok_or_else(|| "corio-proxy was built but is not beside corio-bench".into())
}

impl ProxySpec {
    /// Whether the proxy moves bytes through a pipe (splice): it runs the bulk case only.
    pub fn splice(&self) -> bool {
        matches!(self.kind, Kind::Corio { copy: "splice", .. })
    }

    /// Err(why) where this machine cannot run it.
    pub fn available(&self) -> Result<(), String> {
        match self.kind {
            Kind::Corio { .. } => ensure_corio_proxy().map(|_| ()),
            Kind::Haproxy => first_existing(HAPROXY)
                .map(|_| ())
                .ok_or_else(|| "haproxy is not installed (apt-get install haproxy)".into()),
            Kind::Nginx => match (first_existing(NGINX), first_existing(NGINX_STREAM)) {
                (Some(_), Some(_)) => Ok(()),
                (None, _) => Err("nginx is not installed (apt-get install nginx)".into()),
                (Some(_), None) => Err(
                    "nginx's stream module is not installed (apt-get install libnginx-mod-stream)"
                        .into(),
                ),
            },
            Kind::Tokio => Ok(()),
        }
    }

    /// The command that runs this proxy on `listen`, forwarding to `upstream`; config files
    /// (haproxy, nginx) are written into `dir`.
    fn command(
        &self,
        listen: SocketAddr,
        upstream: SocketAddr,
        dir: &Path,
    ) -> Result<Command, String> {
        let write = |name: &str, text: String| -> Result<PathBuf, String> {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
            Ok(path)
        };
        let (l, u) = (listen.to_string(), upstream.to_string());
        let cmd = match self.kind {
            Kind::Corio { driver, copy } => {
                let mut cmd = Command::new(ensure_corio_proxy()?);
                cmd.args(["--listen", &l, "--upstream", &u, "--workers", "1"])
                    .args(["--driver", driver, "--copy", copy, "--drain-timeout", "1s"]);
                cmd
            }
            Kind::Haproxy => {
                let conf = write("haproxy.cfg", haproxy_config(listen, upstream))?;
                let mut cmd = Command::new(first_existing(HAPROXY).ok_or("haproxy is gone")?);
                cmd.arg("-db").arg("-f").arg(conf);
                cmd
            }
            Kind::Nginx => {
                let module = first_existing(NGINX_STREAM).ok_or("nginx's stream module is gone")?;
                let conf = write("nginx.conf", nginx_config(listen, upstream, dir, &module))?;
                let mut cmd = Command::new(first_existing(NGINX).ok_or("nginx is gone")?);
                cmd.arg("-p").arg(dir).arg("-c").arg(conf);
                cmd.arg("-e").arg(dir.join("error.log"));
                cmd
            }
            Kind::Tokio => {
                let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
                let mut cmd = Command::new(exe);
                cmd.args(["tokio-proxy", "--listen", &l, "--upstream", &u]);
                cmd
            }
        };
        Ok(cmd)
    }

    /// Starts the proxy placed at `at` on a free port and waits (bounded) until it accepts.
    pub fn start(
        &self,
        upstream: SocketAddr,
        at: &Placement,
        dir: &Path,
    ) -> Result<Running, String> {
        let mut last = String::new();
        // A port found free can be taken before the proxy binds it: retry on a new one.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("finding a free port: {e}"))?
                .port();
            let listen: SocketAddr = ([127, 0, 0, 1], port).into();
            let mut cmd = self.command(listen, upstream, dir)?;
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            child::confine(&mut cmd, at, libc::SIGKILL);
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("spawning {}: {e}", self.name))?;
            let stderr = child.stderr.take().map(child::drain);
            let mut running = Running {
                name: self.name,
                child,
                reaped: false,
                addr: listen,
                stderr,
            };
            match running.wait_accepting(dir) {
                Ok(()) => return Ok(running),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// HAProxy's maxconn: as many as the fd limit allows (it needs two fds per connection and
/// refuses to start if it cannot have them), at most 25,000.
fn haproxy_maxconn() -> u64 {
    (sys::fd_limit().saturating_sub(150) / 2).min(25_000)
}

fn haproxy_config(listen: SocketAddr, upstream: SocketAddr) -> String {
    let m = haproxy_maxconn();
    format!(
        "global\n  nbthread 1\n  maxconn {m}\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 5m\n  timeout server 5m\n\
         \x20 maxconn {m}\n\
         listen proxy\n  bind {listen}\n  server upstream {upstream}\n"
    )
}

fn nginx_config(listen: SocketAddr, upstream: SocketAddr, dir: &Path, module: &Path) -> String {
    let (d, m, n) = (dir.display(), module.display(), sys::fd_limit());
    format!(
        "load_module {m};\ndaemon off;\nmaster_process off;\nworker_processes 1;\n\
         worker_rlimit_nofile {n};\npid {d}/nginx.pid;\nerror_log {d}/error.log error;\n\
         events {{ worker_connections 25000; }}\n\
         stream {{\n  server {{\n    listen {listen};\n    proxy_pass {upstream};\n    proxy_half_close on;\n  }}\n}}\n"
    )
}

/// A running proxy.
pub struct Running {
    pub name: &'static str,
    child: Child,
    reaped: bool,
    pub addr: SocketAddr,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    fn wait_accepting(&mut self, dir: &Path) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.reaped = true;
                let mut err = self
                    .stderr
                    .take()
                    .and_then(|h| h.join().ok())
                    .unwrap_or_default();
                if let Ok(log) = std::fs::read_to_string(dir.join("error.log")) {
                    err.push_str(log.trim());
                }
                return Err(format!("{} exited at start ({status}): {err}", self.name));
            }
            // Connected, and to our proxy: a port picked free can be taken by another
            // program before the proxy binds it (the proxy then fails, and is retried).
            if std::net::TcpStream::connect(self.addr).is_ok()
                && sys::listens_on(self.pid(), self.addr.port())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not accept within {START_TIMEOUT:?}",
                    self.name
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory (VmRSS), KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        sys::rss_kib(self.pid())
    }

    /// SIGTERM, then SIGKILL after `STOP_TIMEOUT`. A complaint if it had to be killed or had
    /// exited early. Idempotent.
    pub fn stop(&mut self) -> Option<String> {
        if self.reaped {
            return None;
        }
        if let Ok(Some(status)) = self.child.try_wait() {
            self.reaped = true;
            return Some(format!("{} exited during the run ({status})", self.name));
        }
        // SAFETY: kill(2) on the pid of our own child, not reaped yet (try_wait above), so
        // the pid cannot have been reused.
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let complaint = loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break None,
                _ if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break Some(format!("{} ignored SIGTERM; killed", self.name));
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        self.reaped = true;
        complaint
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}
