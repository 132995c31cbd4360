//! The parent's side of the processes a run starts: a `corio-bench serve SERVICE` child,
//! pinned to its cores and under its syscall-cost filter, started on a free port, sampled, and
//! stopped ([`Server`]); a `corio-bench file-read` or `syscall-probe` child run to its end
//! ([`run_pinned`]); and the pinning and filtering any other child (a proxy) gets
//! ([`confine`]). Every wait here is bounded, and the only process ever signalled is a child
//! this module spawned (by its pid, before it is reaped). Its pipes are read by `pipe.rs`.

mod pipe;

use crate::results::ServerFigures;
use crate::seccomp::Filter;
use crate::serve::StatsLine;
use crate::servers::contract::{ServerSpec, Syscalls};
use crate::sys;
pub use pipe::drain;
use pipe::drain_watching;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a server may take to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a server may take to answer SIGUSR1 with its stats line.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where and how a child runs: the cores it is pinned to (none: unpinned) and the seccomp
/// filter of its syscall-cost level (none: no filter).
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub cores: Vec<usize>,
    pub filter: Option<Filter>,
}

/// Makes `cmd`'s child die with this process (`death`: the signal it gets), run on `at.cores`
/// and under `at.filter`, all set between fork and exec.
pub fn confine(cmd: &mut Command, at: &Placement, death: i32) {
    let Placement { cores, filter } = at.clone();
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // syscalls (prctl, sched_setaffinity, seccomp's prctl) on memory it owns.
    unsafe {
        cmd.pre_exec(move || {
            // If this process dies (killed, crashed), the child goes with it.
            libc::prctl(libc::PR_SET_PDEATHSIG, death);
            if !cores.is_empty() {
                sys::pin_current_thread(&cores)?;
            }
            match &filter {
                Some(f) => f.install(),
                None => Ok(()),
            }
        });
    }
}

/// A `corio-bench ARGS` child placed at `at`, its stdout and stderr piped.
fn own_command(args: &[&str], at: &Placement) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    confine(&mut cmd, at, libc::SIGTERM);
    Ok(cmd)
}

/// Runs `corio-bench ARGS` placed at `at` and returns its stdout once it exits 0; killed (and
/// an error) if it outlives `limit`; Err with the tail of its stderr if it fails.
pub fn run_pinned(args: &[&str], at: &Placement, limit: Duration) -> Result<String, String> {
    let mut child = own_command(args, at)?
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", args[0]))?;
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        })
    });
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} did not finish within {limit:?}; killed",
                    args[0]
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for {}: {e}", args[0])),
        }
    };
    let out = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
    if status.success() {
        return Ok(out);
    }
    let err = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    Err(format!("{} exited with {status}: {err}", args[0]))
}

/// A running `serve` child.
pub struct Server {
    child: Child,
    syscalls: Syscalls,
    /// True until the child is reaped; held locked while signalling or reaping it, so a
    /// signal can never reach a reused pid.
    alive: Arc<Mutex<bool>>,
    pub port: u16,
    /// The server's stdout, until a sampler takes it.
    stdout: Option<BufReader<File>>,
    /// A second descriptor of the same pipe, held until the server is stopped, so its last
    /// stats line (on SIGTERM) never meets a closed pipe.
    _stdout_held: Option<OwnedFd>,
    stderr: Option<JoinHandle<String>>,
}

