//! `CancellationToken`: structured shutdown. Cancelling a token cancels its children (and
//! theirs), never its parent; every `cancelled()` future of a cancelled token completes, on any
//! worker (the token is thread-safe, so one token can fan out to every worker's tasks).
//!
//! ```
//! use corio::sync::CancellationToken;
//!
//! corio::block_on(async {
//!     let shutdown = CancellationToken::new();
//!     let conn = shutdown.child_token();
//!     let task = corio::spawn(async move {
//!         conn.cancelled().await; // or select! it against the work
//!         "closed"
//!     });
//!     shutdown.cancel();
//!     assert_eq!(task.await.unwrap(), "closed");
//! });
//! ```

use super::lock;
use super::waiters::{wake_all, Waiters};
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;

struct Node {
    state: Mutex<NodeState>,
}

#[derive(Default)]
struct NodeState {
    cancelled: bool,
    waiters: Waiters,
    /// Children still alive; a dropped child's entry is pruned when the list grows.
    children: Vec<Weak<Node>>,
}

/// A token that can be cancelled once, with child tokens that are cancelled with it.
#[derive(Clone)]
pub struct CancellationToken {
    node: Arc<Node>,
}

impl CancellationToken {
    /// A new, uncancelled token with no parent.
    pub fn new() -> Self {
        CancellationToken {
            node: Arc::new(Node {
                state: Mutex::new(NodeState::default()),
            }),
        }
    }

    /// A token cancelled when this one is (at once, if it already is); cancelling the child
    /// does not cancel this one.
    pub fn child_token(&self) -> CancellationToken {
        let child = CancellationToken::new();
        let mut s = lock(&self.node.state);
        if s.cancelled {
            lock(&child.node.state).cancelled = true;
        } else {
            if s.children.len() >= 16 && s.children.len().is_power_of_two() {
                s.children.retain(|c| c.strong_count() > 0);
            }
            s.children.push(Arc::downgrade(&child.node));
        }
        child
    }

    /// Cancels this token and its descendants, waking everything waiting on them.
    pub fn cancel(&self) {
        let mut stack = vec![self.node.clone()];
        let mut wake = Vec::new();
        while let Some(node) = stack.pop() {
            let mut s = lock(&node.state);
            if s.cancelled {
                continue;
            }
            s.cancelled = true;
            s.waiters.grant_all(&mut wake);
            stack.extend(s.children.drain(..).filter_map(|c| c.upgrade()));
        }
        wake_all(wake);
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        lock(&self.node.state).cancelled
    }

    /// Completes once the token is cancelled. Cancel-safe.
    pub async fn cancelled(&self) {
        let mut guard = Waiting {
            node: &self.node,
            ticket: None,
        };
        poll_fn(move |cx| {
            let mut s = lock(&guard.node.state);
            if s.cancelled {
                if let Some(t) = guard.ticket.take() {
                    s.waiters.remove(t);
                }
                return Poll::Ready(());
            }
            match guard.ticket {
                Some(t) => s.waiters.set_waker(t, cx.waker()),
                None => guard.ticket = Some(s.waiters.push(cx.waker(), 0)),
            }
            Poll::Pending
        })
        .await
    }

    /// A guard that cancels the token when dropped (`disarm` keeps it from doing so).
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { token: Some(self) }
    }
}

impl Default for CancellationToken {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Cancels its token on drop; see [`CancellationToken::drop_guard`].
#[derive(Debug)]
pub struct DropGuard {
    token: Option<CancellationToken>,
}

impl DropGuard {
    /// Gives the token back without cancelling it.
    pub fn disarm(mut self) -> CancellationToken {
        self.token
            .take()
            .expect("a DropGuard holds its token until dropped")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(t) = self.token.take() {
            t.cancel();
        }
    }
}

/// A dropped `cancelled()` removes its waiter entry.
struct Waiting<'a> {
    node: &'a Arc<Node>,
    ticket: Option<u64>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            lock(&self.node.state).waiters.remove(t);
        }
    }
}
