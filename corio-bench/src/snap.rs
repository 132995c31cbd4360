//! A server's figures at one instant: its stats line plus what /proc says about it, and the
//! difference of two such snapshots (the measured window).

use crate::servers::StatsLine;

/// What the server reported about itself on SIGUSR1, plus its CPU time read from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerSnap {
    /// The server's own getrusage (user + system), µs.
    pub cpu_us: u64,
    /// utime + stime from /proc/<pid>/stat, µs (clock-tick resolution); None if unreadable.
    pub proc_cpu_us: Option<u64>,
    /// Time its threads waited on a run queue (schedstat run_delay, summed over threads), µs.
    pub run_wait_us: Option<u64>,
    pub enters: Option<u64>,
    pub epoll_waits: Option<u64>,
    pub io_syscalls: Option<u64>,
    pub ops_submitted: Option<u64>,
    pub completions: Option<u64>,
    /// Requests served, where the server counts them (its `requests_hint`: http).
    pub requests: Option<u64>,
}

impl ServerSnap {
    /// Parses the server's stats line; None if it is not one.
    pub fn parse(line: &str) -> Option<ServerSnap> {
        let s = StatsLine::parse(line)?;
        Some(ServerSnap {
            cpu_us: s.cpu_us,
            proc_cpu_us: None,
            run_wait_us: None,
            enters: s.enters,
            epoll_waits: s.epoll_waits,
            io_syscalls: s.io_syscalls,
            ops_submitted: s.ops_submitted,
            completions: s.completions,
            requests: s.requests_hint,
        })
    }

    /// `self - before`, field by field.
    pub fn since(&self, before: &ServerSnap) -> ServerSnap {
        let d = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        ServerSnap {
            cpu_us: self.cpu_us.saturating_sub(before.cpu_us),
            proc_cpu_us: d(self.proc_cpu_us, before.proc_cpu_us),
            run_wait_us: d(self.run_wait_us, before.run_wait_us),
            enters: d(self.enters, before.enters),
            epoll_waits: d(self.epoll_waits, before.epoll_waits),
            io_syscalls: d(self.io_syscalls, before.io_syscalls),
            ops_submitted: d(self.ops_submitted, before.ops_submitted),
            completions: d(self.completions, before.completions),
            requests: d(self.requests, before.requests),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_line_round_trip() {
        let a = ServerSnap::parse(
            r#"{"server":"raw-uring","requests_hint":null,"cpu_us":100,"enters":5,"epoll_waits":null,"io_syscalls":null,"ops_submitted":7,"completions":7,"accepted":1}"#,
        )
        .unwrap();
        let b = ServerSnap::parse(
            r#"{"server":"raw-uring","requests_hint":null,"cpu_us":250,"enters":9,"epoll_waits":null,"io_syscalls":null,"ops_submitted":17,"completions":16,"accepted":2}"#,
        )
        .unwrap();
        let d = b.since(&a);
        assert_eq!((d.cpu_us, d.enters, d.epoll_waits), (150, Some(4), None));
        assert_eq!((d.ops_submitted, d.completions), (Some(10), Some(9)));
        assert_eq!(d.requests, None);
        let http = |n| {
            format!(
                r#"{{"server":"tokio","requests_hint":{n},"cpu_us":1,"enters":null,"epoll_waits":null,"io_syscalls":null,"ops_submitted":null,"completions":null,"accepted":1}}"#
            )
        };
        let d = ServerSnap::parse(&http(30))
            .unwrap()
            .since(&ServerSnap::parse(&http(12)).unwrap());
        assert_eq!(d.requests, Some(18));
        assert!(ServerSnap::parse("listening on 127.0.0.1:1").is_none());
        assert!(ServerSnap::parse(r#"{"server":"x","cpu_us":"many"}"#).is_none());
    }
}
