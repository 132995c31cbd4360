//! compio on its io_uring driver (completion model, thread-per-core), one runtime per worker.
//! Built with compio's `io-uring` feature only (no `polling`), so its driver cannot fall back
//! to readiness: where io_uring is refused the runtime fails to build.

use super::{Model, ServerSpec, Syscalls, Worker, BUF_SIZE};
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::BufResult;
use std::io;
use std::sync::atomic::Ordering;

pub static SPEC: ServerSpec = ServerSpec {
    name: "compio",
    model: Model::Completion,
    about: "compio with its io_uring driver",
    needs_uring: true,
    floor: false,
    syscalls: Syscalls::Uncounted,
    echo: Some(run),
    file: Some(super::compio_file::serve),
    http: None,
    file_read: Some(super::compio_file::read),
};

fn run(w: Worker) -> io::Result<()> {
    let Worker {
        listener,
        counters,
        mut ready,
        ..
    } = w;
    let rt = compio::runtime::RuntimeBuilder::new().build()?;
    if !rt.driver_type().is_iouring() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("compio runs on {:?}, not io_uring", rt.driver_type()),
        ));
    }
    rt.block_on(async move {
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
