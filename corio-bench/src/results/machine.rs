//! The machine a run measured, as a report's reader needs it to judge the figures: kernel,
//! CPU model and cores, what speculative-execution mitigations the kernel applies (each makes
//! every syscall dearer), whether this process already runs under a seccomp filter, and how
//! busy the machine was with other work during the run.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    /// `uname -r`.
    pub kernel: String,
    pub cpu_model: String,
    /// Online CPUs.
    pub cores: usize,
    /// The kernel's `mitigations=` boot setting, then every vulnerability it does not report
    /// as "Not affected", with its state (/sys/devices/system/cpu/vulnerabilities).
    pub mitigations: String,
    /// This process's seccomp state before any filter of ours (/proc/self/status): "none", or
    /// the mode and the number of filters a container runtime or sandbox installed.
    pub seccomp: String,
    pub busy: Busy,
}

/// How busy the machine was: load averages, and the share of all CPUs other processes (not
/// this run's) used while it ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Busy {
    pub loadavg_start: String,
    pub loadavg_end: String,
    /// Percent of the machine's CPU time (all cores) spent by processes outside this run.
    pub others_cpu_pct: Option<f64>,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

fn loadavg() -> String {
    read("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

fn cpu_model() -> String {
    read("/proc/cpuinfo")
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn mitigations() -> String {
    let boot = read("/proc/cmdline")
        .and_then(|c| {
            c.split_whitespace()
                .find_map(|w| w.strip_prefix("mitigations="))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "auto (default)".into());
    let mut found = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/sys/devices/system/cpu/vulnerabilities") {
        let mut entries: Vec<_> = dir.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let state = std::fs::read_to_string(e.path()).unwrap_or_default();
            let state = state.trim();
            if state != "Not affected" && !state.is_empty() {
                found.push(format!("{}: {state}", e.file_name().to_string_lossy()));
            }
        }
    }
    if found.is_empty() {
        format!("mitigations={boot}; no vulnerability reported")
    } else {
        format!("mitigations={boot}; {}", found.join("; "))
    }
}

fn seccomp() -> String {
    let status = read("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    match (field("Seccomp:").as_deref(), field("Seccomp_filters:")) {
        (Some("0"), _) => "none (Seccomp: 0)".into(),
        (Some("2"), Some(n)) => format!("filtered: {n} filter(s) already installed (Seccomp: 2)"),
        (Some(m), _) => format!("Seccomp: {m}"),
        (None, _) => "unknown".into(),
    }
}

/// Busy and idle jiffies of all CPUs together (/proc/stat's first line).
pub(crate) fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = read("/proc/stat")?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    let total: u64 = v.iter().take(8).sum();
    Some((total - idle, total))
}

/// Taken at the start of a run, finished at its end.
pub struct BusyProbe {
    loadavg: String,
    jiffies: Option<(u64, u64)>,
    ours_us: u64,
}

impl BusyProbe {
    pub fn start() -> BusyProbe {
        BusyProbe {
            loadavg: loadavg(),
            jiffies: cpu_jiffies(),
            ours_us: ours_us(),
        }
    }

    pub fn finish(self) -> Busy {
        // SAFETY: sysconf only reads a system value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let others = match (self.jiffies, cpu_jiffies()) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                let busy_us = (b1 - b0) as f64 / hz * 1e6;
                let total_us = (t1 - t0) as f64 / hz * 1e6;
                let ours = ours_us().saturating_sub(self.ours_us) as f64;
                Some(((busy_us - ours).max(0.0) / total_us * 100.0 * 10.0).round() / 10.0)
            }
            _ => None,
        };
        Busy {
            loadavg_start: self.loadavg,
            loadavg_end: loadavg(),
            others_cpu_pct: others,
        }
    }
}

/// This run's CPU time: this process and its reaped children (servers, proxies, wrk).
fn ours_us() -> u64 {
    crate::sys::process_cpu_us() + crate::sys::children_cpu_us()
}

impl Machine {
    /// The machine now; `busy` is filled at the end of the run.
    pub fn probe() -> Machine {
        // Not available_parallelism: this thread may be pinned to one core by now.
        // SAFETY: sysconf only reads a system value.
        let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
        Machine {
            kernel: read("/proc/sys/kernel/osrelease").unwrap_or_else(|| "?".into()),
            cpu_model: cpu_model(),
            cores,
            mitigations: mitigations(),
            seccomp: seccomp(),
            busy: Busy::default(),
        }
    }

    /// One line: "Linux 6.18, 2 CPUs (AMD EPYC ...)".
    pub fn line(&self) -> String {
        format!(
            "Linux {}, {} CPUs ({})",
            self.kernel, self.cores, self.cpu_model
        )
    }
}

impl Busy {
    /// One line for a report.
    pub fn line(&self) -> String {
        let others = match self.others_cpu_pct {
            Some(p) => format!("other processes used {p:.1} % of all CPUs during the run"),
            None => "other processes' CPU use unknown".into(),
        };
        format!(
            "load average {} at the start, {} at the end; {others}",
            self.loadavg_start, self.loadavg_end
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_described() {
        let m = Machine::probe();
        assert!(m.cores >= 1 && !m.kernel.is_empty());
        assert!(
            m.mitigations.starts_with("mitigations="),
            "{}",
            m.mitigations
        );
        assert!(!m.seccomp.is_empty());
        let probe = BusyProbe::start();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let busy = probe.finish();
        assert!(busy.line().contains("load average"), "{}", busy.line());
    }
}
