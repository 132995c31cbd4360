//! Thread-per-core: [`Runtime::run`](crate::Runtime::run) starts one executor (and one ring,
//! or one epoll instance) per worker thread, pinned to its core; [`serve_balanced`] hands
//! connections to the least-loaded worker; SIGINT and SIGTERM become a graceful shutdown.
//!
//! This layer sits above the I/O layers because it uses them: the balanced acceptor accepts
//! and moves sockets, the signal watcher reads a signalfd. What the workers share (their group,
//! the shutdown state, `spawn_on`, metrics) is the runtime's, below. See docs/architecture.md,
//! "Workers".

mod affinity;
mod balance;
mod run;
mod signals;

pub use balance::serve_balanced;
pub use run::RunResults;
