//! Servers: corio on each driver, the bare io_uring and epoll loops, and the reference
//! runtimes, one folder per runtime (`corio/`, `tokio/`, `monoio/`, `compio/`, `raw/`), each
//! holding that runtime's services and its accept loop. The adapters know only the contract
//! (`contract.rs`, `reader.rs`, `counters.rs`, and the hyper service they share in
//! `http_service.rs`), never each other.
//!
//! `REGISTRY` is the table of every server the harness knows; the suite, `serve --server` and
//! the report read it and nothing else. Adding a server is a `ServerSpec` in its runtime's
//! folder and one line here.
//!
//! A server runs in a `corio-bench serve SERVICE --server NAME` child (`crate::serve`) until
//! SIGINT or SIGTERM, then prints one JSON stats line on stdout and exits 0. SIGUSR1 prints the
//! same line without exiting, so a harness can take before/after snapshots around a window.

pub mod contract;
pub mod counters;
pub mod http_service;
pub mod reader;

mod compio;
mod corio;
mod monoio;
mod raw;
mod tokio;

pub use self::corio::{driver_name, kind_name, name_for, AUTO as CORIO_AUTO};
pub use contract::ServerSpec;

/// Every server, in the order of the report's rows.
pub static REGISTRY: &[&ServerSpec] = &[
    &corio::URING,
    &corio::EPOLL,
    &corio::COMPAT,
    &raw::URING,
    &raw::EPOLL,
    &tokio::CURRENT_THREAD,
    &tokio::MULTI_THREAD,
    &monoio::SPEC,
    &compio::SPEC,
];

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
