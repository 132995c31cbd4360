//! The connection loops of each load mode. A loop that meets an error, a timeout or a wrong
//! byte counts it in the tally and ends its connection; the others go on.

use super::config::{connect, LoadConfig, IO_TIMEOUT};
use super::result::Shared;
use corio::net::TcpStream;
use corio::time::{sleep_until, timeout};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The payload of request `seq` on connection `conn`: distinct per request, so a byte from the
/// wrong request or the wrong connection is caught.
fn payload(conn: u64, seq: u64, size: usize, out: &mut Vec<u8>) {
    out.clear();
    let mut x = (conn << 40) ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555;
    for _ in 0..size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
}

/// Reads one response of `expect.len()` bytes and checks it. Err(()) ends the connection (the
/// tally has been updated).
async fn read_check(s: &TcpStream, expect: &[u8], tally: &Shared) -> Result<(), ()> {
    let buf = Vec::with_capacity(expect.len());
    match timeout(IO_TIMEOUT, s.read_exact(buf)).await {
        Ok((Ok(()), got)) => {
            if got != expect {
                tally.borrow_mut().corrupt += 1;
                return Err(());
            }
            Ok(())
        }
        _ => {
            tally.borrow_mut().errors += 1;
            Err(())
        }
    }
}

async fn write_req(s: &TcpStream, data: Vec<u8>, tally: &Shared) -> Result<(), ()> {
    match timeout(IO_TIMEOUT, s.write_all(data)).await {
        Ok((Ok(()), _)) => Ok(()),
        _ => {
            tally.borrow_mut().errors += 1;
            Err(())
        }
    }
}

/// One ping-pong connection: the requests in flight and the bytes received not yet matched to
/// a response.
struct Pipe {
    conn: u64,
    size: usize,
    seq: u64,
    inflight: VecDeque<(u64, Instant)>,
    have: Vec<u8>,
    expect: Vec<u8>,
    batch: Vec<u8>,
}

impl Pipe {
    fn new(conn: u64, cfg: &LoadConfig) -> Pipe {
        Pipe {
            conn,
            size: cfg.size,
            seq: 0,
            inflight: VecDeque::with_capacity(cfg.depth),
            have: Vec::with_capacity(cfg.size * cfg.depth),
            expect: Vec::with_capacity(cfg.size),
            batch: Vec::with_capacity(cfg.size * cfg.depth),
        }
    }

    /// Sends `n` more requests, back to back in one write. Err: the connection failed.
    async fn send(&mut self, s: &TcpStream, n: usize, tally: &Shared) -> Result<(), ()> {
        self.batch.clear();
        let now = Instant::now();
        for _ in 0..n {
            payload(self.conn, self.seq, self.size, &mut self.expect);
            self.batch.extend_from_slice(&self.expect);
            self.inflight.push_back((self.seq, now));
            self.seq += 1;
        }
        let batch = std::mem::take(&mut self.batch);
        let (res, b) = match timeout(IO_TIMEOUT, s.write_all(batch)).await {
            Ok(x) => x,
            Err(_) => (Err(io::ErrorKind::TimedOut.into()), Vec::new()),
        };
        self.batch = b;
        if res.is_err() {
            tally.borrow_mut().errors += 1;
            return Err(());
        }
        Ok(())
    }

    /// Checks the whole responses received so far, answered at `now`; returns how many. Err: a
    /// wrong byte, or more bytes than were sent (the server made some up).
    fn check(&mut self, now: Instant, tally: &Shared) -> Result<usize, ()> {
        let (mut used, mut answered) = (0, 0);
        while self.have.len() - used >= self.size {
            let Some((req, sent_at)) = self.inflight.pop_front() else {
                tally.borrow_mut().corrupt += 1;
                return Err(());
            };
            payload(self.conn, req, self.size, &mut self.expect);
            if self.have[used..used + self.size] != self.expect[..] {
                tally.borrow_mut().corrupt += 1;
                return Err(());
            }
            used += self.size;
            answered += 1;
            tally.borrow_mut().done(sent_at, now, self.size);
        }
        self.have.drain(..used);
        Ok(answered)
    }
}

/// Keeps `depth` requests in flight: each answered one is replaced until the window ends.
pub(super) async fn pingpong(s: TcpStream, conn: u64, cfg: LoadConfig, tally: Shared) {
    let end = tally.borrow().end;
    let mut p = Pipe::new(conn, &cfg);
    let mut refill = cfg.depth;
    loop {
        if refill > 0 && p.send(&s, refill, &tally).await.is_err() {
            return;
        }
        if p.inflight.is_empty() {
            return;
        }
        // Read what has come back (at most what is outstanding) and check whole responses.
        let want = p.inflight.len() * cfg.size - p.have.len();
        let got = match timeout(IO_TIMEOUT, s.read(Vec::with_capacity(want))).await {
            Ok((Ok(n), got)) if n > 0 => got,
            _ => {
                tally.borrow_mut().errors += 1;
                return;
            }
        };
        p.have.extend_from_slice(&got);
        let now = Instant::now();
        let Ok(answered) = p.check(now, &tally) else {
            return;
        };
        refill = if now < end { answered } else { 0 };
    }
}

