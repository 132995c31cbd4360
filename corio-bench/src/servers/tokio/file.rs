//! tokio's file services, on tokio::fs's model: a readiness runtime cannot wait on a regular
//! file, so tokio::fs runs every file operation as a `spawn_blocking` closure on its blocking
//! pool, and the task waits for the closure's result (a thread hop there and back per
//! operation). These call `spawn_blocking(pread)` themselves: what each tokio::fs call does
//! inside, without tokio::fs::File's extra copy through its own buffer, or the second hop a
//! seek costs it before a read at an offset — tokio's cheapest file read.

use crate::content::BLOCK;
use crate::servers::contract::{no_file, Worker, CHUNK};
use crate::servers::reader::{Meter, ReadJob, Reader};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads up to `buf.len()` bytes at `off` on the blocking pool; gives the buffer back.
async fn pread(file: &Arc<File>, mut buf: Vec<u8>, off: u64) -> (io::Result<usize>, Vec<u8>) {
    let file = file.clone();
    let job = tokio::task::spawn_blocking(move || {
        let res = file.read_at(&mut buf, off);
        (res, buf)
    });
    match job.await {
        Ok(done) => done,
        // The closure panicked (it does not) or the runtime is shutting down.
        Err(e) => (Err(io::Error::other(e)), vec![0u8; BLOCK]),
    }
}

/// The static file server: the file is opened once per worker and shared by its connections.
pub(super) fn serve(w: Worker) -> io::Result<()> {
    let Worker {
        listener,
        counters,
        mut ready,
        file,
        ..
    } = w;
    let path = file.ok_or_else(no_file)?;
    let file = Arc::new(File::open(&path)?);
    let len = file.metadata()?.len();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        ready.up(None);
        loop {
            let (stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            tokio::task::spawn_local(send_file(stream, file.clone(), len));
        }
    })
}

/// Each byte received asks for the whole file: read a chunk, send it, until the end.
async fn send_file(mut stream: tokio::net::TcpStream, file: Arc<File>, len: u64) {
    let _ = stream.set_nodelay(true);
    let mut req = [0u8; 64];
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let asked = match stream.read(&mut req).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for _ in 0..asked {
            let mut off = 0;
            while off < len {
                let (res, c) = pread(&file, chunk, off).await;
                chunk = c;
                let n = match res {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                off += n as u64;
            }
        }
    }
}

/// The file-read runner: `depth` tasks on a current_thread runtime, one read in flight each,
/// each read a closure on the blocking pool.
pub(super) fn read(job: &ReadJob, meter: &Arc<Meter>) -> io::Result<()> {
    let file = Arc::new(File::open(&job.file)?);
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    rt.block_on(async {
        let tasks: Vec<_> = (0..job.depth)
            .map(|slot| {
                let reader = Reader::new(slot, job);
                tokio::spawn(read_loop(file.clone(), reader, meter.clone()))
            })
            .collect();
        meter.start();
        for t in tasks {
            let _ = t.await;
        }
    });
    Ok(())
}

async fn read_loop(file: Arc<File>, mut r: Reader, meter: Arc<Meter>) {
    let mut buf = vec![0u8; BLOCK];
    loop {
        let off = r.next_offset();
        let (res, b) = pread(&file, buf, off).await;
        buf = b;
        let n = *res.as_ref().unwrap_or(&0);
        if !r.done(&meter, off, res, &buf[..n.min(buf.len())]) {
            return;
        }
    }
}
