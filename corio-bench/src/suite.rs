//! The default suite: every server under every workload, one process per server run, the
//! server pinned to one core and the load generator (this process) to another.

use crate::load::{self, LoadConfig, LoadResult, Mode};
use crate::report;
use crate::servers::ServerKind;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One workload.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub mode: Mode,
    pub conns: usize,
    pub size: usize,
    pub depth: usize,
}

impl Case {
    fn new(name: &str, mode: Mode, conns: usize, size: usize, depth: usize) -> Case {
        Case {
            name: name.into(),
            mode,
            conns,
            size,
            depth,
        }
    }
}

pub fn default_cases() -> Vec<Case> {
    vec![
        Case::new("pingpong c=1", Mode::PingPong, 1, 64, 1),
        Case::new("pingpong c=50", Mode::PingPong, 50, 64, 1),
        Case::new("pingpong c=500", Mode::PingPong, 500, 64, 1),
        Case::new("pipelined c=50 d=16", Mode::PingPong, 50, 64, 16),
        Case::new("churn c=8", Mode::Churn, 8, 64, 1),
        Case::new("rate 20k/s c=50", Mode::Rate(20_000.0), 50, 64, 1),
        Case::new("bulk c=1 16KiB", Mode::Bulk, 1, 16 * 1024, 1),
    ]
}

/// What the server reported about itself (a SIGUSR1 snapshot).
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerSnap {
    pub cpu_us: u64,
    pub enters: Option<u64>,
    pub epoll_waits: Option<u64>,
    pub io_syscalls: Option<u64>,
    pub ops_submitted: Option<u64>,
    pub completions: Option<u64>,
}

impl ServerSnap {
    fn parse(line: &str) -> Option<ServerSnap> {
        let field = |name: &str| -> Option<Option<u64>> {
            let key = format!("\"{name}\":");
            let rest = &line[line.find(&key)? + key.len()..];
            let v = rest.split([',', '}']).next()?.trim();
            Some(if v == "null" {
                None
            } else {
                Some(v.parse().ok()?)
            })
        };
        Some(ServerSnap {
            cpu_us: field("cpu_us")??,
            enters: field("enters")?,
            epoll_waits: field("epoll_waits")?,
            io_syscalls: field("io_syscalls")?,
            ops_submitted: field("ops_submitted")?,
            completions: field("completions")?,
        })
    }

    /// `self - before`, field by field.
    fn since(&self, before: &ServerSnap) -> ServerSnap {
        let d = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        ServerSnap {
            cpu_us: self.cpu_us.saturating_sub(before.cpu_us),
            enters: d(self.enters, before.enters),
            epoll_waits: d(self.epoll_waits, before.epoll_waits),
            io_syscalls: d(self.io_syscalls, before.io_syscalls),
            ops_submitted: d(self.ops_submitted, before.ops_submitted),
            completions: d(self.completions, before.completions),
        }
    }
}

/// One (case, server) measurement.
#[derive(Debug, Clone)]
pub struct Row {
    pub case: Case,
    pub server: ServerKind,
    pub load: Option<LoadResult>,
    /// Server figures over the measured window.
    pub server_window: Option<ServerSnap>,
    pub error: Option<String>,
}

impl Row {
    pub fn cpu_us_per_req(&self) -> Option<f64> {
        let (l, s) = (self.load.as_ref()?, self.server_window?);
        (l.requests > 0).then(|| s.cpu_us as f64 / l.requests as f64)
    }

    /// Driver syscalls per request: io_uring_enter calls on completion servers; epoll_wait plus
    /// I/O syscalls on readiness servers. None where the server cannot count them.
    pub fn syscalls_per_req(&self) -> Option<f64> {
        let (l, s) = (self.load.as_ref()?, self.server_window?);
        if l.requests == 0 {
            return None;
        }
        let n = match self.server {
            ServerKind::CorioUring | ServerKind::RawUring => s.enters?,
            ServerKind::CorioEpoll | ServerKind::RawEpoll => s.epoll_waits? + s.io_syscalls?,
            _ => return None,
        };
        Some(n as f64 / l.requests as f64)
    }
}

pub struct Options {
    pub secs: f64,
    pub warmup: f64,
    pub servers: Vec<ServerKind>,
    pub cases: Vec<Case>,
    pub out: Option<std::path::PathBuf>,
    pub pin: Option<(usize, usize)>,
    pub command: String,
}

