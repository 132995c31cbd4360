//! The access log (`--access-log PATH`, `-` for stderr): one JSON object per line per ended
//! pair. Workers never write: a pair's record is serialized on its worker and queued (bounded:
//! a full queue drops the line and counts it) to a writer thread, which buffers and flushes at
//! least every second, when asked at the drain, and before it reopens the file (SIGHUP, for
//! logrotate).
//!
//! The record is [`Record`]; a feature that knows more about a connection (the client address
//! a PROXY protocol header carried, the SNI route) adds a field there, skipped when empty.

use crate::addr::{Dest, Listen};
use serde::Serialize;
use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// Lines queued for the writer before new ones are dropped (and counted).
const QUEUE: usize = 64 << 10;
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Why a pair ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// Both sides finished; an ordinary close by either side.
    Done,
    /// No byte moved for the idle timeout.
    Idle,
    /// The client's side failed (a reset, a failed write to it).
    ClientError,
    /// The upstream's side failed.
    UpstreamError,
    /// No upstream could be connected.
    ConnectFailed,
    /// Still open when the drain timeout ran out.
    Drain,
    /// The proxy had no file descriptor left for the upstream connection.
    FdLimit,
    /// Closed before any upstream was contacted (a bad PROXY header, an ACL, the per-source
    /// limit, no SNI route): `refused` says which.
    Refused,
}

/// One line of the access log.
#[derive(Debug, Serialize)]
pub struct Record {
    /// When the pair ended (RFC 3339, UTC).
    pub ts: String,
    /// IP:PORT, or unix:/path.
    pub listener: String,
    /// The client: the address a PROXY header gave (`accept-proxy`), else the socket's peer;
    /// `None` for a Unix client without one.
    pub client: Option<SocketAddr>,
    /// The socket's peer when a PROXY header replaced it (the balancer in front).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<SocketAddr>,
    /// The last upstream tried (IP:PORT or unix:/path); `None` if none was.
    pub upstream: Option<String>,
    /// The ClientHello's server_name, on a listener with SNI routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// The SNI route taken (`default`, or the route's first name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Why a client was refused (`end` is `refused`): a `corio_proxy_client_refused_total`
    /// reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<&'static str>,
    /// Bytes client → upstream.
    pub bytes_up: u64,
    /// Bytes upstream → client.
    pub bytes_down: u64,
    pub duration_ms: u64,
    pub end: End,
}

/// A pair's record in the making; written when dropped, with `End::Drain` if nothing ended it
/// first (its task was dropped at the drain timeout).
pub struct ConnLog {
    pub listener: Listen,
    pub client: Option<SocketAddr>,
    pub via: Option<SocketAddr>,
    pub upstream: Option<Dest>,
    pub sni: Option<String>,
    pub route: Option<String>,
    pub refused: Option<&'static str>,
    pub bytes_up: Cell<u64>,
    pub bytes_down: Cell<u64>,
    pub end: Option<End>,
    start: Instant,
}

impl ConnLog {
    pub fn new(listener: Listen, client: Option<SocketAddr>) -> ConnLog {
        ConnLog {
            listener,
            client,
            via: None,
            upstream: None,
            sni: None,
            route: None,
            refused: None,
            bytes_up: Cell::new(0),
            bytes_down: Cell::new(0),
            end: None,
            start: Instant::now(),
        }
    }

    fn record(&self) -> Record {
        Record {
            ts: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            listener: self.listener.to_string(),
            client: self.client,
            via: self.via,
            upstream: self.upstream.as_ref().map(Dest::to_string),
            sni: self.sni.clone(),
            route: self.route.clone(),
            refused: self.refused,
            bytes_up: self.bytes_up.get(),
            bytes_down: self.bytes_down.get(),
            duration_ms: self.start.elapsed().as_millis() as u64,
            end: self.end.unwrap_or(End::Drain),
        }
    }
}

impl ConnLog {
    /// The client as the traffic features learned it: `client` (from a PROXY header, or the
    /// socket's `peer`); the peer goes to `via` when they differ.
    pub fn note_client(&mut self, client: Option<SocketAddr>, peer: Option<SocketAddr>) {
        self.client = client;
        self.via = peer.filter(|p| Some(*p) != client);
    }
}

impl Drop for ConnLog {
    fn drop(&mut self) {
        if let Some(log) = LOG.get() {
            log.write(&self.record());
        }
    }
}

enum Msg {
    Line(String),
    Flush(mpsc::Sender<()>),
    Reopen(Option<PathBuf>),
}

