//! One measurement: a server under callgrind on one CPU, the load on another, and the counted
//! span between two vgdb commands. Every wait is bounded; the only process ever signalled is
//! the server child this module started (by its pid, before it is reaped).

use super::callgrind::{self, Tools};
use super::tcp;
use super::Case;
use crate::load::{self, LoadConfig, LoadResult, Mode};
use serde::Serialize;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a server under valgrind may take to listen.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long the load may take to open its connections.
const CONNECT_LIMIT: Duration = Duration::from_secs(60);
/// The load's window runs this much past the dump, so the counted span lies inside it (no
/// connection closes in it).
const TAIL: Duration = Duration::from_millis(500);
/// Runs per server and case until one is clean.
const ATTEMPTS: usize = 3;
/// Bytes per request, each way.
const REQUEST: usize = 64;
/// The functions a profile lists, per kind.
const PROFILE_TOP: usize = 40;

/// One server on one case.
#[derive(Debug, Clone, Serialize)]
pub struct InstrRow {
    pub server: String,
    pub case: String,
    /// User-space instructions counted in the span (all the server's threads).
    pub instructions: Option<u64>,
    /// Requests answered in the span: the bytes the load's connections received from the
    /// server meanwhile (TCP_INFO), over the request size.
    pub requests: Option<u64>,
    /// `instructions / requests`.
    pub per_request: Option<f64>,
    /// The counted span, seconds.
    pub span_secs: Option<f64>,
    /// Connections the load lost (reset, stalled for 3 s): nonzero makes the figure doubtful.
    pub load_errors: Option<u64>,
    /// Why there is no figure.
    pub error: Option<String>,
}

/// What every run shares.
pub struct Plan {
    tools: Tools,
    pub servers: Vec<&'static str>,
    pub cases: Vec<Case>,
    secs: f64,
    warmup: f64,
    profile: Option<PathBuf>,
    /// The server's CPU and the load's (None: fewer than two CPUs; nothing is pinned).
    cpus: Option<(usize, usize)>,
    load_driver: corio::DriverChoice,
    /// Where the runs' files go (removed at the end unless it is the profile folder).
    dir: PathBuf,
    pub notes: Vec<String>,
}

