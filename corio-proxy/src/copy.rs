//! One direction of a pair: corio's `io::copy_half` (buffered) or `io::copy_half_spliced`
//! (kernel to kernel through a pipe), with the pair's byte counter and idle clock as the
//! copy's observer. A direction waits until the source is readable before it takes a buffer
//! (or a pipe) from the worker's pool and gives it back once the bytes are delivered, so an
//! idle pair holds neither, and a destination that does not read stalls only this
//! direction's reads (backpressure), never grows memory.
//!
//! EOF from the source becomes shutdown(Write) on the destination; the direction is then done.
//! An error (a reset on either side) ends it with the error, and the pair is torn down.

use crate::metrics::Counter;
use corio::io::{copy_half, copy_half_spliced, CopyObserver, CopyOptions, Splice};
use corio::net::TcpStream;
use std::cell::Cell;
use std::io;
use std::time::Instant;

/// Bytes per copy buffer: one read's worth, the most a direction holds in user space.
const BUF_SIZE: usize = 16 << 10;

/// When bytes last moved either way, for the idle timeout (only read when one is set).
pub struct Activity {
    last: Cell<Instant>,
    enabled: bool,
}

impl Activity {
    pub fn new(enabled: bool) -> Activity {
        Activity {
            last: Cell::new(Instant::now()),
            enabled,
        }
    }

    fn touch(&self) {
        if self.enabled {
            self.last.set(Instant::now());
        }
    }

    pub fn last(&self) -> Instant {
        self.last.get()
    }
}

/// Counts the bytes read, and each read and each partial write as activity (a slow reader
/// that keeps taking bytes is not idle).
struct Progress<'a> {
    moved: &'a Counter,
    activity: &'a Activity,
}

impl CopyObserver for Progress<'_> {
    fn read(&self, n: usize) {
        self.activity.touch();
        self.moved.add(n as u64);
    }

    fn wrote(&self, _n: usize) {
        self.activity.touch();
    }
}

/// Copies `from` to `to` through pooled buffers until EOF (then shuts `to` for writing).
pub async fn buffered(
    from: &TcpStream,
    to: &TcpStream,
    moved: &Counter,
    activity: &Activity,
) -> io::Result<()> {
    let options = CopyOptions {
        buffer_size: BUF_SIZE,
        splice: Splice::Never,
    };
    let progress = Progress { moved, activity };
    copy_half(&mut &*from, &mut &*to, &options, &progress)
        .await
        .map(drop)
}

/// Copies `from` to `to` kernel to kernel through a pooled pipe until EOF.
pub async fn spliced(
    from: &TcpStream,
    to: &TcpStream,
    moved: &Counter,
    activity: &Activity,
) -> io::Result<()> {
    let progress = Progress { moved, activity };
    copy_half_spliced(from, to, &progress).await.map(drop)
}
