//! One measurement: a case of a workload, against one server, under one syscall-cost level
//! and one worker count, in one round; and the per-unit figures derived from it (per request,
//! per file read, per megabyte or per idle pair, as the case counts its work).

use serde::{Deserialize, Serialize};

/// The I/O model a server is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    /// Operations submitted, woken on their completion (io_uring).
    Completion,
    /// Woken when a socket is ready, then the syscall (epoll).
    Readiness,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::Completion => "completion",
            Model::Readiness => "readiness",
        }
    }
}

/// What one unit of work is: CPU and syscalls are reported per unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Request,
    /// One file read.
    Op,
    /// One megabyte (10^6 bytes) moved.
    #[serde(rename = "MB")]
    Megabyte,
    /// One idle connection pair held open (memory only).
    Pair,
}

impl Unit {
    /// The word in the report ("CPU µs per request").
    pub fn name(self) -> &'static str {
        match self {
            Unit::Request => "request",
            Unit::Op => "op",
            Unit::Megabyte => "MB",
            Unit::Pair => "pair",
        }
    }

    /// The plural ("requests per CPU-second").
    pub fn plural(self) -> &'static str {
        match self {
            Unit::Request => "requests",
            Unit::Op => "ops",
            Unit::Megabyte => "MB",
            Unit::Pair => "pairs",
        }
    }

    /// The short form in column headers ("µs/req").
    pub fn short(self) -> &'static str {
        match self {
            Unit::Request => "req",
            Unit::Op => "op",
            Unit::Megabyte => "MB",
            Unit::Pair => "pair",
        }
    }

    /// How many units a run did.
    pub fn count(self, l: &LoadFigures) -> f64 {
        match self {
            Unit::Request | Unit::Op => l.requests as f64,
            Unit::Megabyte => l.bytes as f64 / 1e6,
            Unit::Pair => 0.0,
        }
    }
}

/// What the load side measured over the window (the load generator, wrk, or a file-read
/// runner's own count).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadFigures {
    pub requests: u64,
    pub bytes: u64,
    pub secs: f64,
    /// Latency quantiles, µs; null where not measured (file-read; wrk gives no p999).
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub p999_us: Option<f64>,
    /// Connections that ended early (reset, closed, timed out), or wrk's errors.
    pub errors: u64,
    /// Answers that differ from what was expected.
    pub corrupt: u64,
    pub connect_errors: u64,
    /// The load generator's CPU time over the window, µs: near the window, it limited the rate.
    pub load_cpu_us: Option<u64>,
    /// Its run-queue wait over the window, µs: more than a few percent, something took its core.
    pub load_wait_us: Option<u64>,
}

impl LoadFigures {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.secs.max(1e-9)
    }

    pub fn mbps(&self) -> f64 {
        self.bytes as f64 / self.secs.max(1e-9) / 1e6
    }

    /// The load generator's CPU use over the window, in percent of one core.
    pub fn load_cpu_pct(&self) -> Option<f64> {
        Some(self.load_cpu_us? as f64 / 1e4 / self.secs.max(1e-9))
    }
}

impl From<&crate::load::LoadResult> for LoadFigures {
    fn from(r: &crate::load::LoadResult) -> LoadFigures {
        let q = |v: f64| v.is_finite().then_some(v);
        LoadFigures {
            requests: r.requests,
            bytes: r.bytes,
            secs: r.secs,
            p50_us: q(r.p50_us),
            p99_us: q(r.p99_us),
            p999_us: q(r.p999_us),
            errors: r.errors,
            corrupt: r.corrupt,
            connect_errors: r.connect_errors,
            load_cpu_us: r.load_cpu_us,
            load_wait_us: r.load_wait_us,
        }
    }
}

