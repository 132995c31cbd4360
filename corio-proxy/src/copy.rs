//! One direction of a pair: corio's `io::copy_half` (buffered) or `io::copy_half_spliced`
//! (kernel to kernel through a pipe), with the pair's byte counters and idle activity as the
//! copy's observer. Either side is TCP or a Unix stream ([`Conn`]), in any mix, both ways. A direction waits until the source is readable before it takes a buffer
//! (or a pipe) from the worker's pool and gives it back once the bytes are delivered, so an
//! idle pair holds neither, and a destination that does not read stalls only this
//! direction's reads (backpressure), never grows memory.
//!
//! EOF from the source becomes shutdown(Write) on the destination; the direction is then done.
//! An error (a reset on either side) ends it with the error and the side it came from, and
//! the pair is torn down.

use crate::conn::Conn;
use crate::idle::Activity;
use crate::metrics::Counter;
use corio::io::{copy_half, copy_half_spliced, CopyObserver, CopyOptions, ReadMode, Splice};
use std::cell::Cell;
use std::io;

/// Bytes per copy buffer: one read's worth, the most a direction holds in user space.
const BUF_SIZE: usize = 16 << 10;

/// How a buffered direction copies, by read mode (constants: a direction's future, kept for
/// every pair idle or not, holds a reference rather than a copy).
const POOLED: CopyOptions = CopyOptions {
    buffer_size: BUF_SIZE,
    splice: Splice::Never,
    read: ReadMode::Pooled,
};
const READY: CopyOptions = CopyOptions {
    buffer_size: BUF_SIZE,
    splice: Splice::Never,
    read: ReadMode::Ready,
};

/// Which socket of a direction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The one it reads from.
    Source,
    /// The one it writes to.
    Dest,
}

/// A direction's failure.
#[derive(Debug)]
pub struct CopyError {
    pub side: Side,
    pub error: io::Error,
}

/// Bytes one direction moved: the worker's counter and the pair's own (for the access log).
pub struct Moved<'a> {
    pub total: &'a Counter,
    pub pair: &'a Cell<u64>,
}

/// Counts the bytes read, and each read and each partial write as activity (a slow reader
/// that keeps taking bytes is not idle). Bytes read and not yet written when the copy fails
/// say it failed writing: the destination's side (otherwise, reading: the source's).
struct Progress<'a> {
    moved: Moved<'a>,
    activity: &'a Activity,
    unwritten: Cell<u64>,
}

impl CopyObserver for Progress<'_> {
    fn read(&self, n: usize) {
        self.activity.touch();
        self.moved.total.add(n as u64);
        self.moved.pair.set(self.moved.pair.get() + n as u64);
        self.unwritten.set(self.unwritten.get() + n as u64);
    }

    fn wrote(&self, n: usize) {
        self.activity.touch();
        self.unwritten
            .set(self.unwritten.get().saturating_sub(n as u64));
    }
}

impl Progress<'_> {
    fn failed(&self, error: io::Error) -> CopyError {
        let side = if self.unwritten.get() > 0 {
            Side::Dest
        } else {
            Side::Source
        };
        CopyError { side, error }
    }
}

/// Copies `from` to `to` through pooled buffers until EOF (then shuts `to` for writing),
/// each read as `read` says.
pub async fn buffered(
    from: &Conn,
    to: &Conn,
    moved: Moved<'_>,
    activity: &Activity,
    read: ReadMode,
) -> Result<(), CopyError> {
    let options = match read {
        ReadMode::Ready => &READY,
        _ => &POOLED,
    };
    let progress = Progress {
        moved,
        activity,
        unwritten: Cell::new(0),
    };
    let res = match (from, to) {
        (Conn::Tcp(f), Conn::Tcp(t)) => copy_half(&mut &*f, &mut &*t, options, &progress).await,
        (Conn::Tcp(f), Conn::Unix(t)) => copy_half(&mut &*f, &mut &*t, options, &progress).await,
        (Conn::Unix(f), Conn::Tcp(t)) => copy_half(&mut &*f, &mut &*t, options, &progress).await,
        (Conn::Unix(f), Conn::Unix(t)) => copy_half(&mut &*f, &mut &*t, options, &progress).await,
    };
    res.map(drop).map_err(|e| progress.failed(e))
}

/// Copies `from` to `to` kernel to kernel through a pooled pipe until EOF.
pub async fn spliced(
    from: &Conn,
    to: &Conn,
    moved: Moved<'_>,
    activity: &Activity,
) -> Result<(), CopyError> {
    let progress = Progress {
        moved,
        activity,
        unwritten: Cell::new(0),
    };
    let res = match (from, to) {
        (Conn::Tcp(f), Conn::Tcp(t)) => copy_half_spliced(f, t, &progress).await,
        (Conn::Tcp(f), Conn::Unix(t)) => copy_half_spliced(f, t, &progress).await,
        (Conn::Unix(f), Conn::Tcp(t)) => copy_half_spliced(f, t, &progress).await,
        (Conn::Unix(f), Conn::Unix(t)) => copy_half_spliced(f, t, &progress).await,
    };
    res.map(drop).map_err(|e| progress.failed(e))
}