impl Plan {
    pub fn new(
        tools: Tools,
        servers: Vec<&'static str>,
        cases: Vec<Case>,
        secs: f64,
        warmup: f64,
        profile: Option<PathBuf>,
    ) -> Result<Plan, String> {
        let mut notes = Vec::new();
        let cpus = crate::sys::allowed_cpus();
        let cpus = match cpus[..] {
            [a, b, ..] => Some((a, b)),
            _ => {
                notes.push("fewer than two CPUs: server and load are not pinned".into());
                None
            }
        };
        let (servers, load_driver) = uring_or_not(servers, &mut notes)?;
        if profile.is_some() && tools.annotate.is_none() {
            return Err("--profile needs callgrind_annotate (part of valgrind) on PATH".into());
        }
        let dir = match &profile {
            Some(p) => p.clone(),
            None => std::env::temp_dir().join(format!("corio-bench-instr-{}", std::process::id())),
        };
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Plan {
            tools,
            servers,
            cases,
            secs,
            warmup,
            profile,
            cpus,
            load_driver,
            dir,
            notes,
        })
    }

    /// Every server on every case, in order; progress on stderr.
    pub fn run_all(&self) -> Vec<InstrRow> {
        crate::sys::raise_fd_limit();
        let mut rows = Vec::new();
        for &server in &self.servers {
            for &case in &self.cases {
                eprint!("corio-bench instr: {server}, {} ... ", case.name());
                let mut row = self.measure(server, case);
                for _ in 1..ATTEMPTS {
                    if row.per_request.is_some() && row.load_errors == Some(0) {
                        break;
                    }
                    // Again: now and then a server under valgrind stalls for seconds (seen on
                    // a busy machine), and the load loses its connections.
                    eprint!(
                        "again ({}) ... ",
                        row.error.as_deref().unwrap_or("connections lost")
                    );
                    row = self.measure(server, case);
                }
                match (&row.per_request, &row.error) {
                    (Some(v), _) => eprintln!("{v:.1} instructions/request"),
                    (None, Some(e)) => eprintln!("failed: {e}"),
                    (None, None) => eprintln!("no figure"),
                }
                rows.push(row);
            }
        }
        if self.profile.is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        rows
    }

    fn measure(&self, server: &str, case: Case) -> InstrRow {
        let mut row = InstrRow {
            server: server.to_string(),
            case: case.name().to_string(),
            instructions: None,
            requests: None,
            per_request: None,
            span_secs: None,
            load_errors: None,
            error: None,
        };
        let stem = format!("{server}-{}", case.slug());
        match self.count(server, case, &stem) {
            Ok(c) => {
                let requests = c.bytes / REQUEST as u64;
                row.instructions = Some(c.instructions);
                row.requests = Some(requests);
                row.span_secs = Some(c.span);
                row.load_errors = Some(c.load.errors + c.load.corrupt);
                if requests > 0 {
                    row.per_request = Some(c.instructions as f64 / requests as f64);
                } else {
                    row.error = Some("the load completed no request in the span".into());
                }
                if let (Some(tool), Some(dir)) = (&self.tools.annotate, &self.profile) {
                    let n = requests.max(1) as f64;
                    let text = callgrind::profile(tool, &c.dump, n, PROFILE_TOP);
                    let text = text.unwrap_or_else(|e| e);
                    let path = dir.join(format!("{stem}.txt"));
                    if let Err(e) = std::fs::write(&path, text) {
                        row.error = Some(format!("writing {}: {e}", path.display()));
                    }
                }
            }
            Err(e) => row.error = Some(e),
        }
        row
    }

    /// Starts the server under callgrind, runs the load, counts; the server is always stopped.
    fn count(&self, server: &str, case: Case, stem: &str) -> Result<Counted, String> {
        let out = self.dir.join(format!("{stem}.out"));
        let prefix = self.dir.join(format!("{stem}.vgdb"));
        let profile = self.profile.is_some();
        let mut child = Valgrind::start(&self.tools, server, &out, &prefix, self.cpus, profile)?;
        let res = self.drive(&mut child, case);
        child.stop(&self.tools);
        let (load, (span, bytes)) = res?;
        // The dump made by the `dump` command is the file's first part.
        let part = PathBuf::from(format!("{}.1", out.display()));
        let instructions = callgrind::total(&part)?;
        let dump = if self.profile.is_some() {
            let kept = self.dir.join(format!("{stem}.callgrind"));
            std::fs::rename(&part, &kept).map_err(|e| format!("keeping the dump: {e}"))?;
            kept
        } else {
            part
        };
        let _ = std::fs::remove_file(&out);
        Ok(Counted {
            instructions,
            load,
            span,
            bytes,
            dump,
        })
    }

    /// The load on its CPU, and the vgdb commands on its timeline: instrumentation on half-way
    /// through the warm-up, zero when the window opens, dump `secs` later.
    fn drive(&self, server: &mut Valgrind, case: Case) -> Result<(LoadResult, (f64, u64)), String> {
        let cfg = LoadConfig {
            addr: server.addr,
            conns: case.conns(),
            size: REQUEST,
            depth: case.depth(),
            secs: self.secs + TAIL.as_secs_f64(),
            warmup: self.warmup,
            mode: Mode::PingPong,
            driver: self.load_driver,
        };
        let (t0_tx, t0_rx) = mpsc::channel();
        let load_cpu = self.cpus.map(|(_, l)| l);
        let load = std::thread::spawn(move || {
            if let Some(cpu) = load_cpu {
                let _ = crate::sys::pin_current_thread(&[cpu]);
            }
            load::run(&cfg, Some(t0_tx)).map_err(|e| format!("load: {e}"))
        });
        let timeline = t0_rx
            .recv_timeout(CONNECT_LIMIT)
            .map_err(|_| "the load could not open its connections".to_string())
            .and_then(|t0| self.timeline(server, t0));
        // The load ends by itself shortly after its window.
        let load = load
            .join()
            .map_err(|_| "the load thread panicked".to_string())??;
        let span = timeline?;
        Ok((load, span))
    }

    /// The vgdb commands; returns the counted span in seconds and the bytes the load received
    /// in it (each sampled the moment its command returned).
    fn timeline(&self, server: &Valgrind, t0: Instant) -> Result<(f64, u64), String> {
        let warmup = Duration::from_secs_f64(self.warmup);
        let at =
            |d: Duration| std::thread::sleep((t0 + d).saturating_duration_since(Instant::now()));
        at(warmup / 2);
        self.command(server, "instrumentation on")?;
        at(warmup);
        let zeroed = self.command(server, "zero")?;
        let before = tcp::bytes_from(server.addr);
        at(warmup + Duration::from_secs_f64(self.secs));
        let dumped = self.command(server, "dump")?;
        let after = tcp::bytes_from(server.addr);
        let window_end = t0 + warmup + Duration::from_secs_f64(self.secs) + TAIL;
        if dumped > window_end {
            return Err("the dump came after the load's window ended (vgdb was slow)".into());
        }
        Ok((
            (dumped - zeroed).as_secs_f64(),
            after.saturating_sub(before),
        ))
    }

    fn command(&self, server: &Valgrind, command: &str) -> Result<Instant, String> {
        self.tools.vgdb(&server.prefix, server.child.id(), command)
    }
}

/// What one run counted.
struct Counted {
    instructions: u64,
    load: LoadResult,
    span: f64,
    bytes: u64,
    dump: PathBuf,
}

