//! Servers: corio on each driver, the bare io_uring and epoll loops, and reference runtimes,
//! each with the services it offers. A service runs on each worker thread of a `corio-bench
//! serve SERVICE --server NAME` child:
//!
//! - **echo**: accept, set TCP_NODELAY, then per connection read what is available into a
//!   16 KiB buffer and write all of it back, until EOF or an error;
//! - **file** (`serve file --file PATH`): each byte a connection sends asks for the whole file,
//!   which the server reads in [`CHUNK`]-sized pieces at increasing offsets and writes to the
//!   connection, piece by piece (the file is opened once per worker);
//! - **http**: hyper 1.x, HTTP/1.1 keep-alive, answering `GET /` with the 64 bytes of
//!   [`HTTP_BODY`] and counting requests (`requests_hint` in the stats line).
//!
//! A server may also have a **file-read** runner (`corio-bench file-read --server NAME`, see
//! `file_read.rs`): no socket, random reads from a file at a fixed queue depth.
//!
//! `REGISTRY` is the table of every server the harness knows; the suite, `serve --server` and
//! the report read it and nothing else. Adding a server is one file here that defines a
//! `ServerSpec` (its service functions get a [`Worker`]: a listener, counters to publish, and
//! a [`Ready`] to signal once its runtime is up), its `mod` line, and one line in `REGISTRY`.
//!
//! A server runs until SIGINT or SIGTERM, then prints one JSON stats line on stdout and exits
//! 0 (see `serve.rs`). SIGUSR1 prints the same line without exiting, so a harness can take
//! before/after snapshots around a measured window.

mod compat_echo;
mod compio_echo;
mod compio_file;
mod corio_echo;
mod corio_file;
mod file_read;
mod http;
mod monoio_echo;
mod monoio_file;
mod net;
mod raw_epoll;
mod raw_uring;
mod raw_uring_file;
mod serve;
mod stats;
mod tokio_echo;
mod tokio_file;

pub use corio_echo::AUTO as CORIO_AUTO;
pub use file_read::{file_read_cmd, Meter, ReadConfig, ReadJob, ReadReport};
pub use http::BODY as HTTP_BODY;
pub use serve::{serve_cmd, ServeConfig, ServiceKind};
pub use stats::StatsLine;

use std::fmt;
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc};

/// The echo buffer size every server uses.
pub const BUF_SIZE: usize = 16 * 1024;

/// The piece a file server reads and sends at a time.
pub const CHUNK: usize = 64 * 1024;

/// A connection's service, run until the connection ends: echo, file or http.
pub type ServiceFn = fn(Worker) -> io::Result<()>;

/// A file-read runner: reads until `meter` says stop (see `file_read.rs`).
pub type ReadFn = fn(&ReadJob, &Arc<Meter>) -> io::Result<()>;

/// Every server, in the order of the report's rows.
pub static REGISTRY: &[&ServerSpec] = &[
    &corio_echo::URING,
    &corio_echo::EPOLL,
    &compat_echo::SPEC,
    &raw_uring::SPEC,
    &raw_epoll::SPEC,
    &tokio_echo::SPEC,
    &monoio_echo::SPEC,
    &compio_echo::SPEC,
];

/// The I/O model a server is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Operations submitted, woken on their completion (io_uring).
    Completion,
    /// Woken when a socket is ready, then the syscall (epoll).
    Readiness,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::Completion => "completion",
            Model::Readiness => "readiness",
        }
    }
}

/// Which driver syscalls a server counts in its stats line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscalls {
    /// io_uring_enter calls (`enters`).
    Enters,
    /// epoll_wait calls plus I/O syscalls (`epoll_waits + io_syscalls`).
    EpollWaitsAndIo,
    /// None: the runtime does not expose them (its counters are null in the stats line).
    Uncounted,
}

/// One server the harness can run.
pub struct ServerSpec {
    /// The name in `--servers`, `serve --server` and the report.
    pub name: &'static str,
    pub model: Model,
    /// One line for the docs' server table.
    pub about: &'static str,
    /// It cannot start where io_uring is refused: the suite leaves it out there.
    pub needs_uring: bool,
    /// The bare loop of its model, which the other servers of the model are measured against.
    pub floor: bool,
    pub syscalls: Syscalls,
    /// Its echo service, run on each worker thread until the process exits; None where it
    /// has none.
    pub echo: Option<ServiceFn>,
    /// Its static file service (`Worker::file` names the file).
    pub file: Option<ServiceFn>,
    /// Its HTTP service.
    pub http: Option<ServiceFn>,
    /// Its file-read runner.
    pub file_read: Option<ReadFn>,
}

impl fmt::Debug for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for ServerSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// The registered server of that name.
pub fn find(name: &str) -> Option<&'static ServerSpec> {
    REGISTRY.iter().copied().find(|s| s.name == name)
}

/// The registered names, comma-separated.
pub fn names() -> String {
    REGISTRY
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The bare loop of `model`.
pub fn floor_of(model: Model) -> Option<&'static ServerSpec> {
    REGISTRY
        .iter()
        .copied()
        .find(|s| s.floor && s.model == model)
}

/// Counters a worker publishes; summed over workers for the stats line.
#[derive(Default)]
pub struct Counters {
    pub enters: AtomicU64,
    pub epoll_waits: AtomicU64,
    pub io_syscalls: AtomicU64,
    pub ops_submitted: AtomicU64,
    pub completions: AtomicU64,
    pub accepted: AtomicU64,
    /// Requests served, where the server itself knows what a request is (http).
    pub requests: AtomicU64,
}

/// What one worker thread of a server gets.
pub struct Worker {
    /// Its own listening socket (several workers share the port with SO_REUSEPORT).
    pub listener: std::net::TcpListener,
    pub counters: Arc<Counters>,
    pub ready: Ready,
    /// The file a file service serves (`serve file --file`); None for the others.
    pub file: Option<std::path::PathBuf>,
}

/// How a worker's start ended.
pub enum Start {
    /// Its runtime is up and it is about to accept; corio servers tell which driver they got.
    Up(Option<corio::DriverInfo>),
    /// It returned (or panicked) before saying so; its thread has the error.
    Failed,
}

/// A worker's one report that it started. Dropped without [`Ready::up`], it reports
/// [`Start::Failed`], so the serving thread never waits for a worker that is gone.
pub struct Ready {
    index: usize,
    tx: Option<mpsc::Sender<(usize, Start)>>,
}

impl Ready {
    pub fn new(index: usize, tx: mpsc::Sender<(usize, Start)>) -> Ready {
        Ready {
            index,
            tx: Some(tx),
        }
    }

    /// The runtime is up (`driver`: the corio driver it got, None for other runtimes).
    pub fn up(&mut self, driver: Option<corio::DriverInfo>) {
        if let Some(tx) = self.tx.take() {
            // The serving thread may have given up on the start already: nothing to tell.
            let _ = tx.send((self.index, Start::Up(driver)));
        }
    }
}

impl Drop for Ready {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send((self.index, Start::Failed));
        }
    }
}

/// The error of a file service started without a file.
fn no_file() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the file service needs a file (serve file --file PATH)",
    )
}
