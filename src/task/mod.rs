//! Tasks: spawned futures ([`crate::spawn`]) and their join handles, sets of them
//! ([`JoinSet`]), [`yield_now`], and closures on the blocking pool ([`spawn_blocking`]). The
//! machinery behind them — the task, its waker, its executor — is in `runtime/task/` (tokio's
//! layout).

mod blocking;
mod join_set;
mod yield_now;

pub use crate::runtime::task::{JoinError, JoinHandle};
pub use blocking::{spawn_blocking, BlockingJoinHandle};
pub use join_set::JoinSet;
pub use yield_now::yield_now;
