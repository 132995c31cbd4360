//! tokio's echo server: read up to 16 KiB, `write_all` it back, one task per connection; on a
//! current_thread runtime (one per worker) or on the multi-thread scheduler.

use crate::servers::contract::{Counters, Worker, BUF_SIZE};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(super) fn current_thread(w: Worker) -> io::Result<()> {
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
        let listener = listen(listener)?;
        ready.up(None);
        loop {
            let (stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            tokio::task::spawn_local(echo(stream));
        }
    })
}

/// `w.threads` worker threads of tokio's multi-thread scheduler on one listener.
pub(super) fn multi_thread(w: Worker) -> io::Result<()> {
    let Worker {
        listener,
        threads,
        counters,
        mut ready,
        ..
    } = w;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = listen(listener)?;
        ready.up(None);
        accept_spawning(listener, counters).await
    })
}

async fn accept_spawning(
    listener: tokio::net::TcpListener,
    counters: Arc<Counters>,
) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(echo(stream));
    }
}

fn listen(listener: std::net::TcpListener) -> io::Result<tokio::net::TcpListener> {
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

async fn echo(mut stream: tokio::net::TcpStream) {
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
}
