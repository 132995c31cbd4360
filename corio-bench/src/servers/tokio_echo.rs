//! tokio's current_thread runtime (readiness model), one per worker.

use super::{Model, ServerSpec, Syscalls, Worker, BUF_SIZE};
use std::io;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub static SPEC: ServerSpec = ServerSpec {
    name: "tokio",
    model: Model::Readiness,
    about: "tokio's current_thread runtime (file reads: tokio::fs's model, each one a \
            spawn_blocking pread on its blocking pool)",
    needs_uring: false,
    floor: false,
    syscalls: Syscalls::Uncounted,
    echo: Some(run),
    file: Some(super::tokio_file::serve),
    http: Some(super::http::tokio),
    file_read: Some(super::tokio_file::read),
};

fn run(w: Worker) -> io::Result<()> {
    let Worker {
        listener,
        counters,
        mut ready,
        ..
    } = w;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        ready.up(None);
        loop {
            let (mut stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            tokio::task::spawn_local(async move {
                let _ = stream.set_nodelay(true);
                let mut buf = vec![0u8; BUF_SIZE];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}
