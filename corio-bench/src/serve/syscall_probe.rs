//! `corio-bench syscall-probe`: what one syscall costs in this process, as the suite starts it
//! (pinned to the server's core, under a syscall-cost level's filter). Each probed syscall is
//! made on fd -1, so the kernel answers EBADF at once: what is timed is the way in and out of
//! the kernel, the seccomp filter included, not the work of the call; the fastest of several
//! batches counts. Prints one JSON line.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Calls per batch, and batches per probed syscall: the fastest batch counts (a batch that was
/// preempted on a busy machine is slower, never faster).
const CALLS: u32 = 5_000;
const BATCHES: u32 = 20;

/// The syscalls each model makes per request: readiness reads, sends and waits; completion
/// enters the ring.
const PROBED: [(&str, libc::c_long); 5] = [
    ("read", libc::SYS_read),
    ("recvfrom", libc::SYS_recvfrom),
    ("sendto", libc::SYS_sendto),
    ("epoll_wait", libc::SYS_epoll_wait),
    ("io_uring_enter", libc::SYS_io_uring_enter),
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeReport {
    /// ns per call, per syscall.
    pub ns: Vec<(String, f64)>,
    /// The seccomp filters this process runs under (/proc/self/status `Seccomp_filters`).
    pub filters: Option<u64>,
}

fn seccomp_filters() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp_filters:"))?;
    line.trim().parse().ok()
}

/// Times every probed syscall; prints the report. Exit code 0.
pub fn syscall_probe_cmd() -> i32 {
    let ns = PROBED
        .iter()
        .map(|&(name, nr)| (name.to_string(), ns_per_call(nr)))
        .collect();
    let report = ProbeReport {
        ns,
        filters: seccomp_filters(),
    };
    let line = serde_json::to_string(&report).expect("plain data serializes");
    println!("{line}");
    0
}

fn ns_per_call(nr: libc::c_long) -> f64 {
    // Warm the path (and the filter's cache, where the kernel keeps one) first.
    for _ in 0..1000 {
        bad_fd_call(nr);
    }
    (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..CALLS {
                bad_fd_call(nr);
            }
            t.elapsed().as_nanos() as f64 / CALLS as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn bad_fd_call(nr: libc::c_long) {
    // SAFETY: every probed syscall takes an fd first; -1 makes the kernel fail it with EBADF
    // before it reads any other argument (all null or zero).
    let rc = unsafe { libc::syscall(nr, -1, 0, 0, 0, 0, 0) };
    std::hint::black_box(rc);
}