/// What the server (or proxy) side measured over the window: its own stats lines' difference,
/// or /proc.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerFigures {
    /// CPU time (user + system, every thread), µs.
    pub cpu_us: u64,
    /// The same from /proc/PID/stat (clock ticks), a cross-check that needs no help from it.
    pub proc_cpu_us: Option<u64>,
    /// Its threads' run-queue wait (schedstat), µs.
    pub run_wait_us: Option<u64>,
    /// Driver syscalls: io_uring_enter calls on a completion server, epoll_wait plus I/O
    /// syscalls on a readiness one; null where the server cannot count them.
    pub syscalls: Option<u64>,
    pub enters: Option<u64>,
    pub epoll_waits: Option<u64>,
    pub io_syscalls: Option<u64>,
    pub ops_submitted: Option<u64>,
    pub completions: Option<u64>,
    /// Requests the server counted itself (http).
    pub requests: Option<u64>,
}

impl ServerFigures {
    /// `self - before`, field by field.
    pub fn since(&self, before: &ServerFigures) -> ServerFigures {
        let d = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        ServerFigures {
            cpu_us: self.cpu_us.saturating_sub(before.cpu_us),
            proc_cpu_us: d(self.proc_cpu_us, before.proc_cpu_us),
            run_wait_us: d(self.run_wait_us, before.run_wait_us),
            syscalls: d(self.syscalls, before.syscalls),
            enters: d(self.enters, before.enters),
            epoll_waits: d(self.epoll_waits, before.epoll_waits),
            io_syscalls: d(self.io_syscalls, before.io_syscalls),
            ops_submitted: d(self.ops_submitted, before.ops_submitted),
            completions: d(self.completions, before.completions),
            requests: d(self.requests, before.requests),
        }
    }
}

/// A proxy's resident memory around opening idle pairs through it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub pairs: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
}

impl Memory {
    pub fn kib_per_pair(&self) -> Option<f64> {
        (self.pairs > 0).then(|| {
            self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 / self.pairs as f64
        })
    }
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub workload: String,
    pub case: String,
    pub unit: Unit,
    /// The workload's word for how the load behaves (pingpong, churn, bulk, rate, ...).
    pub pattern: String,
    pub conns: usize,
    pub size: usize,
    pub depth: usize,
    /// Requests per second in total, for open-loop cases.
    pub rate: Option<f64>,
    pub server: String,
    pub model: Model,
    /// The syscall-cost level the server ran under ("none": no filter).
    pub syscall_cost: String,
    pub workers: usize,
    pub round: usize,
    pub load: Option<LoadFigures>,
    pub window: Option<ServerFigures>,
    pub memory: Option<Memory>,
    /// User-space instructions per unit, where counted (`corio-bench instr`).
    pub instr_per_unit: Option<f64>,
    pub error: Option<String>,
    /// Derived, for readers of the file (recomputed from the fields above, never read back).
    #[serde(default, skip_deserializing)]
    pub cpu_us_per_unit: Option<f64>,
    #[serde(default, skip_deserializing)]
    pub syscalls_per_unit: Option<f64>,
}

impl Row {
    fn per_unit(&self, n: Option<u64>) -> Option<f64> {
        let units = self.unit.count(self.load.as_ref()?);
        (units > 0.0).then(|| n.map(|n| n as f64 / units))?
    }

    /// Server CPU per unit of work, µs.
    pub fn cpu_per_unit(&self) -> Option<f64> {
        self.per_unit(self.window.map(|s| s.cpu_us))
    }

    /// Driver syscalls per unit; None where the server cannot count them.
    pub fn syscalls_per_unit(&self) -> Option<f64> {
        self.per_unit(self.window.and_then(|s| s.syscalls))
    }

    /// Fills the derived fields (before writing the file).
    pub fn derive(&mut self) {
        let round = |v: Option<f64>| v.filter(|v| v.is_finite()).map(|v| (v * 1e4).round() / 1e4);
        self.cpu_us_per_unit = round(self.cpu_per_unit());
        self.syscalls_per_unit = round(self.syscalls_per_unit());
    }

    /// Errors of any kind: the run's own, or the load's connection errors and corrupt answers.
    pub fn failures(&self) -> u64 {
        self.load
            .as_ref()
            .map_or(0, |l| l.errors + l.corrupt + l.connect_errors)
    }
}
