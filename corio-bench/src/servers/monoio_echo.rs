//! monoio on io_uring (completion model, thread-per-core), one runtime per worker.

use super::{Counters, BUF_SIZE};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub fn run(listener: std::net::TcpListener, counters: Arc<Counters>) -> io::Result<()> {
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .build()?;
    rt.block_on(async move {
        let listener = monoio::net::TcpListener::from_std(listener)?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            monoio::spawn(async move {
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
            });
        }
    })
}
