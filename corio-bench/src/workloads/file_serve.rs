//! The file-serve workload: a static file server per runtime (`corio-bench serve file`), each
//! request one byte asking for a 1 MiB file that the server reads in 64 KiB chunks and sends,
//! over 50 connections; corio's load generator checks every byte of every answer against the
//! file's content. Runs like echo (`echo::serve_and_load`); work is counted in megabytes.

use super::{echo, fixture, Case, RunEnv, Unit, Workload};
use crate::load::Mode;
use crate::row::Row;
use crate::servers::ServerSpec;

pub static FILE_SERVE: Workload = Workload {
    name: "file-serve",
    unit: Unit::Megabyte,
    cases,
    supports: |s| s.file.is_some(),
    run,
    available: super::always,
    finish: fixture::remove,
    also: &[("corio-uring", "tokio"), ("corio-epoll", "tokio")],
    model_note: Some(
        "Model: each 64 KiB chunk is a file read then a socket write; tokio sends every read \
         to its blocking pool (a thread hop per chunk, on the same core), io_uring reads it \
         like a socket, and corio-epoll sends it to its own blocking pool as tokio does. Most \
         of the CPU is the kernel copying 1 MiB into the socket either way.",
    ),
    threads_share_core: true,
};

fn cases() -> Vec<Case> {
    vec![Case {
        name: "file-serve c=50".into(),
        workload: &FILE_SERVE,
        pattern: "fetch",
        conns: 50,
        size: fixture::SMALL.1 as usize,
        depth: 1,
        rate: None,
    }]
}

fn run(case: &Case, server: &'static ServerSpec, env: &RunEnv) -> Row {
    let file = match fixture::file(fixture::SMALL) {
        Ok(f) => f,
        Err(e) => {
            let mut row = Row::new(case, server);
            row.error = Some(e);
            return row;
        }
    };
    let file = file.to_string_lossy().into_owned();
    echo::serve_and_load(case, server, env, &["file", "--file", &file], Mode::Fetch)
}
