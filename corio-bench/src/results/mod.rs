//! The one result type of every run, and results.json, its file: [`Results`] holds the run
//! (command, commit, machine, settings, what was skipped, what each workload compares) and
//! one [`Row`] per (case, server, syscall cost, workers, round). Every workload produces these
//! rows; every exporter (`export/`) reads only a `Results`, fresh from the suite or read back
//! from a committed results.json (`corio-bench report FILE`), so a report can always be
//! remade from its data. [`summary`] turns rows into per-round medians, ranges and ratios.
//!
//! The file is the schema: a field is null where it was not measured (a server that cannot
//! count its syscalls, a workload without a load generator), never a made-up zero. `SCHEMA`
//! changes with any incompatible change.

pub mod instr;
mod machine;
mod row;
pub mod summary;

pub use machine::{BusyProbe, Machine};
pub use row::{LoadFigures, Memory, Model, Row, ServerFigures, Unit};

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The version of results.json this code writes and reads.
pub const SCHEMA: u32 = 2;

/// One run of the harness, whole.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    /// The command line that produced it.
    pub command: String,
    /// The checkout's commit (`git describe --always --dirty`), where known.
    pub commit: Option<String>,
    /// When the run started, seconds since the Unix epoch.
    pub started_unix: u64,
    pub took_secs: f64,
    pub machine: Machine,
    pub settings: Settings,
    /// What each workload that ran compares, and in what units.
    pub workloads: Vec<WorkloadInfo>,
    /// What one syscall cost, measured under each syscall-cost level (empty: not measured).
    pub syscall_costs: Vec<CostProbe>,
    /// What could not run here, and why (a workload, or one server of a workload).
    pub skipped: Vec<Skipped>,
    pub rows: Vec<Row>,
}

/// How the run was made.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    /// Measured seconds per run, after `warmup` unmeasured ones.
    pub secs: f64,
    pub warmup: f64,
    /// Every (case, server) ran this many times, the servers' order rotated each round.
    pub rounds: usize,
    pub quick: bool,
    /// The load generator's corio driver.
    pub load_driver: String,
    /// The cores the server (or proxy) was pinned to at one worker, and the load generator's.
    pub server_core: Option<usize>,
    pub load_core: Option<usize>,
    /// Why io_uring is refused here (only the servers that do not need it ran).
    pub uring_refused: Option<String>,
    /// The syscall-cost levels, the first being the baseline of the per-workload charts.
    pub syscall_costs: Vec<String>,
    /// Worker counts, the first being the baseline.
    pub workers: Vec<usize>,
}

/// What a workload compares, so that a report needs nothing but this file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkloadInfo {
    pub name: String,
    pub about: String,
    /// Pairs (a, b) whose ratio a/b the verdicts give: first the like-for-like model pairs
    /// (`model_pair`: a completion server and its readiness twin), then the workload's own.
    pub comparisons: Vec<Comparison>,
    /// One line from the model, where the syscall counters cannot tell why the models differ.
    pub model_note: Option<String>,
    /// The servers' own threads share their core by design (a blocking pool): their run-queue
    /// wait is their own, not a disturbance.
    pub threads_share_core: bool,
    /// The servers (or proxies) it can run, in report order.
    pub subjects: Vec<SubjectInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub model_pair: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubjectInfo {
    pub name: String,
    pub model: Model,
    pub about: String,
    /// The bare loop of its model, which the others of the model are measured against.
    pub floor: bool,
}

/// The measured price of one syscall under a syscall-cost level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CostProbe {
    pub level: String,
    /// What the level is (the filter, its size, whether the kernel can cache its answers).
    pub about: String,
    /// ns per call of each probed syscall (read, recvfrom, sendto, epoll_wait,
    /// io_uring_enter, each on a bad fd so the call itself does nothing), median of 3 probes.
    pub ns: Vec<(String, f64)>,
    /// Their mean: the level's x in the syscall-cost charts.
    pub mean_ns: f64,
    /// The seccomp filters the probe found itself under (the harness's own, if any, plus the
    /// level's): the proof the level's filter was installed.
    pub filters: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skipped {
    /// A workload, or "WORKLOAD/SERVER".
    pub what: String,
    pub reason: String,
}

impl Results {
    /// The workload's description, if it ran.
    pub fn workload(&self, name: &str) -> Option<&WorkloadInfo> {
        self.workloads.iter().find(|w| w.name == name)
    }

    /// results.json, pretty-printed.
    pub fn to_json(&self) -> String {
        let mut out = serde_json::to_string_pretty(self).expect("plain data serializes");
        out.push('\n');
        out
    }

    /// Reads a results.json; Err says why it is not one this code can read.
    pub fn read(path: &Path) -> Result<Results, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let schema = v.get("schema").and_then(|s| s.as_u64());
        if schema != Some(SCHEMA as u64) {
            return Err(format!(
                "{}: schema {schema:?}, this corio-bench reads schema {SCHEMA}",
                path.display()
            ));
        }
        serde_json::from_value(v).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The commit of the checkout this binary was run from, where git can say.
pub fn commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=10"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !s.trim().is_empty()).then(|| s.trim().to_string())
}
