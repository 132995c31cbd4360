//! The file-serve workload: a static file server per runtime (`corio-bench serve file`), each
//! request one byte asking for a 1 MiB file that the server reads in 64 KiB chunks and sends,
//! over 50 connections; corio's load generator checks every byte of every answer against the
//! file's content. Runs like echo (`echo::serve_and_load`); work is counted in megabytes.

use super::spec::{self, Case, CaseParams, RunEnv, Subject, Workload};
use super::{echo, fixture};
use crate::load::Mode;
use crate::results::{Row, Unit};

pub static FILE_SERVE: Workload = Workload {
    name: "file-serve",
    about: "a static file server: 50 connections fetching a 1 MiB file again and again, read \
            in 64 KiB chunks and sent",
    cases,
    subjects: || spec::servers_with(|s| s.file.is_some()),
    supports: |_, _| true,
    available: spec::always,
    subject_available: spec::every,
    run,
    finish: fixture::remove,
    model_pairs: &[("corio-uring", "corio-epoll")],
    also: &[("corio-uring", "tokio"), ("corio-epoll", "tokio")],
    model_note: Some(
        "Model: each 64 KiB chunk is a file read then a socket write; tokio sends every read \
         to its blocking pool (a thread hop per chunk, on the same core), io_uring reads it \
         like a socket, and corio-epoll sends it to its own blocking pool as tokio does. Most \
         of the CPU is the kernel copying 1 MiB into the socket either way.",
    ),
    threads_share_core: true,
    // A 1 MiB answer takes tens of milliseconds: a shorter window may see none end.
    min_secs: 0.5,
};

fn cases(_: &CaseParams) -> Vec<Case> {
    vec![Case {
        name: "file-serve c=50".into(),
        workload: &FILE_SERVE,
        unit: Unit::Megabyte,
        pattern: "fetch",
        conns: 50,
        size: fixture::SMALL.1 as usize,
        depth: 1,
        rate: None,
        in_default: true,
        scales: false,
    }]
}

fn run(case: &Case, subject: &Subject, env: &RunEnv) -> Row {
    let file = match fixture::file(fixture::SMALL) {
        Ok(f) => f,
        Err(e) => {
            let mut row = env.row(case, subject);
            row.error = Some(e);
            return row;
        }
    };
    let file = file.to_string_lossy().into_owned();
    echo::serve_and_load(case, subject, env, &["file", "--file", &file], Mode::Fetch)
}
