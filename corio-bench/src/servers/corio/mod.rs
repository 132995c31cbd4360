//! corio's servers: the echo, file and http services and the file-read runner on each driver,
//! the echo through corio-compat, and `serve echo --driver auto`. They share one accept loop
//! (`accept.rs`), the README's: one task per connection.

mod accept;
mod compat;
mod echo;
mod file;
mod http;

use crate::servers::contract::{Model, ServerSpec, Syscalls, Threads};
use corio::{DriverChoice, DriverKind};

pub static URING: ServerSpec = ServerSpec {
    name: "corio-uring",
    model: Model::Completion,
    about: "corio, io_uring driver",
    needs_uring: true,
    floor: false,
    syscalls: Syscalls::Enters,
    threads: Threads::PerWorker,
    scales: true,
    sweep_only: false,
    echo: Some(|w| echo::run(DriverChoice::IoUring, w)),
    file: Some(|w| file::serve(DriverChoice::IoUring, w)),
    http: Some(|w| http::serve(DriverChoice::IoUring, w)),
    file_read: Some(|job, meter| file::read(DriverChoice::IoUring, job, meter)),
};

pub static EPOLL: ServerSpec = ServerSpec {
    name: "corio-epoll",
    model: Model::Readiness,
    about: "corio, epoll driver (file reads on corio's blocking pool)",
    needs_uring: false,
    floor: false,
    syscalls: Syscalls::EpollWaitsAndIo,
    threads: Threads::PerWorker,
    scales: true,
    sweep_only: false,
    echo: Some(|w| echo::run(DriverChoice::Epoll, w)),
    file: Some(|w| file::serve(DriverChoice::Epoll, w)),
    http: Some(|w| http::serve(DriverChoice::Epoll, w)),
    file_read: Some(|job, meter| file::read(DriverChoice::Epoll, job, meter)),
};

/// corio on io_uring, echoing through corio-compat's tokio `AsyncRead`/`AsyncWrite`:
/// measured next to corio-uring, it is what the compat layer costs per request.
pub static COMPAT: ServerSpec = ServerSpec {
    name: "corio-uring-compat",
    model: Model::Completion,
    about: "corio, io_uring driver, echoing through corio-compat's tokio AsyncRead/AsyncWrite \
            (`corio_compat::echo` on a `Compat` stream: one copy each way)",
    needs_uring: true,
    floor: false,
    syscalls: Syscalls::Enters,
    threads: Threads::PerWorker,
    scales: false,
    sweep_only: false,
    echo: Some(compat::run),
    file: None,
    http: None,
    file_read: None,
};

/// `serve echo --driver auto`: not in the registry (the suite names the driver it measures);
/// its stats line names the driver it got (corio-uring or corio-epoll).
pub static AUTO: ServerSpec = ServerSpec {
    name: "corio",
    model: Model::Completion,
    about: "corio, io_uring where it works, else epoll",
    needs_uring: false,
    floor: false,
    syscalls: Syscalls::Enters,
    threads: Threads::PerWorker,
    scales: false,
    sweep_only: false,
    echo: Some(|w| echo::run(DriverChoice::Auto, w)),
    file: None,
    http: None,
    file_read: None,
};

/// The registered name of corio on `kind`.
pub fn name_for(kind: DriverKind) -> &'static str {
    match kind {
        DriverKind::IoUring => URING.name,
        DriverKind::Epoll => EPOLL.name,
    }
}

pub fn kind_name(kind: DriverKind) -> &'static str {
    match kind {
        DriverKind::IoUring => "io_uring",
        DriverKind::Epoll => "epoll",
    }
}

pub fn driver_name(driver: DriverChoice) -> &'static str {
    match driver {
        DriverChoice::Auto => "auto",
        DriverChoice::IoUring => "io_uring",
        DriverChoice::Epoll => "epoll",
    }
}
