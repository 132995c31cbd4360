//! compio's echo server: read into an owned buffer, `write_all` it back, one task per
//! connection.

use super::runtime::runtime;
use crate::servers::contract::{Worker, BUF_SIZE};
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::BufResult;
use std::io;
use std::sync::atomic::Ordering;

pub(super) fn run(w: Worker) -> io::Result<()> {
    let Worker {
        listener,
        counters,
        mut ready,
        ..
    } = w;
    runtime()?.block_on(async move {
        let listener = compio::net::TcpListener::from_std(listener)?;
        ready.up(None);
        loop {
            let (stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            // A compio task is cancelled when its handle drops: detach it to let it run.
            compio::runtime::spawn(echo(stream)).detach();
        }
    })
}

async fn echo(mut stream: compio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(BUF_SIZE);
    loop {
        // compio reads into the start of the buffer but only ever grows its length (a short
        // read after a long one would leave stale bytes counted): empty it first.
        buf.clear();
        let BufResult(res, b) = stream.read(buf).await;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let BufResult(res, b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
    }
}
