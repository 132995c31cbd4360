//! Helpers for the operations tests (reload, upgrade, limits, access log): a connect-per-
//! request load, a proxy under a lower fd limit, config files that are removed on drop.

use super::{pattern, Proxy, BIN};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What a load saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Exchanges that came back whole and byte-exact.
    pub ok: u64,
    /// Connections refused or reset, exchanges cut short or timed out.
    pub failed: u64,
    /// Exchanges whose bytes came back different.
    pub wrong: u64,
    /// The first few failures, for the assertion message.
    pub errors: Vec<String>,
}

/// Clients as fast as `threads` threads go: each connection connects, sends 64 bytes, reads
/// the echo back, and closes. Each thread works on `burst` connections at a time (connects
/// them all, then writes each, then reads each), so that many handshakes are in flight.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Tally>>,
}

impl Load {
    pub fn start(addr: SocketAddr, threads: usize, burst: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|t| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut tally = Tally::default();
                    let mut seed = (t as u64) << 32;
                    while !stop.load(Ordering::Relaxed) {
                        seed += burst as u64;
                        for res in exchanges(addr, seed, burst) {
                            match res {
                                Ok(true) => tally.ok += 1,
                                Ok(false) => tally.wrong += 1,
                                Err(e) => {
                                    tally.failed += 1;
                                    if tally.errors.len() < 5 {
                                        tally.errors.push(e);
                                    }
                                }
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        Load { stop, threads }
    }

    /// Stops the clients; what they saw, summed.
    pub fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Tally::default();
        for t in self.threads {
            let t = t.join().unwrap();
            all.ok += t.ok;
            all.failed += t.failed;
            all.wrong += t.wrong;
            all.errors.extend(t.errors);
        }
        all
    }
}

/// `n` connections' exchanges: `Ok(true)` byte-exact, `Ok(false)` different bytes.
fn exchanges(addr: SocketAddr, seed: u64, n: usize) -> Vec<Result<bool, String>> {
    let conns: Vec<Result<TcpStream, String>> = (0..n)
        .map(|_| {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .map_err(|e| format!("connect: {e}"))?;
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.set_nodelay(true).unwrap();
            Ok(s)
        })
        .collect();
    let msgs: Vec<Vec<u8>> = (0..n as u64).map(|i| pattern(seed + i, 64)).collect();
    let sent: Vec<Result<TcpStream, String>> = conns
        .into_iter()
        .zip(&msgs)
        .map(|(c, m)| {
            let mut s = c?;
            s.write_all(m).map_err(|e| format!("write: {e}"))?;
            Ok(s)
        })
        .collect();
    sent.into_iter()
        .zip(&msgs)
        .map(|(c, m)| {
            let mut s = c?;
            let mut back = [0u8; 64];
            s.read_exact(&mut back).map_err(|e| format!("read: {e}"))?;
            Ok(back[..] == m[..])
        })
        .collect()
}

/// corio-proxy with `args`, as a command to start with `Proxy::start_cmd`.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    cmd
}

/// Starts corio-proxy with `args` under RLIMIT_NOFILE `nofile` (soft and hard, as `ulimit -n`).
pub fn start_with_nofile(args: &[&str], nofile: u64) -> Proxy {
    let mut cmd = command(args);
    // SAFETY: the closure runs in the child between fork and exec and only calls setrlimit,
    // which is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: nofile,
                rlim_max: nofile,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Proxy::start_cmd(cmd, 1)
}

/// A file in the temp dir, removed on drop.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// A fresh path (nothing written) ending in `suffix`.
    pub fn path(suffix: &str) -> TempFile {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "corio-proxy-ops-{}-{}{suffix}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let p = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&p);
        TempFile(p)
    }

    /// A file holding `text`.
    pub fn with(text: &str, suffix: &str) -> TempFile {
        let f = TempFile::path(suffix);
        f.write(text);
        f
    }

    /// Replaces the content (written beside it and renamed, as config managers do).
    pub fn write(&self, text: &str) {
        let tmp = self.0.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.0).unwrap();
    }

    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// An echo upstream for many short connections: one corio executor on a thread of its own,
/// a task per connection (`Echo`'s thread per connection and kept clones suit a few long
/// ones). It serves until the test process exits.
pub fn fast_echo() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        corio::block_on(async move {
            let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                drop(corio::spawn(async move {
                    let mut buf = Vec::with_capacity(16 << 10);
                    loop {
                        buf.clear();
                        let (res, b) = conn.read(buf).await;
                        if !matches!(res, Ok(n) if n > 0) {
                            return;
                        }
                        let (res, b) = conn.write_all(b).await;
                        if res.is_err() {
                            return;
                        }
                        buf = b;
                    }
                }));
            }
        })
    });
    rx.recv().unwrap()
}
