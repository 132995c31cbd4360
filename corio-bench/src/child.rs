//! The server side of a suite run: a `corio-bench serve SERVICE` child process, pinned to its
//! core, started on a free port, sampled, and stopped; or a `corio-bench file-read` child run
//! to its end ([`run_pinned`]). Every wait here is bounded, and the only process ever
//! signalled is a child this module spawned (by its pid, before it is reaped).

use crate::servers::ServerSpec;
use crate::snap::ServerSnap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
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
/// The stderr kept for error messages (the tail).
const STDERR_KEEP: usize = 2048;

/// The CPUs this process may run on, lowest first.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data, valid when zeroed.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity(0, ..) fills the set we pass, of the size we pass.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads inside the set, for indices below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Pins the calling thread (and the threads it spawns later) to `core`.
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data, valid when zeroed.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if core >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: CPU_SET writes inside the set, for an index below CPU_SETSIZE (checked above).
    unsafe { libc::CPU_SET(core, &mut set) };
    // SAFETY: sched_setaffinity(0, ..) reads the set we pass and applies to this thread only.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A process's CPU time (utime + stime over all its threads) from /proc/<pid>/stat, in µs.
pub fn proc_cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    // After it: field 3 (state) at index 0, so utime (14) and stime (15) at 11 and 12.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let utime: u64 = rest.nth(11)?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    // SAFETY: sysconf only reads a system value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| (utime + stime) * 1_000_000 / hz as u64)
}

/// How long a process's threads have waited on a run queue (schedstat run_delay), µs.
pub fn proc_run_wait_us(pid: u32) -> Option<u64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let s = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += s.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    }
    Some(ns / 1000)
}

/// A `corio-bench ARGS` child pinned to `core` (if any) that dies with this process.
fn pinned_command(args: &[&str], core: Option<usize>) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // syscalls (prctl, sched_setaffinity) on stack data.
    unsafe {
        cmd.pre_exec(move || {
            // If this process dies (killed, crashed), the child goes with it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            match core {
                Some(core) => pin_current_thread(core),
                None => Ok(()),
            }
        });
    }
    Ok(cmd)
}

/// Runs `corio-bench ARGS` pinned to `core` and returns its stdout once it exits 0; killed
/// (and an error) if it outlives `limit`; Err with the tail of its stderr if it fails.
pub fn run_pinned(args: &[&str], core: Option<usize>, limit: Duration) -> Result<String, String> {
    let mut child = pinned_command(args, core)?
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

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Reads a pipe to its end on a thread, keeping only the last `STDERR_KEEP` bytes, so a chatty
/// child never blocks on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let (mut kept, mut buf) = (Vec::new(), [0u8; 4096]);
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            kept.extend_from_slice(&buf[..n]);
            if kept.len() > 2 * STDERR_KEEP {
                kept.drain(..kept.len() - STDERR_KEEP);
            }
        }
        let text = String::from_utf8_lossy(&kept);
        let text = text.trim();
        let cut = text.len().saturating_sub(STDERR_KEEP);
        let cut = (cut..=text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        text[cut..].replace('\n', " / ")
    })
}

impl Server {
    /// Starts `corio-bench serve SERVICE.. --server NAME` (`service`: the words after `serve`,
    /// e.g. `["file", "--file", PATH]`) on a free port, pinned to `core`, and waits (bounded)
    /// until it accepts a connection.
    pub fn start(
        kind: &ServerSpec,
        service: &[&str],
        core: Option<usize>,
    ) -> Result<Server, String> {
        let mut last = String::new();
        // A port found free can be taken by someone else before the child binds it: retry.
        for _ in 0..5 {
            let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
            let addr = format!("127.0.0.1:{port}");
            let mut args = vec!["serve"];
            args.extend_from_slice(service);
            args.extend_from_slice(&["--server", kind.name, "--addr", &addr]);
            let mut child = pinned_command(&args, core)?
                .spawn()
                .map_err(|e| format!("spawning the server: {e}"))?;
            let stdout = child.stdout.take().map(OwnedFd::from);
            let held = stdout.as_ref().and_then(|fd| fd.try_clone().ok());
            let stdout = stdout.map(|fd| BufReader::new(File::from(fd)));
            let stderr = child.stderr.take().map(drain);
            let mut server = Server {
                child,
                alive: Arc::new(Mutex::new(true)),
                port,
                stdout,
                _stdout_held: held,
                stderr,
            };
            match server.wait_accepting() {
                Ok(()) => return Ok(server),
                Err(e) => {
                    server.stop();
                    last = e;
                    if !last.contains("in use") {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    fn wait_accepting(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let err = self.stderr.take().and_then(|h| h.join().ok());
                return Err(format!(
                    "server exited at start ({status}): {}",
                    err.unwrap_or_default()
                ));
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "server did not accept connections within {START_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A sampler for the measured window: it owns the server's stdout while it runs.
    pub fn sampler(&mut self) -> Option<Sampler> {
        Some(Sampler {
            pid: self.pid(),
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
        if let Ok(Some(_)) = self.child.try_wait() {
            *alive = false;
            return None; // it exited on its own: the run's errors say so
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
    alive: Arc<Mutex<bool>>,
    stdout: BufReader<File>,
}

impl Sampler {
    /// One snapshot: SIGUSR1 and /proc CPU at once, then the stats line the signal prints.
    fn snapshot(&mut self) -> Option<ServerSnap> {
        let (proc_cpu, run_wait) = {
            let alive = self.alive.lock().unwrap_or_else(|e| e.into_inner());
            if !*alive {
                return None;
            }
            // SAFETY: kill(2) on our own child's pid, not reaped while `alive` is locked.
            unsafe { libc::kill(self.pid as i32, libc::SIGUSR1) };
            (proc_cpu_us(self.pid), proc_run_wait_us(self.pid))
        };
        let mut line = String::new();
        // Ends at the line, or at EOF once the server is stopped: never longer than that.
        self.stdout.read_line(&mut line).ok()?;
        let mut snap = ServerSnap::parse(&line)?;
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
    ) -> JoinHandle<Option<ServerSnap>> {
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
pub fn join_within(h: JoinHandle<Option<ServerSnap>>, due: Instant) -> Option<ServerSnap> {
    let deadline = due + SNAPSHOT_TIMEOUT;
    while !h.is_finished() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    h.join().ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_is_readable_and_grows() {
        let me = std::process::id();
        let a = proc_cpu_us(me).unwrap();
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        assert!(proc_cpu_us(me).unwrap() > a);
        assert!(proc_run_wait_us(me).is_some());
        assert!(!allowed_cpus().is_empty());
    }
}
