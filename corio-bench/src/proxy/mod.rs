//! `corio-bench proxy`: corio-proxy under each driver against HAProxy (`mode tcp`, `nbthread
//! 1`), nginx's stream module (one worker) and a tokio current_thread proxy, on identical work,
//! in one run. The load generator and an echo upstream share one core, the proxy has the other
//! to itself (cases.rs says how one run goes). Rounds are interleaved (every proxy once per
//! case per round, the order rotated each round) and the table gives medians, ratios taken
//! within a round first (report.rs). A proxy this machine lacks is skipped with its reason.

mod cases;
mod proxies;
mod report;
mod tokio_proxy;

pub use cases::Timing;
pub use proxies::{find, names, ProxySpec};
pub use tokio_proxy::tokio_proxy_cmd;

use cases::Cores;
use std::time::Instant;

/// What `corio-bench proxy` runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub timing: Timing,
    pub rounds: usize,
    pub idle_pairs: usize,
    /// Empty: all of them.
    pub proxies: Vec<&'static ProxySpec>,
    /// Case names or their starts; empty: all.
    pub cases: Vec<String>,
}

/// Every case's name, in table order.
pub fn case_names() -> Vec<&'static str> {
    cases::cases(0).iter().map(|c| c.name).collect()
}

/// One run's outcome, kept for the report.
pub struct Outcome {
    pub round: usize,
    pub case: usize,
    pub proxy: &'static ProxySpec,
    pub result: Result<cases::Measured, String>,
}

/// This process's fd limit (soft), which its children inherit.
pub(crate) fn fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass; on failure it stays zero.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur
}

/// Raises the fd limit as far as it goes (children inherit it) toward what `pairs` idle pairs
/// need: two sockets per pair in the proxy, one in this process and one in the echo upstream,
/// and a few to spare. Returns the pairs that fit the limit it got.
fn fit_fd_limit(pairs: usize) -> usize {
    let want = 2 * pairs as u64 + FD_SPARE;
    if fd_limit() < want {
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        // SAFETY: setrlimit reads the struct we pass; raising the hard limit needs
        // CAP_SYS_RESOURCE, and a refusal leaves the old limits.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            crate::raise_fd_limit();
        }
    }
    let fit = (fd_limit().saturating_sub(FD_SPARE) / 2) as usize;
    if fit < pairs {
        eprintln!(
            "corio-bench proxy: the fd limit ({}, and no CAP_SYS_RESOURCE to raise it) fits \
             {fit} idle pairs through a proxy, not {pairs}: the idle case opens {fit}",
            fd_limit()
        );
    }
    pairs.min(fit.max(1))
}

/// Descriptors a proxy needs beyond two per pair (listener, ring, epoll, logs, pipes).
const FD_SPARE: u64 = 200;

/// Runs the proxy workload and prints its tables; exit status 0, or 1 if nothing could run.
pub fn proxy_cmd(opts: Options) -> i32 {
    let cpus = crate::child::allowed_cpus();
    if cpus.len() < 2 {
        eprintln!("corio-bench proxy: needs two cores (the proxy alone on one), has {cpus:?}");
        return 1;
    }
    let cores = Cores {
        load: cpus[0],
        proxy: cpus[1],
    };
    let idle_pairs = fit_fd_limit(opts.idle_pairs);
    let all = cases::cases(idle_pairs);
    let picked: Vec<usize> = (0..all.len())
        .filter(|&i| {
            opts.cases.is_empty()
                || opts
                    .cases
                    .iter()
                    .any(|w| all[i].name.starts_with(w.as_str()))
        })
        .collect();
    let wanted: Vec<&'static ProxySpec> = if opts.proxies.is_empty() {
        proxies::PROXIES.iter().collect()
    } else {
        opts.proxies.clone()
    };
    let mut skipped = Vec::new();
    let mut live = Vec::new();
    for p in wanted {
        match p.available() {
            Ok(()) => live.push(p),
            Err(why) => {
                eprintln!("corio-bench proxy: skipping {}: {why}", p.name);
                skipped.push((p.name, why));
            }
        }
    }
    if live.is_empty() || picked.is_empty() {
        eprintln!("corio-bench proxy: nothing to run");
        return 1;
    }
    // This thread is the load generator: on the load core, with the upstream.
    if let Err(e) = crate::child::pin_current_thread(cores.load) {
        eprintln!("corio-bench proxy: pinning to core {}: {e}", cores.load);
    }
    let dir = std::env::temp_dir().join(format!("corio-bench-proxy-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("corio-bench proxy: creating {}: {e}", dir.display());
        return 1;
    }
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for round in 0..opts.rounds {
        for &c in &picked {
            let case = &all[c];
            let mut order: Vec<&'static ProxySpec> = live
                .iter()
                .copied()
                .filter(|p| cases::runs(case, p))
                .collect();
            if !order.is_empty() {
                let n = order.len();
                order.rotate_left(round % n);
            }
            for proxy in order {
                let result = cases::run(case, proxy, &cores, opts.timing, &dir);
                eprintln!(
                    "[{:>4.0}s] round {}/{} {} {}: {}",
                    started.elapsed().as_secs_f64(),
                    round + 1,
                    opts.rounds,
                    case.name,
                    proxy.name,
                    report::one_line(case, &result)
                );
                outcomes.push(Outcome {
                    round,
                    case: c,
                    proxy,
                    result,
                });
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    print!(
        "{}",
        report::render(&all, &picked, &live, &skipped, &outcomes, &opts, &cores)
    );
    0
}