/// Where io_uring is refused, only the servers that do not need it, and the load on epoll.
fn uring_or_not(
    servers: Vec<&'static str>,
    notes: &mut Vec<String>,
) -> Result<(Vec<&'static str>, corio::DriverChoice), String> {
    let rt = corio::Runtime::builder()
        .driver(corio::DriverChoice::Auto)
        .build()
        .map_err(|e| format!("starting a runtime: {e}"))?;
    let info = rt.driver_info();
    if info.kind == corio::DriverKind::IoUring {
        return Ok((servers, corio::DriverChoice::IoUring));
    }
    let needs = |s: &&str| crate::servers::find(s).is_some_and(|spec| spec.needs_uring);
    let (skipped, kept): (Vec<&str>, Vec<&str>) = servers.into_iter().partition(needs);
    if kept.is_empty() {
        return Err(format!(
            "io_uring is refused here ({}) and every server asked for needs it",
            info.reason
        ));
    }
    notes.push(format!(
        "io_uring is refused here ({}): skipped {}; the load ran on epoll",
        info.reason,
        skipped.join(", ")
    ));
    Ok((kept, corio::DriverChoice::Epoll))
}

/// `corio-bench serve echo --server NAME` under callgrind.
struct Valgrind {
    child: Child,
    addr: SocketAddr,
    prefix: PathBuf,
}

impl Valgrind {
    /// Starts the server on a free port and waits until it accepts connections. The port is
    /// probed with a connect rather than read from the server's "listening on" line: valgrind
    /// 3.19 keeps its thread lock across io_uring_enter, so the line may wait for a long time
    /// while the server's worker sits in the ring, accepting all the same.
    fn start(
        tools: &Tools,
        server: &str,
        out: &Path,
        prefix: &Path,
        cpus: Option<(usize, usize)>,
        profile: bool,
    ) -> Result<Valgrind, String> {
        let mut last = String::new();
        // A port found free can be taken by someone else before the server binds it: retry.
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("finding a free port: {e}"))?
                .port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let child = Valgrind::spawn(tools, server, addr, out, prefix, cpus, profile)?;
            let mut server = Valgrind {
                child,
                addr,
                prefix: prefix.to_path_buf(),
            };
            match server.wait_accepting(out) {
                Ok(()) => return Ok(server),
                Err(e) => {
                    server.stop(tools);
                    last = e;
                }
            }
        }
        Err(last)
    }

    fn spawn(
        tools: &Tools,
        server: &str,
        addr: SocketAddr,
        out: &Path,
        prefix: &Path,
        cpus: Option<(usize, usize)>,
        profile: bool,
    ) -> Result<Child, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut cmd = Command::new(&tools.valgrind);
        cmd.arg("--tool=callgrind")
            .arg("--instr-atstart=no")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(format!("--vgdb-prefix={}", prefix.display()))
            .arg(format!("--log-file={}", log_of(out).display()))
            // A profile keeps costs per instruction too, for reading beside a disassembly.
            .arg(format!(
                "--dump-instr={}",
                if profile { "yes" } else { "no" }
            ))
            .arg(exe)
            .args(["serve", "echo", "--server", server])
            .arg(format!("--addr={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(err_of(out)).map_err(
                |e| format!("creating the server's stderr file: {e}"),
            )?));
        let server_cpu = cpus.map(|(s, _)| s);
        // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
        // syscalls (prctl, sched_setaffinity) on stack data.
        unsafe {
            cmd.pre_exec(move || {
                // If this process dies, the server goes with it.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                match server_cpu {
                    Some(cpu) => crate::sys::pin_current_thread(&[cpu]),
                    None => Ok(()),
                }
            });
        }
        cmd.spawn().map_err(|e| format!("starting valgrind: {e}"))
    }

    /// Until a connect succeeds; Err (with the end of its stderr) if the server exits first
    /// or takes longer than `START_LIMIT`.
    fn wait_accepting(&mut self, out: &Path) -> Result<(), String> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let err = std::fs::read_to_string(err_of(out)).unwrap_or_default();
                let tail: Vec<&str> = err.lines().rev().take(3).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(format!(
                    "the server exited at start ({status}): {}",
                    tail.join(" / ")
                ));
            }
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the server did not listen within {START_LIMIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asks valgrind to end the process (`v.kill`: it cleans up its FIFOs), then SIGKILL;
    /// reaps it either way.
    fn stop(&mut self, tools: &Tools) {
        if let Ok(None) = self.child.try_wait() {
            let _ = tools.vgdb(&self.prefix, self.child.id(), "v.kill");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Our own child, not reaped yet (try_wait above saw it running).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where valgrind's own messages go.
fn log_of(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.log", out.display()))
}

/// Where the server's stderr goes.
fn err_of(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.stderr", out.display()))
}
