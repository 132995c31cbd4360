//! corio on io_uring, echoing through corio-compat: `corio_compat::echo`, which reads and
//! writes through tokio's `AsyncRead`/`AsyncWrite` on a `Compat` stream exactly as tokio code
//! would. Measured next to corio-uring (the native owned-buffer API on the same driver), it
//! is what the compat layer costs per request.

use super::accept::accept_loop;
use crate::servers::contract::Worker;
use corio::net::TcpStream;
use corio::DriverChoice;
use std::future::Future;
use std::io;

pub(super) fn run(w: Worker) -> io::Result<()> {
    accept_loop(DriverChoice::IoUring, w, |_, _| Ok(echo))
}

/// The task of one connection is `corio_compat::echo` itself, as its docs spawn it (an `async
/// fn` around it would add a state machine of its own to every poll). It ends at EOF or on the
/// connection's first error, as the native echo does.
fn echo(stream: TcpStream) -> impl Future<Output = io::Result<u64>> {
    let _ = stream.set_nodelay(true);
    corio_compat::echo(corio_compat::Compat::new(stream))
}
