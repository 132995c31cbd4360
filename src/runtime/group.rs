//! The executors of one `run`, as each sees the others: their remotes (where jobs and wakes
//! go), the number of connections the balanced acceptor gave each, and their shutdown.

use super::remote::Remote;
use super::shutdown::ShutdownState;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

/// What the workers of one `run` share.
pub(crate) struct Group {
    pub(crate) remotes: Vec<Arc<Remote>>,
    /// Connections handed to each worker by `serve_balanced` and still open.
    pub(crate) active: Vec<AtomicUsize>,
    pub(crate) shutdown: Arc<ShutdownState>,
}

impl Group {
    pub(crate) fn single(remote: Arc<Remote>, shutdown: Arc<ShutdownState>) -> Group {
        Group {
            remotes: vec![remote],
            active: vec![AtomicUsize::new(0)],
            shutdown,
        }
    }

    pub(crate) fn new(remotes: Vec<Arc<Remote>>, shutdown: Arc<ShutdownState>) -> Group {
        let active = remotes.iter().map(|_| AtomicUsize::new(0)).collect();
        Group {
            remotes,
            active,
            shutdown,
        }
    }
}
