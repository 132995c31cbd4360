//! monoio's echo server: read into an owned buffer, `write_all` it back, one task per
//! connection.

use crate::servers::contract::{Worker, BUF_SIZE};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use std::io;
use std::sync::atomic::Ordering;

pub(super) fn run(w: Worker) -> io::Result<()> {
    let Worker {
        listener,
        counters,
        mut ready,
        ..
    } = w;
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .build()?;
    rt.block_on(async move {
        let listener = monoio::net::TcpListener::from_std(listener)?;
        ready.up(None);
        loop {
            let (stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            monoio::spawn(echo(stream));
        }
    })
}

async fn echo(mut stream: monoio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(BUF_SIZE);
    loop {
        // monoio reads from the start of the buffer and sets its length.
        let (res, b) = stream.read(buf).await;
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let (res, b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = b;
    }
}
