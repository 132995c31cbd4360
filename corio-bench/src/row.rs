//! One (case, server) measurement, and the per-unit figures the report derives from it (per
//! request, per file read or per megabyte, as the case's workload counts its work).

use crate::load::LoadResult;
use crate::servers::{ServerSpec, Syscalls};
use crate::snap::ServerSnap;
use crate::workloads::Case;

#[derive(Debug, Clone)]
pub struct Row {
    pub case: Case,
    pub server: &'static ServerSpec,
    pub load: Option<LoadResult>,
    /// Server figures over the measured window.
    pub server_window: Option<ServerSnap>,
    pub error: Option<String>,
}

impl Row {
    pub fn new(case: &Case, server: &'static ServerSpec) -> Row {
        Row {
            case: case.clone(),
            server,
            load: None,
            server_window: None,
            error: None,
        }
    }

    fn per_unit(&self, n: Option<u64>) -> Option<f64> {
        let units = self.case.workload.unit.count(self.load.as_ref()?);
        (units > 0.0).then(|| n.map(|n| n as f64 / units))?
    }

    /// Server CPU (its own getrusage) per unit of work, µs.
    pub fn cpu_us_per_unit(&self) -> Option<f64> {
        self.per_unit(self.server_window.map(|s| s.cpu_us))
    }

    /// The same from /proc/<pid>/stat (clock ticks): a cross-check that needs no help from the
    /// server.
    pub fn proc_cpu_us_per_unit(&self) -> Option<f64> {
        self.per_unit(self.server_window.and_then(|s| s.proc_cpu_us))
    }

    /// Driver syscalls per unit: io_uring_enter calls on completion servers; epoll_wait plus
    /// I/O syscalls on readiness servers. None where the server cannot count them.
    pub fn syscalls_per_unit(&self) -> Option<f64> {
        let s = self.server_window?;
        let n = match self.server.syscalls {
            Syscalls::Enters => s.enters,
            Syscalls::EpollWaitsAndIo => Some(s.epoll_waits? + s.io_syscalls?),
            Syscalls::Uncounted => None,
        };
        self.per_unit(n)
    }
}
