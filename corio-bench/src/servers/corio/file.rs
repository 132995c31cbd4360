//! corio's file services, on either driver: the static file server and the file-read runner,
//! both on `corio::fs::File::read_at`. On io_uring a read is an SQE like a socket's; on epoll
//! it is a job on corio's blocking pool (the executor thread never blocks on the file).

use super::accept::{accept_loop, publish_now, runtime};
use crate::content::BLOCK;
use crate::servers::contract::{no_file, Worker, CHUNK};
use crate::servers::reader::{Meter, ReadJob, Reader};
use corio::fs::File;
use corio::net::TcpStream;
use corio::DriverChoice;
use std::io;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The static file server: the file is opened once per worker and shared by its connections.
pub(super) fn serve(driver: DriverChoice, w: Worker) -> io::Result<()> {
    accept_loop(driver, w, |file, _| {
        let path = file.ok_or_else(no_file)?;
        let len = std::fs::metadata(&path)?.len();
        let file = Rc::new(File::from_std(std::fs::File::open(&path)?)?);
        Ok(move |stream| send_file(stream, file.clone(), len))
    })
}

/// Each byte received asks for the whole file: read a chunk, send it, until the end.
async fn send_file(stream: TcpStream, file: Rc<File>, len: u64) {
    let _ = stream.set_nodelay(true);
    let mut req = Vec::with_capacity(64);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        req.clear();
        let (res, r) = stream.read(req).await;
        req = r;
        let asked = match res {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for _ in 0..asked {
            let mut off = 0;
            while off < len {
                chunk.clear();
                let (res, c) = file.read_at(chunk, off).await;
                match res {
                    Ok(0) | Err(_) => return, // the file shrank: the client sees a short body
                    Ok(n) => off += n as u64,
                }
                let (res, c) = stream.write_all(c).await;
                if res.is_err() {
                    return;
                }
                chunk = c;
            }
        }
    }
}

/// The file-read runner: `depth` tasks, one read in flight each. No timer runs beside them
/// (the servers' 10 ms counter-publishing one would make every wait an enter with a timeout,
/// which the bare loop does not pay): the tasks publish the counters themselves.
pub(super) fn read(driver: DriverChoice, job: &ReadJob, meter: &Arc<Meter>) -> io::Result<()> {
    let rt = runtime(driver)?;
    rt.block_on(async {
        let file = Rc::new(File::open(&job.file).await?);
        let tasks: Vec<_> = (0..job.depth)
            .map(|slot| {
                let reader = Reader::new(slot, job);
                corio::spawn(read_loop(file.clone(), reader, meter.clone()))
            })
            .collect();
        meter.start();
        for t in tasks {
            // A task that panicked stopped reading: its reads stop counting.
            let _ = t.await;
        }
        Ok(())
    })
}

/// One slot's reads. Every 64th read of the runner (all slots together) publishes the
/// driver's counters, so a window's syscall count lags by at most 64 reads however short the
/// window. (On epoll a file read is ready at once, so this task never yields to the executor:
/// corio has no cooperative budget, and at depth 64 one task reads while the others wait for
/// it to end.)
async fn read_loop(file: Rc<File>, mut r: Reader, meter: Arc<Meter>) {
    let mut buf = Vec::with_capacity(BLOCK);
    loop {
        let off = r.next_offset();
        buf.clear();
        let (res, b) = file.read_at(buf, off).await;
        buf = b;
        let go_on = r.done(&meter, off, res, &buf);
        if meter.ops.load(Ordering::Relaxed).is_multiple_of(64) {
            publish_now(&meter.counters);
        }
        if !go_on {
            return;
        }
    }
}
