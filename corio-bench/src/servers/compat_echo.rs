//! corio on io_uring, echoing through corio-compat: `corio_compat::echo`, which reads and
//! writes through tokio's `AsyncRead`/`AsyncWrite` on a `Compat` stream exactly as tokio code
//! would. Measured next to corio-uring (the native owned-buffer API on the same driver), it
//! is what the compat layer costs per request.

use super::{corio_echo, Model, ServerSpec, Syscalls, Worker};
use corio::net::TcpStream;
use corio::DriverChoice;
use std::io;

pub static SPEC: ServerSpec = ServerSpec {
    name: "corio-uring-compat",
    model: Model::Completion,
    about: "corio, io_uring driver, echoing through corio-compat's tokio AsyncRead/AsyncWrite \
            (`corio_compat::echo` on a `Compat` stream: one copy each way)",
    needs_uring: true,
    floor: false,
    syscalls: Syscalls::Enters,
    echo: Some(run),
    file: None,
    http: None,
    file_read: None,
};

fn run(w: Worker) -> io::Result<()> {
    corio_echo::accept_loop(DriverChoice::IoUring, w, |_, _| Ok(echo))
}

async fn echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    // Ends at EOF or on the connection's first error, as the native echo does.
    let _ = corio_compat::echo(corio_compat::Compat::new(stream)).await;
}
