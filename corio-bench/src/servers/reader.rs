//! The file-read runner's side of the contract: the job a runner gets ([`ReadJob`]), the meter
//! it counts into and stops by ([`Meter`]), and the one slot's offset stream and check of each
//! read ([`Reader`]), the same for every runtime. `serve/file_read.rs` runs a runner in its
//! own process and measures it.

use crate::content::{self, BLOCK};
use crate::servers::counters::Counters;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A file-read runner: `depth` reads in flight until `meter` says stop.
pub type ReadFn = fn(&ReadJob, &Arc<Meter>) -> io::Result<()>;

/// What a runner gets: the file, its length, the queue depth and the check rate.
#[derive(Debug, Clone)]
pub struct ReadJob {
    pub file: PathBuf,
    pub len: u64,
    pub depth: usize,
    pub check_every: u64,
}

/// Shared between a runner and this process's main thread.
#[derive(Default)]
pub struct Meter {
    pub ops: AtomicU64,
    pub errors: AtomicU64,
    pub corrupt: AtomicU64,
    stop: AtomicBool,
    started: AtomicBool,
    /// The runner's driver counters, where it publishes them.
    pub counters: Arc<Counters>,
}

impl Meter {
    /// The runner has its file open and its reads in flight.
    pub fn start(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// Whether the runner said it is reading.
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Tells the runner to stop at its next completed read.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// One slot of a runner: where its next read goes, and the check of each read it completes.
pub struct Reader {
    x: u64,
    blocks: u64,
    reads: u64,
    check_every: u64,
}

impl Reader {
    /// The reader of slot `slot` of `job` (each slot its own offset stream).
    pub fn new(slot: usize, job: &ReadJob) -> Reader {
        Reader {
            x: (slot as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D) | 1,
            blocks: (job.len / BLOCK as u64).max(1),
            reads: 0,
            check_every: job.check_every.max(1),
        }
    }

    /// The offset of the next read: a random block.
    pub fn next_offset(&mut self) -> u64 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        (self.x % self.blocks) * BLOCK as u64
    }

    /// A read at `off` ended with `res`, `got` being the bytes it filled. Counts it, and checks
    /// it: always its length and first and last words (which name the block), and every
    /// `check_every`-th read of this slot byte for byte. Returns whether to go on.
    pub fn done(&mut self, meter: &Meter, off: u64, res: io::Result<usize>, got: &[u8]) -> bool {
        self.reads += 1;
        match res {
            Ok(n) if n == got.len() => {
                let ok = if self.reads.is_multiple_of(self.check_every) {
                    got.len() == BLOCK && content::matches(off, got)
                } else {
                    content::ends_match(off, got)
                };
                if !ok {
                    meter.corrupt.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(_) => {
                meter.corrupt.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                meter.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        meter.ops.fetch_add(1, Ordering::Relaxed);
        !meter.stopped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> ReadJob {
        ReadJob {
            file: PathBuf::new(),
            len: 64 * BLOCK as u64,
            depth: 2,
            check_every: 2,
        }
    }

    #[test]
    fn offsets_are_blocks_inside_the_file_and_differ_per_slot() {
        let (mut a, mut b) = (Reader::new(0, &job()), Reader::new(1, &job()));
        let xs: Vec<u64> = (0..100).map(|_| a.next_offset()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_offset()).collect();
        assert!(xs.iter().all(|&o| o % BLOCK as u64 == 0 && o < job().len));
        assert_ne!(xs, ys);
        let mut distinct = xs.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 30, "{distinct:?}");
    }

    #[test]
    fn every_read_is_checked_and_counted() {
        let meter = Meter::default();
        let mut r = Reader::new(0, &job());
        let good = content::expected(4096, BLOCK);
        let mut inside = good.clone();
        inside[100] ^= 1; // caught only by the full check, every 2nd read here
        assert!(r.done(&meter, 4096, Ok(BLOCK), &good));
        assert!(r.done(&meter, 4096, Ok(BLOCK), &inside));
        assert_eq!(meter.corrupt.load(Ordering::Relaxed), 1);
        r.done(&meter, 4096, Ok(BLOCK), &inside); // 3rd: ends only, passes
        r.done(&meter, 8192, Ok(BLOCK), &good); // wrong offset
        r.done(&meter, 4096, Ok(100), &good[..100]); // short
        r.done(&meter, 4096, Ok(BLOCK), &good[..100]); // count and bytes disagree
        r.done(&meter, 4096, Err(io::ErrorKind::Other.into()), &[]);
        assert_eq!(meter.corrupt.load(Ordering::Relaxed), 4);
        assert_eq!(meter.errors.load(Ordering::Relaxed), 1);
        assert_eq!(meter.ops.load(Ordering::Relaxed), 7);
        meter.request_stop();
        assert!(!r.done(&meter, 4096, Ok(BLOCK), &good), "stop is seen");
    }
}
