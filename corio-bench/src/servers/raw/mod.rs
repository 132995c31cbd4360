//! The bare loops, one per model, with no runtime: the floors the runtimes of each model are
//! measured against. `uring.rs` (echo) and `uring_file.rs` (file reads) on the io-uring
//! crate, sharing `ring.rs`; `epoll.rs` on libc.

mod epoll;
mod ring;
mod uring;
mod uring_file;

use crate::servers::contract::{Model, ServerSpec, Syscalls, Threads};

pub static URING: ServerSpec = ServerSpec {
    name: "raw-uring",
    model: Model::Completion,
    about: "a bare loop on the io-uring crate: multishot accept; one RECV or SEND in flight \
            per connection; every SQE of a turn in one `submit_and_wait`; \
            SINGLE_ISSUER/COOP_TASKRUN/DEFER_TASKRUN",
    needs_uring: true,
    floor: true,
    syscalls: Syscalls::Enters,
    threads: Threads::PerWorker,
    scales: false,
    sweep_only: false,
    echo: Some(uring::run),
    file: None,
    http: None,
    file_read: Some(uring_file::run),
};

pub static EPOLL: ServerSpec = ServerSpec {
    name: "raw-epoll",
    model: Model::Readiness,
    about: "a bare libc loop: edge-triggered epoll; read until a short read, write back, \
            EPOLLOUT for short writes",
    needs_uring: false,
    floor: true,
    syscalls: Syscalls::EpollWaitsAndIo,
    threads: Threads::PerWorker,
    scales: false,
    sweep_only: false,
    echo: Some(epoll::run),
    file: None,
    http: None,
    file_read: None,
};
