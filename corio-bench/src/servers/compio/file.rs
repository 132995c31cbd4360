//! compio's file services on its io_uring driver: the static file server and the file-read
//! runner, on `compio::fs::File::read_at` (an io_uring READ).

use super::runtime::runtime;
use crate::content::BLOCK;
use crate::servers::contract::{no_file, Worker, CHUNK};
use crate::servers::reader::{Meter, ReadJob, Reader};
use compio::fs::File;
use compio::io::{AsyncRead, AsyncReadAt, AsyncWriteExt};
use compio::BufResult;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
    let len = std::fs::metadata(&path)?.len();
    runtime()?.block_on(async move {
        let file = File::open(&path).await?;
        let listener = compio::net::TcpListener::from_std(listener)?;
        ready.up(None);
        loop {
            let (stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            // A compio task is cancelled when its handle drops: detach it to let it run.
            compio::runtime::spawn(send_file(stream, file.clone(), len)).detach();
        }
    })
}

/// Each byte received asks for the whole file: read a chunk, send it, until the end.
async fn send_file(mut stream: compio::net::TcpStream, file: File, len: u64) {
    let _ = stream.set_nodelay(true);
    let mut req = Vec::with_capacity(64);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        // compio reads into the start of the buffer but only ever grows its length: empty it.
        req.clear();
        let BufResult(res, r) = stream.read(req).await;
        req = r;
        let asked = match res {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for _ in 0..asked {
            let mut off = 0;
            while off < len {
                chunk.clear();
                let BufResult(res, c) = file.read_at(chunk, off).await;
                match res {
                    Ok(0) | Err(_) => return,
                    Ok(n) => off += n as u64,
                }
                let BufResult(res, c) = stream.write_all(c).await;
                if res.is_err() {
                    return;
                }
                chunk = c;
            }
        }
    }
}

/// The file-read runner: `depth` tasks, one read in flight each.
pub(super) fn read(job: &ReadJob, meter: &Arc<Meter>) -> io::Result<()> {
    runtime()?.block_on(async {
        let file = File::open(&job.file).await?;
        let tasks: Vec<_> = (0..job.depth)
            .map(|slot| {
                let reader = Reader::new(slot, job);
                compio::runtime::spawn(read_loop(file.clone(), reader, meter.clone()))
            })
            .collect();
        meter.start();
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    })
}

async fn read_loop(file: File, mut r: Reader, meter: Arc<Meter>) {
    let mut buf = Vec::with_capacity(BLOCK);
    loop {
        let off = r.next_offset();
        buf.clear();
        let BufResult(res, b) = file.read_at(buf, off).await;
        buf = b;
        if !r.done(&meter, off, res, &buf) {
            return;
        }
    }
}
