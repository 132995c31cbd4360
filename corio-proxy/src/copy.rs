//! One direction of a pair: wait until the source is readable, take a buffer (or a pipe) from
//! the worker's pool, move what is there to the destination, give the buffer back. A
//! direction holds at most one buffer, so a destination that does not read stalls only this
//! direction's reads (backpressure), never grows memory.
//!
//! EOF from the source becomes shutdown(Write) on the destination; the direction is then done.
//! An error (a reset on either side) ends it with the error and the side it came from, and
//! the pair is torn down.

use crate::conn::Conn;
use crate::metrics::Counter;
use crate::pool;
use corio::buf::IoBuf;
use std::cell::Cell;
use std::io;
use std::net::Shutdown;
use std::time::Instant;

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

fn at(side: Side) -> impl FnOnce(io::Error) -> CopyError {
    move |error| CopyError { side, error }
}

/// Bytes one direction moved: the worker's counter and the pair's own (for the access log).
pub struct Moved<'a> {
    pub total: &'a Counter,
    pub pair: &'a Cell<u64>,
}

impl Moved<'_> {
    fn add(&self, n: usize) {
        self.total.add(n as u64);
        self.pair.set(self.pair.get() + n as u64);
    }
}

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

/// Copies `from` to `to` through pooled buffers until EOF (then shuts `to` for writing).
pub async fn buffered(
    from: &Conn,
    to: &Conn,
    moved: Moved<'_>,
    activity: &Activity,
) -> Result<(), CopyError> {
    loop {
        // No buffer is held while the source is idle.
        from.readable().await.map_err(at(Side::Source))?;
        let (buf, lease) = pool::take_buf();
        let (res, buf) = from.read(buf).await;
        let n = match res {
            Ok(n) => n,
            Err(e) => {
                pool::put_buf(buf, lease);
                return Err(at(Side::Source)(e));
            }
        };
        if n == 0 {
            pool::put_buf(buf, lease);
            return to.shutdown(Shutdown::Write).await.map_err(at(Side::Dest));
        }
        activity.touch();
        moved.add(n);
        let (res, buf) = write_all(to, buf, activity).await;
        pool::put_buf(buf, lease);
        res.map_err(at(Side::Dest))?;
    }
}

/// Writes every byte of `buf`, counting each partial write as activity (a slow reader that
/// keeps taking bytes is not idle).
async fn write_all(to: &Conn, mut buf: Vec<u8>, activity: &Activity) -> (io::Result<()>, Vec<u8>) {
    let total = buf.len();
    let mut written = 0;
    while written < total {
        let (res, slice) = to.write(buf.slice(written..total)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => {
                written += n;
                activity.touch();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// Copies `from` to `to` kernel to kernel through a pooled pipe until EOF.
pub async fn spliced(
    from: &Conn,
    to: &Conn,
    moved: Moved<'_>,
    activity: &Activity,
) -> Result<(), CopyError> {
    loop {
        // No pipe is held while the source is idle.
        from.readable().await.map_err(at(Side::Source))?;
        // No pipe to be had (EMFILE) is the proxy's own trouble, counted against the source.
        let (pipe, lease) = pool::take_pipe().map_err(at(Side::Source))?;
        let n = match from.splice_into(&pipe, pipe.capacity()).await {
            Ok(n) => n,
            Err(e) => {
                pool::put_pipe(pipe, lease);
                return Err(at(Side::Source)(e));
            }
        };
        if n == 0 {
            pool::put_pipe(pipe, lease);
            return to.shutdown(Shutdown::Write).await.map_err(at(Side::Dest));
        }
        activity.touch();
        moved.add(n);
        while !pipe.is_empty() {
            if let Err(e) = to.splice_out_of(&pipe, pipe.len()).await {
                // The pipe still holds bytes for a destination that failed: closed with them.
                pool::put_pipe(pipe, lease);
                return Err(at(Side::Dest)(e));
            }
            activity.touch();
        }
        pool::put_pipe(pipe, lease);
    }
}
