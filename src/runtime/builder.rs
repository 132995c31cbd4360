//! [`Builder`]: the driver, the ring's size, the workers of `run`, signals, the grace period
//! and the blocking pool.

use super::executor::Core;
use super::remote::Remote;
use super::shutdown::ShutdownState;
use super::Runtime;
use crate::blocking::{Pool, PoolConfig};
use crate::driver::{self, DriverChoice, DriverConfig};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Configures and builds a [`Runtime`].
///
/// ```
/// use corio::{DriverChoice, Runtime};
/// let rt = Runtime::builder().driver(DriverChoice::Auto).ring_entries(256).build().unwrap();
/// println!("running on {:?}", rt.driver_info().kind);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) driver: Option<DriverChoice>,
    pub(crate) ring_entries: u32,
    pub(crate) workers: usize,
    pub(crate) pin_cores: bool,
    pub(crate) handle_signals: bool,
    pub(crate) grace: Duration,
    pub(crate) blocking: PoolConfig,
    pub(crate) registered_fds: Option<bool>,
    /// The pool of the `Runtime` whose `run` builds this worker's runtime: one pool per
    /// `Runtime`, shared by its workers. `None`: `build` makes a new one.
    pub(crate) shared_pool: Option<Arc<Pool>>,
}

/// The kernel's IORING_MAX_ENTRIES.
const MAX_RING_ENTRIES: u32 = 32768;

impl Default for Builder {
    fn default() -> Self {
        Builder {
            driver: None,
            ring_entries: 1024,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pin_cores: true,
            handle_signals: false,
            grace: Duration::from_secs(5),
            blocking: PoolConfig {
                max_threads: 16,
                queue_limit: 4096,
                idle_timeout: Duration::from_secs(10),
            },
            shared_pool: None,
            registered_fds: None,
        }
    }
}

impl Builder {
    /// Chooses the driver. Without this call, `CORIO_DRIVER=auto|uring|epoll` decides, and
    /// `auto` when it is unset.
    pub fn driver(&mut self, driver: DriverChoice) -> &mut Self {
        self.driver = Some(driver);
        self
    }

    /// Submission queue size of the io_uring (the completion queue is twice as big), from 1
    /// to 32768 (the kernel's limit; it rounds up to a power of two). `build` rejects other
    /// values with `InvalidInput`. Default 1024.
    pub fn ring_entries(&mut self, entries: u32) -> &mut Self {
        self.ring_entries = entries;
        self
    }

    /// Number of workers [`Runtime::run`] starts, each a thread with its own executor and
    /// driver (this thread is worker 0). Default: the number of CPUs this process may use.
    /// `block_on` always runs on this thread alone.
    pub fn workers(&mut self, n: usize) -> &mut Self {
        self.workers = n.max(1);
        self
    }

    /// Pin worker `i` to the `i`-th CPU this process may use (cycling if there are more
    /// workers than CPUs) during [`Runtime::run`]. Default: true.
    pub fn pin_cores(&mut self, pin: bool) -> &mut Self {
        self.pin_cores = pin;
        self
    }

    /// Deliver SIGINT and SIGTERM to the runtime during [`Runtime::run`]: they are blocked in
    /// the workers and read from a signalfd through worker 0's driver (no signal handler), and
    /// start the graceful shutdown (see [`shutdown_requested`](crate::shutdown_requested)).
    /// Default: off (the process keeps its own signal dispositions).
    pub fn handle_signals(&mut self, on: bool) -> &mut Self {
        self.handle_signals = on;
        self
    }

    /// How long workers may keep running after the shutdown starts before they are stopped
    /// and their remaining tasks dropped. Default: 5 s.
    pub fn grace_period(&mut self, grace: Duration) -> &mut Self {
        self.grace = grace;
        self
    }

    /// The most threads the blocking pool runs at once, from 1 (0 counts as 1). The pool is
    /// shared by every worker of [`Runtime::run`]; it runs
    /// [`spawn_blocking`](crate::spawn_blocking) jobs and, on the epoll driver, every file
    /// operation (on io_uring, only those whose opcode the kernel lacks). Threads start as
    /// work arrives and retire when idle. Default: 16.
    pub fn blocking_threads(&mut self, n: usize) -> &mut Self {
        self.blocking.max_threads = n.max(1);
        self
    }

    /// The most jobs waiting for a blocking-pool thread while all `blocking_threads` are busy.
    /// A job beyond that runs on the thread that submits it (an executor's), which slows the
    /// submitter down instead of losing or piling up work; 0 means no job ever waits. Default:
    /// 4096.
    pub fn blocking_queue(&mut self, n: usize) -> &mut Self {
        self.blocking.queue_limit = n;
        self
    }

    /// How long a blocking-pool thread waits for work before it exits. Default: 10 s.
    pub fn blocking_idle_timeout(&mut self, idle: Duration) -> &mut Self {
        self.blocking.idle_timeout = idle;
        self
    }

    /// io_uring: put accepted and connected TCP sockets in the ring's registered-file table
    /// (a sparse table registered at setup; direct accept with IORING_FILE_INDEX_ALLOC, and
    /// IORING_OP_FILES_UPDATE after a connect), so each of their operations names a slot
    /// (IOSQE_FIXED_FILE) and the kernel skips the fd lookup and the file's reference count.
    /// When the table is full, sockets get plain fds. An accepted socket has no fd until one is
    /// asked for (`as_raw_fd`, `into_std`, `peer_addr`, `set_nodelay`...), which installs one
    /// with IORING_OP_FIXED_FD_INSTALL. Needs Linux 6.8; elsewhere, and on the epoll driver,
    /// the option is accepted and does nothing ([`DriverInfo::registered_fds`] says which).
    /// Sockets adopted with `from_std` stay plain. Without this call, `CORIO_REGISTERED_FDS=1`
    /// turns it on (as `CORIO_DRIVER` chooses the driver); default: off (docs/benchmarks.md has
    /// the measurement).
    ///
    /// [`DriverInfo::registered_fds`]: crate::DriverInfo::registered_fds
    pub fn registered_fds(&mut self, on: bool) -> &mut Self {
        self.registered_fds = Some(on);
        self
    }

    /// Builds the runtime. Fails if the requested driver cannot be set up; see [`DriverChoice`] for
    /// when `Auto` falls back to epoll and when it reports an error instead.
    pub fn build(&self) -> io::Result<Runtime> {
        if !(1..=MAX_RING_ENTRIES).contains(&self.ring_entries) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ring_entries({}): expected 1..={MAX_RING_ENTRIES}",
                    self.ring_entries
                ),
            ));
        }
        let pool = match &self.shared_pool {
            Some(pool) => pool.clone(),
            None => Arc::new(Pool::new(self.blocking)),
        };
        let config = DriverConfig {
            choice: self.driver,
            ring_entries: self.ring_entries,
            registered_fds: self.registered_fds,
            pool: pool.clone(),
        };
        let (driver, notifier, info) = driver::open(&config)?;
        let remote = Arc::new(Remote::new(notifier));
        let shutdown = ShutdownState::new(self.grace);
        Ok(Runtime {
            core: Rc::new(Core::new(driver, remote, shutdown.clone(), pool)),
            info,
            config: self.clone(),
            shutdown,
            last_run: std::sync::Mutex::new(Vec::new()),
        })
    }
}
