//! The load generator, built on corio: one thread drives every connection, checks every echoed
//! byte, and records each request's latency. Every loop is bounded in time.

use crate::histogram::Histogram;
use corio::net::TcpStream;
use corio::time::{sleep_until, timeout};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What the load does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Each connection keeps `depth` requests in flight (depth 1: ping-pong).
    PingPong,
    /// Connect, one echo, close; repeat.
    Churn,
    /// One connection per `conns`, full duplex: write and read as fast as possible.
    Bulk,
    /// Open loop at a fixed total rate (requests/s); latency counts from the scheduled send
    /// time, so a slow server cannot hide its queueing (no coordinated omission).
    Rate(f64),
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::PingPong => "pingpong",
            Mode::Churn => "churn",
            Mode::Bulk => "bulk",
            Mode::Rate(_) => "rate",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    pub conns: usize,
    pub size: usize,
    pub depth: usize,
    /// Measured time.
    pub secs: f64,
    /// Unmeasured time before it (connections are opened before either).
    pub warmup: f64,
    pub mode: Mode,
    pub driver: corio::DriverChoice,
}

/// The figures of one run (the measured window only).
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub requests: u64,
    pub bytes: u64,
    pub secs: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Connections that ended early: reset, closed by the server, timed out.
    pub errors: u64,
    /// Echoed bytes that differ from what was sent.
    pub corrupt: u64,
    pub connect_errors: u64,
    /// The load generator thread's CPU time over the measured window, µs (None if the run
    /// ended before the window did). Near `secs` × 1e6: the load generator was the bottleneck.
    pub load_cpu_us: Option<u64>,
    /// How long the load generator thread waited on a run queue over the window, µs (None
    /// where /proc lacks schedstat). More than a few percent of the window: something else
    /// took its core, and the row is noise.
    pub load_wait_us: Option<u64>,
}

impl LoadResult {
    /// The load generator's CPU use over the window, in percent of one core.
    pub fn load_cpu_pct(&self) -> Option<f64> {
        Some(self.load_cpu_us? as f64 / 1e4 / self.secs.max(1e-9))
    }

    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.secs.max(1e-9)
    }

    pub fn mbps(&self) -> f64 {
        self.bytes as f64 / self.secs.max(1e-9) / 1e6
    }

    pub fn to_json(&self) -> String {
        format!(
            "{{\"requests\":{},\"bytes\":{},\"secs\":{:.3},\"rps\":{:.1},\"mbps\":{:.3},\"p50_us\":{:.1},\"p99_us\":{:.1},\"p999_us\":{:.1},\"errors\":{},\"corrupt\":{},\"connect_errors\":{},\"load_cpu_us\":{},\"load_wait_us\":{}}}",
            self.requests,
            self.bytes,
            self.secs,
            self.rps(),
            self.mbps(),
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.errors,
            self.corrupt,
            self.connect_errors,
            self.load_cpu_us.map_or("null".into(), |v| v.to_string()),
            self.load_wait_us.map_or("null".into(), |v| v.to_string())
        )
    }
}

/// Shared tallies; requests and latencies count only inside the measured window.
struct Tally {
    start: Instant,
    end: Instant,
    hist: Histogram,
    requests: u64,
    bytes: u64,
    errors: u64,
    corrupt: u64,
    connect_errors: u64,
}

impl Tally {
    fn done(&mut self, sent_at: Instant, now: Instant, bytes: usize) {
        if sent_at >= self.start && now <= self.end {
            self.requests += 1;
            self.bytes += bytes as u64;
            self.hist
                .record(now.duration_since(sent_at).as_nanos() as u64);
        }
    }
}

type Shared = Rc<RefCell<Tally>>;

/// How long one read may wait before the connection counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(3);

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

