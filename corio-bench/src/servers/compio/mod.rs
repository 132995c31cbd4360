//! compio on its io_uring driver (completion model, thread-per-core), one runtime per worker:
//! echo, the file server and the file-read runner. Built with compio's `io-uring` feature only
//! (no `polling`), so its driver cannot fall back to readiness: where io_uring is refused the
//! runtime fails to build.

mod echo;
mod file;
mod runtime;

use crate::servers::contract::{Model, ServerSpec, Syscalls, Threads};

pub static SPEC: ServerSpec = ServerSpec {
    name: "compio",
    model: Model::Completion,
    about: "compio with its io_uring driver",
    needs_uring: true,
    floor: false,
    syscalls: Syscalls::Uncounted,
    threads: Threads::PerWorker,
    scales: true,
    sweep_only: false,
    echo: Some(echo::run),
    file: Some(file::serve),
    http: None,
    file_read: Some(file::read),
};
