//! hyper on tokio's current_thread runtime, through hyper-util's `TokioIo` and `TokioTimer`.

use crate::servers::contract::{Counters, Worker};
use crate::servers::http_service;
use hyper::server::conn::http1;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(super) fn serve(w: Worker) -> io::Result<()> {
    let Worker {
        listener,
        counters,
        mut ready,
        ..
    } = w;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        ready.up(None);
        loop {
            let (stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            tokio::task::spawn_local(conn(stream, counters.clone()));
        }
    })
}

async fn conn(stream: tokio::net::TcpStream, counters: Arc<Counters>) {
    let _ = stream.set_nodelay(true);
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            http_service::service(counters),
        );
    let _ = conn.await;
}
