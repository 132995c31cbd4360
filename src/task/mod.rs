//! Tasks: spawned futures ([`crate::spawn`]) and their join handles, and closures on the
//! blocking pool ([`spawn_blocking`]). The machinery behind them — the task, its waker, its
//! executor — is in `runtime/task/` (tokio's layout).

mod blocking;

pub use crate::runtime::task::{JoinError, JoinHandle};
pub use blocking::{spawn_blocking, BlockingJoinHandle};