pub(super) async fn churn(worker: u64, cfg: LoadConfig, tally: Shared) {
    let end = tally.borrow().end;
    let mut seq = 0u64;
    let mut expect = Vec::with_capacity(cfg.size);
    while Instant::now() < end {
        let sent_at = Instant::now();
        let s = match connect(cfg.addr).await {
            Ok(s) => s,
            Err(_) => {
                tally.borrow_mut().connect_errors += 1;
                // Do not spin on a refusing server.
                corio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        payload(worker, seq, cfg.size, &mut expect);
        seq += 1;
        if write_req(&s, expect.clone(), &tally).await.is_err() {
            continue;
        }
        if read_check(&s, &expect, &tally).await.is_err() {
            continue;
        }
        // Close gracefully: the server sees EOF and closes its side first.
        let _ = s.shutdown(std::net::Shutdown::Write).await;
        let _ = timeout(IO_TIMEOUT, s.read(Vec::with_capacity(1))).await;
        let _ = s.close().await;
        tally.borrow_mut().done(sent_at, Instant::now(), cfg.size);
    }
}

/// One connection, full duplex: a writer streams `size`-byte chunks as fast as it can, the
/// reader checks them.
pub(super) async fn bulk(s: TcpStream, conn: u64, cfg: LoadConfig, tally: Shared) {
    let end = tally.borrow().end;
    let s = Rc::new(s);
    let times: Times = Rc::default();
    let writer = {
        let (s, times, tally) = (s.clone(), times.clone(), tally.clone());
        corio::spawn(async move {
            let mut seq = 0u64;
            while Instant::now() < end {
                let mut chunk = Vec::with_capacity(cfg.size);
                payload(conn, seq, cfg.size, &mut chunk);
                times.borrow_mut().push_back(Instant::now());
                seq += 1;
                if write_req(&s, chunk, &tally).await.is_err() {
                    return;
                }
            }
            let _ = s.shutdown(std::net::Shutdown::Write).await;
        })
    };
    read_responses(&s, conn, cfg.size, &times, &tally).await;
    writer.abort();
}

/// Open loop: request k is due at `t0 + k / rate`; the writer sends each when due (at once if
/// late), the reader measures latency from the due time.
pub(super) async fn open_loop(s: TcpStream, conn: u64, rate: f64, cfg: LoadConfig, tally: Shared) {
    let end = tally.borrow().end;
    let s = Rc::new(s);
    let times: Times = Rc::default();
    let gap = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    let writer = {
        let (s, times, tally) = (s.clone(), times.clone(), tally.clone());
        corio::spawn(async move {
            // Spread connections over the first gap so they do not fire in lockstep.
            let mut at = Instant::now() + gap.mul_f64((conn % 97) as f64 / 97.0);
            let mut seq = 0u64;
            while at < end {
                sleep_until(at).await;
                let mut req = Vec::with_capacity(cfg.size);
                payload(conn, seq, cfg.size, &mut req);
                times.borrow_mut().push_back(at);
                seq += 1;
                if write_req(&s, req, &tally).await.is_err() {
                    return;
                }
                at += gap;
            }
            let _ = s.shutdown(std::net::Shutdown::Write).await;
        })
    };
    read_responses(&s, conn, cfg.size, &times, &tally).await;
    writer.abort();
}

/// Send times of the requests written and not yet answered, oldest first.
type Times = Rc<RefCell<VecDeque<Instant>>>;

/// Reads responses in order until the writer's EOF comes back with every request answered.
async fn read_responses(s: &TcpStream, conn: u64, size: usize, times: &Times, tally: &Shared) {
    let mut expect = Vec::with_capacity(size);
    let mut seq = 0u64;
    loop {
        payload(conn, seq, size, &mut expect);
        let buf = Vec::with_capacity(size);
        match timeout(IO_TIMEOUT, s.read_exact(buf)).await {
            Ok((Ok(()), got)) => {
                if got != expect {
                    tally.borrow_mut().corrupt += 1;
                    return;
                }
                let at = times.borrow_mut().pop_front();
                if let Some(at) = at {
                    tally.borrow_mut().done(at, Instant::now(), size);
                }
                seq += 1;
            }
            Ok((Err(e), _))
                if e.kind() == io::ErrorKind::UnexpectedEof && times.borrow().is_empty() =>
            {
                return; // the writer finished and everything came back
            }
            _ => {
                tally.borrow_mut().errors += 1;
                return;
            }
        }
    }
}