pub fn suite_cmd(args: &[String]) -> i32 {
    let mut opts = Options {
        secs: 1.0,
        warmup: 0.25,
        servers: ServerKind::ALL.to_vec(),
        cases: default_cases(),
        out: None,
        pin: None,
        command: std::iter::once("corio-bench".to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" "),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--quick" => {
                opts.secs = 0.2;
                opts.warmup = 0.05;
            }
            "--secs" | "--servers" | "--out" | "--cases" => {
                let Some(v) = it.next() else {
                    return crate::usage_error(&format!("{flag} needs a value"));
                };
                match flag.as_str() {
                    "--secs" => match v.parse::<f64>() {
                        Ok(s) if s > 0.0 && s <= 600.0 => opts.secs = s,
                        _ => {
                            return crate::usage_error(&format!("--secs {v:?}: expected (0, 600]"))
                        }
                    },
                    "--servers" => {
                        let mut list = Vec::new();
                        for name in v.split(',') {
                            match ServerKind::parse(name) {
                                Some(k) => list.push(k),
                                None => {
                                    return crate::usage_error(&format!("unknown server {name:?}"))
                                }
                            }
                        }
                        opts.servers = list;
                    }
                    "--cases" => {
                        let all = default_cases();
                        let picked: Vec<Case> = all
                            .into_iter()
                            .filter(|c| v.split(',').any(|w| c.name.starts_with(w)))
                            .collect();
                        if picked.is_empty() {
                            return crate::usage_error(&format!("--cases {v:?} matches no case"));
                        }
                        opts.cases = picked;
                    }
                    _ => opts.out = Some(v.into()),
                }
            }
            _ => return crate::usage_error(&format!("unknown argument {flag:?}")),
        }
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if cpus >= 2 {
        opts.pin = Some((0, 1));
        pin_current_thread(1);
    }
    let rows = run_suite(&opts);
    match report::write(&opts, &rows) {
        Ok(dir) => {
            eprintln!("report written to {}", dir.display());
            0
        }
        Err(e) => {
            eprintln!("corio-bench: writing the report: {e}");
            1
        }
    }
}

fn pin_current_thread(core: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it; sched_setaffinity(0, ...)
    // applies to the calling thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

pub fn run_suite(opts: &Options) -> Vec<Row> {
    let total = opts.cases.len() * opts.servers.len();
    let per_run = opts.secs + opts.warmup + 0.3;
    let mut rows = Vec::new();
    let mut n = 0;
    for case in &opts.cases {
        for &server in &opts.servers {
            n += 1;
            let left = (total - n + 1) as f64 * per_run;
            eprintln!(
                "[case {n}/{total}] {} · {} · ~{:.0} s left",
                case.name,
                server.name(),
                left
            );
            rows.push(run_one(case, server, opts));
        }
    }
    rows
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `corio-bench serve echo --server NAME` on a free port, pinned to the server core.
fn start_server(server: ServerKind, pin: Option<usize>) -> Result<(Child, u16), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut last = String::new();
    // A port found free can be taken before the child binds it: try a few.
    for _ in 0..5 {
        let port = free_port().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&exe);
        cmd.args(["serve", "echo", "--server", server.name(), "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(core) = pin {
            // SAFETY: between fork and exec only async-signal-safe calls are allowed;
            // sched_setaffinity is a plain syscall on stack data.
            unsafe {
                cmd.pre_exec(move || {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(core, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawn server: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                last = format!("server exited ({status}): {}", err.trim());
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok((child, port));
            }
            if Instant::now() > deadline {
                stop(&mut child);
                return Err("server did not accept connections within 5 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Err(last)
}

/// SIGTERM, then SIGKILL after 2 s; only ever our own child.
fn stop(child: &mut Child) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Asks the server for a snapshot and reads it (bounded by the caller's process lifetime).
fn snapshot(pid: u32, out: &mut BufReader<ChildStdout>) -> Option<ServerSnap> {
    // Give corio workers time to publish their counters (every 20 ms), so both snapshots lag
    // the signal equally.
    std::thread::sleep(Duration::from_millis(25));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    let mut line = String::new();
    out.read_line(&mut line).ok()?;
    ServerSnap::parse(&line)
}

fn run_one(case: &Case, server: ServerKind, opts: &Options) -> Row {
    let mut row = Row {
        case: case.clone(),
        server,
        load: None,
        server_window: None,
        error: None,
    };
    let (mut child, port) = match start_server(server, opts.pin.map(|p| p.0)) {
        Ok(x) => x,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    let cfg = LoadConfig {
        addr: ([127, 0, 0, 1], port).into(),
        conns: case.conns,
        size: case.size,
        depth: case.depth,
        secs: opts.secs,
        warmup: opts.warmup,
        mode: case.mode,
        driver: corio::Driver::IoUring,
    };
    let pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let (tx, rx) = mpsc::channel::<Instant>();
    let (warmup, secs) = (opts.warmup, opts.secs);
    let snaps = std::thread::spawn(move || {
        let t0 = rx.recv().ok()?;
        let start = t0 + Duration::from_secs_f64(warmup);
        std::thread::sleep(start.saturating_duration_since(Instant::now()));
        let a = snapshot(pid, &mut stdout)?;
        let end = start + Duration::from_secs_f64(secs);
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        let b = snapshot(pid, &mut stdout)?;
        Some(b.since(&a))
    });
    match load::run(&cfg, Some(tx)) {
        Ok(r) => row.load = Some(r),
        Err(e) => row.error = Some(e.to_string()),
    }
    row.server_window = snaps.join().ok().flatten();
    stop(&mut child);
    if row.error.is_none() && row.server_window.is_none() {
        row.error = Some("no server snapshot".into());
    }
    row
}
