//! The counters a server's workers publish for its stats line: driver syscalls and operations
//! (where the runtime exposes them), connections accepted, requests served.

use std::sync::atomic::AtomicU64;

/// Summed over a server's workers for its stats line.
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