impl Server {
    /// Starts `corio-bench serve SERVICE.. --server NAME --workers N` (`service`: the words
    /// after `serve`, e.g. `["file", "--file", PATH]`; N: `workers`) placed at `at`, and waits
    /// (bounded) until it says it accepts connections. The server binds port 0 itself and says
    /// which port it got: a port picked here and bound there could be taken in between by any
    /// other program on the machine, and the load would then talk to that program.
    pub fn start(
        kind: &ServerSpec,
        service: &[&str],
        workers: usize,
        at: &Placement,
    ) -> Result<Server, String> {
        let workers = workers.to_string();
        let mut args = vec!["serve"];
        args.extend_from_slice(service);
        args.extend_from_slice(&["--server", kind.name, "--addr", "127.0.0.1:0"]);
        args.extend_from_slice(&["--workers", &workers]);
        let mut child = own_command(&args, at)?
            .spawn()
            .map_err(|e| format!("spawning the server: {e}"))?;
        let stdout = child.stdout.take().map(OwnedFd::from);
        let held = stdout.as_ref().and_then(|fd| fd.try_clone().ok());
        let stdout = stdout.map(|fd| BufReader::new(File::from(fd)));
        let (port_tx, port_rx) = mpsc::channel();
        let stderr = child
            .stderr
            .take()
            .map(|e| drain_watching(e, Some(port_tx)));
        let mut server = Server {
            child,
            syscalls: kind.syscalls,
            alive: Arc::new(Mutex::new(true)),
            port: 0,
            stdout,
            _stdout_held: held,
            stderr,
        };
        match port_rx.recv_timeout(START_TIMEOUT) {
            Ok(port) => {
                server.port = port;
                Ok(server)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                server.stop();
                Err(format!(
                    "server did not accept connections within {START_TIMEOUT:?}"
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Its stderr ended: it exited. Reap it for the status.
                let deadline = Instant::now() + STOP_TIMEOUT;
                let status = loop {
                    match server.child.try_wait() {
                        Ok(Some(status)) => break status.to_string(),
                        _ if Instant::now() > deadline => break "still running".to_string(),
                        _ => std::thread::sleep(Duration::from_millis(5)),
                    }
                };
                let said = server.stderr.take().and_then(|h| h.join().ok());
                server.stop();
                Err(format!(
                    "server exited at start ({status}): {}",
                    said.unwrap_or_default()
                ))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A sampler for the measured window: it owns the server's stdout while it runs.
    pub fn sampler(&mut self) -> Option<Sampler> {
        Some(Sampler {
            pid: self.pid(),
            syscalls: self.syscalls,
            alive: self.alive.clone(),
            stdout: self.stdout.take()?,
        })
    }

    /// SIGTERM, then SIGKILL after `STOP_TIMEOUT`. Returns a complaint if the server had to be
    /// killed or did not exit cleanly. Idempotent.
    pub fn stop(&mut self) -> Option<String> {
        let mut alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
        if !*alive {
            return None;
        }
        if let Ok(Some(status)) = self.child.try_wait() {
            *alive = false;
            let said = self.stderr.take().and_then(|h| h.join().ok());
            return Some(format!(
                "the server exited during the run ({status}): {}",
                said.unwrap_or_default()
            ));
        }
        // SAFETY: kill(2) on the pid of our own child, not reaped yet (try_wait above, and
        // `alive` is locked), so the pid cannot have been reused.
        unsafe { libc::kill(self.pid() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let complaint = loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => break None,
                Ok(Some(status)) => break Some(format!("server exited with {status}")),
                _ if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break Some(format!(
                        "server ignored SIGTERM for {STOP_TIMEOUT:?}; killed"
                    ));
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        *alive = false;
        complaint
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Takes server snapshots from another thread while the load runs on this one.
pub struct Sampler {
    pid: u32,
    syscalls: Syscalls,
    alive: Arc<Mutex<bool>>,
    stdout: BufReader<File>,
}

impl Sampler {
    /// One snapshot: SIGUSR1 and /proc CPU at once, then the stats line the signal prints.
    fn snapshot(&mut self) -> Option<ServerFigures> {
        let (proc_cpu, run_wait) = {
            let alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
            if !*alive {
                return None;
            }
            // SAFETY: kill(2) on our own child's pid, not reaped while `alive` is locked.
            unsafe { libc::kill(self.pid as i32, libc::SIGUSR1) };
            (sys::proc_cpu_us(self.pid), sys::proc_run_wait_us(self.pid))
        };
        let mut line = String::new();
        // Ends at the line, or at EOF once the server is stopped: never longer than that.
        self.stdout.read_line(&mut line).ok()?;
        let mut snap = figures(&StatsLine::parse(&line)?, self.syscalls);
        snap.proc_cpu_us = proc_cpu;
        snap.run_wait_us = run_wait;
        Some(snap)
    }

    /// Runs on its own thread: waits for the load's warm-up to start (the instant arrives on
    /// `t0`), snapshots at the start and the end of the measured window and returns the
    /// difference. None if the load never started or the server did not answer.
    pub fn window(
        mut self,
        t0: mpsc::Receiver<Instant>,
        warmup: Duration,
        secs: Duration,
    ) -> JoinHandle<Option<ServerFigures>> {
        std::thread::spawn(move || {
            let start = t0.recv().ok()? + warmup;
            std::thread::sleep(start.saturating_duration_since(Instant::now()));
            let a = self.snapshot()?;
            std::thread::sleep((start + secs).saturating_duration_since(Instant::now()));
            let b = self.snapshot()?;
            Some(b.since(&a))
        })
    }
}

/// Waits for a sampler thread at most `SNAPSHOT_TIMEOUT` past `due`; a thread still blocked
/// after that is left to end once the server is stopped (its read then sees EOF).
pub fn join_within(h: JoinHandle<Option<ServerFigures>>, due: Instant) -> Option<ServerFigures> {
    let deadline = due + SNAPSHOT_TIMEOUT;
    while !h.is_finished() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    h.join().ok().flatten()
}

/// A stats line's figures; `syscalls` says which of its counters are the server's syscalls.
pub fn figures(s: &StatsLine, syscalls: Syscalls) -> ServerFigures {
    ServerFigures {
        cpu_us: s.cpu_us,
        proc_cpu_us: None,
        run_wait_us: None,
        syscalls: match syscalls {
            Syscalls::Enters => s.enters,
            Syscalls::EpollWaitsAndIo => s.epoll_waits.zip(s.io_syscalls).map(|(w, io)| w + io),
            Syscalls::Uncounted => None,
        },
        enters: s.enters,
        epoll_waits: s.epoll_waits,
        io_syscalls: s.io_syscalls,
        ops_submitted: s.ops_submitted,
        completions: s.completions,
        requests: s.requests_hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stats_line_gives_the_figures_and_the_window_is_their_difference() {
        let line = |cpu, enters, waits, io, hint: &str| {
            StatsLine::parse(&format!(
                r#"{{"server":"x","requests_hint":{hint},"cpu_us":{cpu},"enters":{enters},"epoll_waits":{waits},"io_syscalls":{io},"ops_submitted":7,"completions":7,"accepted":1}}"#
            ))
            .unwrap()
        };
        let (a, b) = (line(100, 5, 1, 2, "null"), line(250, 9, 4, 8, "null"));
        let d = figures(&b, Syscalls::Enters).since(&figures(&a, Syscalls::Enters));
        assert_eq!((d.cpu_us, d.syscalls, d.enters), (150, Some(4), Some(4)));
        let d =
            figures(&b, Syscalls::EpollWaitsAndIo).since(&figures(&a, Syscalls::EpollWaitsAndIo));
        assert_eq!(d.syscalls, Some(9));
        let d = figures(&b, Syscalls::Uncounted).since(&figures(&a, Syscalls::Uncounted));
        assert_eq!((d.syscalls, d.requests), (None, None));
        let http = figures(&line(1, 0, 0, 0, "30"), Syscalls::Uncounted)
            .since(&figures(&line(0, 0, 0, 0, "12"), Syscalls::Uncounted));
        assert_eq!(http.requests, Some(18));
    }
}
