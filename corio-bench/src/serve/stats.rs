//! The stats line a server prints on SIGUSR1 and at exit: one JSON object on one line, null
//! where the server cannot count a figure.

use crate::servers::contract::{Counters, ServerSpec, Syscalls};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsLine {
    pub server: String,
    /// Requests served, from a service that knows what a request is (http); null for the
    /// others (echo and file servers see bytes, and the load generator counts requests).
    pub requests_hint: Option<u64>,
    /// Process CPU time, user + system, µs.
    pub cpu_us: u64,
    pub enters: Option<u64>,
    pub epoll_waits: Option<u64>,
    pub io_syscalls: Option<u64>,
    pub ops_submitted: Option<u64>,
    pub completions: Option<u64>,
    pub accepted: u64,
}

impl StatsLine {
    /// The figures now: `name` is the server as it runs (a corio server on `--driver auto`
    /// names the driver it got); `requests`: its service counts requests.
    pub fn now(
        spec: &ServerSpec,
        name: &str,
        requests: bool,
        counters: &[Arc<Counters>],
    ) -> StatsLine {
        let counted = spec.syscalls != Syscalls::Uncounted;
        let sum = |f: fn(&Counters) -> &AtomicU64| -> u64 {
            counters.iter().map(|c| f(c).load(Ordering::Relaxed)).sum()
        };
        let counter = |f: fn(&Counters) -> &AtomicU64| counted.then(|| sum(f));
        StatsLine {
            server: name.into(),
            requests_hint: requests.then(|| sum(|c| &c.requests)),
            cpu_us: crate::sys::process_cpu_us(),
            enters: counter(|c| &c.enters),
            epoll_waits: counter(|c| &c.epoll_waits),
            io_syscalls: counter(|c| &c.io_syscalls),
            ops_submitted: counter(|c| &c.ops_submitted),
            completions: counter(|c| &c.completions),
            accepted: sum(|c| &c.accepted),
        }
    }

    /// The line as printed (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a struct of numbers and a string serializes")
    }

    /// Parses a printed line; None if it is not one.
    pub fn parse(line: &str) -> Option<StatsLine> {
        serde_json::from_str(line.trim()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_with_nulls_where_uncounted() {
        let counters = vec![Arc::new(Counters::default()), Arc::new(Counters::default())];
        counters[0].accepted.store(3, Ordering::Relaxed);
        counters[1].accepted.store(4, Ordering::Relaxed);
        counters[1].enters.store(9, Ordering::Relaxed);
        let tokio = crate::servers::find("tokio").unwrap();
        counters[1].requests.store(5, Ordering::Relaxed);
        let line = StatsLine::now(tokio, "tokio", false, &counters).to_line();
        assert!(!line.contains('\n'));
        assert!(
            line.contains("\"enters\":null") && line.contains("\"accepted\":7"),
            "{line}"
        );
        assert!(line.contains("\"requests_hint\":null"), "{line}");
        let parsed = StatsLine::parse(&line).unwrap();
        assert_eq!((parsed.server.as_str(), parsed.enters), ("tokio", None));
        let raw = crate::servers::find("raw-uring").unwrap();
        let counted = StatsLine::now(raw, "raw-uring", false, &counters);
        assert_eq!((counted.enters, counted.epoll_waits), (Some(9), Some(0)));
        let http = StatsLine::now(tokio, "tokio", true, &counters);
        assert_eq!(http.requests_hint, Some(5));
        assert!(StatsLine::parse("listening on 127.0.0.1:1").is_none());
    }
}
