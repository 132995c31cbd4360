//! monoio on io_uring (completion model, thread-per-core), one runtime per worker: echo, the
//! file server and the file-read runner.

mod echo;
mod file;

use crate::servers::contract::{Model, ServerSpec, Syscalls, Threads};

pub static SPEC: ServerSpec = ServerSpec {
    name: "monoio",
    model: Model::Completion,
    about: "monoio with its io_uring driver",
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