/// Runs the load and returns the measured figures. Fails only if no connection could be made.
/// `t0` (if given) receives the instant the warm-up starts, once the connections are open.
pub fn run(
    cfg: &LoadConfig,
    t0: Option<std::sync::mpsc::Sender<Instant>>,
) -> io::Result<LoadResult> {
    if cfg.conns == 0 || cfg.size == 0 || cfg.depth == 0 || cfg.secs.is_nan() || cfg.secs <= 0.0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "conns, size, depth and secs must be positive",
        ));
    }
    let rt = corio::Runtime::builder().driver(cfg.driver).build()?;
    rt.block_on(run_async(cfg.clone(), t0))
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = timeout(IO_TIMEOUT, TcpStream::connect(addr)).await??;
    s.set_nodelay(true)?;
    Ok(s)
}

async fn run_async(
    cfg: LoadConfig,
    t0_tx: Option<std::sync::mpsc::Sender<Instant>>,
) -> io::Result<LoadResult> {
    // Open the connections first (not for churn, which opens its own).
    let mut streams = Vec::new();
    let mut connect_errors = 0;
    let mut last_err = None;
    if cfg.mode != Mode::Churn {
        let attempts: Vec<_> = (0..cfg.conns)
            .map(|_| corio::spawn(connect(cfg.addr)))
            .collect();
        for a in attempts {
            match a.await {
                Ok(Ok(s)) => streams.push(s),
                Ok(Err(e)) => {
                    connect_errors += 1;
                    last_err = Some(e);
                }
                Err(_) => connect_errors += 1,
            }
        }
        if streams.is_empty() {
            let e = last_err.unwrap_or_else(|| io::Error::other("no connection"));
            return Err(io::Error::new(
                e.kind(),
                format!("connect to {}: {e}", cfg.addr),
            ));
        }
    } else if let Err(e) = connect(cfg.addr).await {
        return Err(io::Error::new(
            e.kind(),
            format!("connect to {}: {e}", cfg.addr),
        ));
    }
    let t0 = Instant::now();
    if let Some(tx) = t0_tx {
        let _ = tx.send(t0);
    }
    let start = t0 + Duration::from_secs_f64(cfg.warmup);
    let end = start + Duration::from_secs_f64(cfg.secs);
    let tally: Shared = Rc::new(RefCell::new(Tally {
        start,
        end,
        hist: Histogram::default(),
        requests: 0,
        bytes: 0,
        errors: 0,
        corrupt: 0,
        connect_errors,
    }));
    let mut tasks = Vec::new();
    match cfg.mode {
        Mode::PingPong => {
            for (i, s) in streams.into_iter().enumerate() {
                tasks.push(corio::spawn(pingpong(
                    s,
                    i as u64,
                    cfg.clone(),
                    tally.clone(),
                )));
            }
        }
        Mode::Churn => {
            for i in 0..cfg.conns {
                tasks.push(corio::spawn(churn(i as u64, cfg.clone(), tally.clone())));
            }
        }
        Mode::Bulk => {
            for (i, s) in streams.into_iter().enumerate() {
                tasks.push(corio::spawn(bulk(s, i as u64, cfg.clone(), tally.clone())));
            }
        }
        Mode::Rate(rate) => {
            let n = streams.len();
            for (i, s) in streams.into_iter().enumerate() {
                let per_conn = rate / n as f64;
                tasks.push(corio::spawn(open_loop(
                    s,
                    i as u64,
                    per_conn,
                    cfg.clone(),
                    tally.clone(),
                )));
            }
        }
    }
    let cpu = corio::spawn(async move {
        sleep_until(start).await;
        let (a, wa) = (thread_cpu_us(), thread_wait_us());
        sleep_until(end).await;
        let wait = thread_wait_us().zip(wa).map(|(b, a)| b.saturating_sub(a));
        (thread_cpu_us().saturating_sub(a), wait)
    });
    // Every task stops by itself shortly after `end`; this bound is a backstop.
    let hard_stop = end + IO_TIMEOUT + Duration::from_secs(2);
    for t in tasks {
        let left = hard_stop.saturating_duration_since(Instant::now());
        if timeout(left, t).await.is_err() {
            tally.borrow_mut().errors += 1;
        }
    }
    // Open-loop and bulk connections may finish their last request just before `end`; a run
    // that ends earlier than this lost its connections, and its window ends here.
    let ended_early = Instant::now() + Duration::from_millis(50) < end;
    let window_end = if ended_early { Instant::now() } else { end };
    let (load_cpu_us, load_wait_us) = if ended_early {
        cpu.abort();
        (None, None)
    } else {
        match timeout(Duration::from_secs(1), cpu).await {
            Ok(Ok((c, w))) => (Some(c), w),
            _ => (None, None),
        }
    };
    let t = tally.borrow();
    let measured = window_end.saturating_duration_since(start);
    Ok(LoadResult {
        requests: t.requests,
        bytes: t.bytes,
        secs: measured.as_secs_f64(),
        p50_us: t.hist.quantile(0.5) as f64 / 1e3,
        p99_us: t.hist.quantile(0.99) as f64 / 1e3,
        p999_us: t.hist.quantile(0.999) as f64 / 1e3,
        errors: t.errors,
        corrupt: t.corrupt,
        connect_errors: t.connect_errors,
        load_cpu_us,
        load_wait_us,
    })
}