struct AccessLog {
    tx: SyncSender<Msg>,
}

static LOG: OnceLock<AccessLog> = OnceLock::new();
/// Lines dropped because the writer fell behind (the queue was full).
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

impl AccessLog {
    fn write(&self, rec: &Record) {
        let Ok(mut line) = serde_json::to_string(rec) else {
            return;
        };
        line.push('\n');
        if self.tx.try_send(Msg::Line(line)).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Opens `path` (appending; `-`: stderr) and starts the writer. Once per process.
pub fn open(path: &Path) -> io::Result<()> {
    let out = Output::open(path)?;
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    std::thread::Builder::new()
        .name("access-log".into())
        .spawn(move || writer(out, rx))?;
    let _ = LOG.set(AccessLog { tx });
    Ok(())
}

/// Reopens the file (SIGHUP: logrotate moved it), at `path` if given (a reload changed it).
pub fn reopen(path: Option<PathBuf>) {
    if let Some(log) = LOG.get() {
        let _ = log.tx.send(Msg::Reopen(path));
    }
}

/// Writes out everything queued so far; waits at most a second.
pub fn flush() {
    if let Some(log) = LOG.get() {
        let (tx, rx) = mpsc::channel();
        if log.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(1));
        }
    }
}

/// Where lines go.
enum Output {
    Stderr(io::Stderr),
    File(PathBuf, BufWriter<File>),
}

impl Output {
    fn open(path: &Path) -> io::Result<Output> {
        if path == Path::new("-") {
            return Ok(Output::Stderr(io::stderr()));
        }
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Output::File(
            path.to_owned(),
            BufWriter::with_capacity(64 << 10, f),
        ))
    }

    fn write(&mut self, line: &str) -> io::Result<()> {
        match self {
            Output::Stderr(e) => e.write_all(line.as_bytes()),
            Output::File(_, w) => w.write_all(line.as_bytes()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stderr(e) => e.flush(),
            Output::File(_, w) => w.flush(),
        }
    }
}

fn writer(mut out: Output, rx: Receiver<Msg>) {
    let mut last_flush = Instant::now();
    loop {
        let wait = FLUSH_EVERY.saturating_sub(last_flush.elapsed());
        match rx.recv_timeout(wait) {
            Ok(Msg::Line(line)) => {
                if let Err(e) = out.write(&line) {
                    crate::log::error(format_args!("access log: {e}"));
                }
            }
            Ok(Msg::Flush(done)) => {
                let _ = out.flush();
                last_flush = Instant::now();
                let _ = done.send(());
            }
            Ok(Msg::Reopen(path)) => {
                let _ = out.flush();
                let path = match (path, &out) {
                    (Some(p), _) => p,
                    (None, Output::File(p, _)) => p.clone(),
                    (None, Output::Stderr(_)) => continue,
                };
                match Output::open(&path) {
                    Ok(o) => {
                        out = o;
                        tracing::info!("access log reopened: {}", path.display());
                    }
                    Err(e) => tracing::error!(
                        "access log: cannot reopen {}: {e}; still writing to the old file",
                        path.display()
                    ),
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                let _ = out.flush();
                return;
            }
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            let _ = out.flush();
            last_flush = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_json_line_with_every_field() {
        let listener = Listen::parse("127.0.0.1:80").unwrap();
        let mut c = ConnLog::new(listener, "[::1]:5000".parse().ok());
        c.bytes_up.set(64);
        c.bytes_down.set(128);
        c.end = Some(End::UpstreamError);
        let line = serde_json::to_string(&c.record()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["listener"], "127.0.0.1:80");
        assert_eq!(v["client"], "[::1]:5000");
        assert_eq!(v["upstream"], serde_json::Value::Null);
        assert_eq!(
            (v["bytes_up"].as_u64(), v["bytes_down"].as_u64()),
            (Some(64), Some(128))
        );
        assert_eq!(v["end"], "upstream_error");
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        assert!(v["duration_ms"].is_u64());
        assert!(
            v.get("sni").is_none() && v.get("via").is_none(),
            "empty fields are left out"
        );
        c.end = None;
        assert_eq!(c.record().end, End::Drain);
        c.note_client("192.0.2.1:7".parse().ok(), "[::1]:5000".parse().ok());
        c.sni = Some("api.example.com".into());
        let v: serde_json::Value = serde_json::to_value(c.record()).unwrap();
        assert_eq!(
            (&v["client"], &v["via"]),
            (&"192.0.2.1:7".into(), &"[::1]:5000".into())
        );
        assert_eq!(v["sni"], "api.example.com");
    }
}
