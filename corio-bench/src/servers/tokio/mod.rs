//! tokio (readiness model): its current_thread runtime, one per worker, for every service; and
//! its multi-thread scheduler over all the workers' cores, for the `--workers` sweep.

mod echo;
mod file;
mod http;

use crate::servers::contract::{Model, ServerSpec, Syscalls, Threads};

pub static CURRENT_THREAD: ServerSpec = ServerSpec {
    name: "tokio",
    model: Model::Readiness,
    about: "tokio's current_thread runtime (file reads: tokio::fs's model, each one a \
            spawn_blocking pread on its blocking pool)",
    needs_uring: false,
    floor: false,
    syscalls: Syscalls::Uncounted,
    threads: Threads::PerWorker,
    scales: false,
    sweep_only: false,
    echo: Some(echo::current_thread),
    file: Some(file::serve),
    http: Some(http::serve),
    file_read: Some(file::read),
};

pub static MULTI_THREAD: ServerSpec = ServerSpec {
    name: "tokio-mt",
    model: Model::Readiness,
    about: "tokio's multi-thread scheduler, one worker thread per core, one listener (work \
            stealing between the threads); in the --workers sweep only",
    needs_uring: false,
    floor: false,
    syscalls: Syscalls::Uncounted,
    threads: Threads::Shared,
    scales: true,
    sweep_only: true,
    echo: Some(echo::multi_thread),
    file: None,
    http: None,
    file_read: None,
};