/// This thread's CPU time (user + system), µs.
fn thread_cpu_us() -> u64 {
    // SAFETY: rusage is plain data, valid when zeroed.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid out pointer; on failure `ru` stays zero.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// How long this thread has waited on a run queue (schedstat's run_delay), µs.
fn thread_wait_us() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(s.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1000)
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

async fn pingpong(s: TcpStream, conn: u64, cfg: LoadConfig, tally: Shared) {
    let end = tally.borrow().end;
    let mut inflight: VecDeque<(u64, Instant)> = VecDeque::with_capacity(cfg.depth);
    let mut seq = 0u64;
    let mut expect = Vec::with_capacity(cfg.size);
    // Received bytes not yet matched to a response.
    let mut have: Vec<u8> = Vec::with_capacity(cfg.size * cfg.depth);
    let mut batch = Vec::with_capacity(cfg.size * cfg.depth);
    let mut refill = cfg.depth;
    loop {
        // Send the requests that keep `depth` in flight, back to back in one write.
        if refill > 0 {
            batch.clear();
            let now = Instant::now();
            for _ in 0..refill {
                payload(conn, seq, cfg.size, &mut expect);
                batch.extend_from_slice(&expect);
                inflight.push_back((seq, now));
                seq += 1;
            }
            let (res, b) = match timeout(IO_TIMEOUT, s.write_all(std::mem::take(&mut batch))).await
            {
                Ok(x) => x,
                Err(_) => (Err(io::ErrorKind::TimedOut.into()), Vec::new()),
            };
            batch = b;
            if res.is_err() {
                tally.borrow_mut().errors += 1;
                return;
            }
            refill = 0;
        }
        if inflight.is_empty() {
            return;
        }
        // Read what has come back (at most what is outstanding) and check whole responses.
        let want = inflight.len() * cfg.size - have.len();
        let buf = Vec::with_capacity(want);
        let got = match timeout(IO_TIMEOUT, s.read(buf)).await {
            Ok((Ok(n), got)) if n > 0 => got,
            _ => {
                tally.borrow_mut().errors += 1;
                return;
            }
        };
        have.extend_from_slice(&got);
        let now = Instant::now();
        let mut used = 0;
        while have.len() - used >= cfg.size {
            // More bytes than were sent: the server made some up.
            let Some((req, sent_at)) = inflight.pop_front() else {
                tally.borrow_mut().corrupt += 1;
                return;
            };
            payload(conn, req, cfg.size, &mut expect);
            if have[used..used + cfg.size] != expect[..] {
                tally.borrow_mut().corrupt += 1;
                return;
            }
            used += cfg.size;
            tally.borrow_mut().done(sent_at, now, cfg.size);
            if now < end {
                refill += 1;
            }
        }
        have.drain(..used);
    }
}

async fn churn(worker: u64, cfg: LoadConfig, tally: Shared) {
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
async fn bulk(s: TcpStream, conn: u64, cfg: LoadConfig, tally: Shared) {
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
async fn open_loop(s: TcpStream, conn: u64, rate: f64, cfg: LoadConfig, tally: Shared) {
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
