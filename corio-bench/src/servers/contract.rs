//! The contract every server adapter implements, and all it may know of the harness: a
//! [`ServerSpec`] naming the server and its services, and the [`Worker`] each service gets on
//! its thread of a `corio-bench serve SERVICE --server NAME` child.
//!
//! - **echo**: accept, set TCP_NODELAY, then per connection read what is available into a
//!   16 KiB buffer ([`BUF_SIZE`]) and write all of it back, until EOF or an error;
//! - **file** (`serve file --file PATH`): each byte a connection sends asks for the whole file,
//!   which the server reads in [`CHUNK`]-sized pieces at increasing offsets and writes to the
//!   connection, piece by piece (the file is opened once per worker);
//! - **http**: hyper 1.x, HTTP/1.1 keep-alive, answering `GET /` with 64 bytes and counting
//!   requests (`http_service.rs`).
//!
//! A server may also have a **file-read** runner (`reader.rs`): no socket, random reads from a
//! file at a fixed queue depth.

pub use crate::results::Model;
pub use crate::servers::counters::Counters;
pub use crate::servers::reader::ReadFn;
use std::fmt;
use std::io;
use std::sync::{mpsc, Arc};

/// The echo buffer size every server uses.
pub const BUF_SIZE: usize = 16 * 1024;

/// The piece a file server reads and sends at a time.
pub const CHUNK: usize = 64 * 1024;

/// A service, run on one worker thread until the process exits: echo, file or http.
pub type ServiceFn = fn(Worker) -> io::Result<()>;

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

/// How a server uses several cores (`serve --workers N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// One runtime per worker thread, each with its own listener (SO_REUSEPORT): thread per
    /// core.
    PerWorker,
    /// One runtime over all N threads and one listener (tokio's multi-thread scheduler).
    Shared,
}

/// One server the harness can run.
pub struct ServerSpec {
    /// The name in `--servers`, `serve --server` and the report.
    pub name: &'static str,
    pub model: Model,
    /// One line for the report's and the docs' server tables.
    pub about: &'static str,
    /// It cannot start where io_uring is refused: the suite leaves it out there.
    pub needs_uring: bool,
    /// The bare loop of its model, which the other servers of the model are measured against.
    pub floor: bool,
    pub syscalls: Syscalls,
    pub threads: Threads,
    /// It runs in the `--workers` sweep (a thread-per-core server, or tokio multi-thread).
    pub scales: bool,
    /// It runs only in the `--workers` sweep, not in the suite's other cases.
    pub sweep_only: bool,
    /// Its echo service; None where it has none.
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

/// What one worker thread of a server gets.
pub struct Worker {
    /// Its own listening socket (several workers share the port with SO_REUSEPORT).
    pub listener: std::net::TcpListener,
    /// The runtime threads this worker may use: 1, but for a `Threads::Shared` server.
    pub threads: usize,
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
pub fn no_file() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the file service needs a file (serve file --file PATH)",
    )
}
