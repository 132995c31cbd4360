//! Runs a script on the current runtime, checking every outcome against the model as it goes.
//! Ours' operations on io_uring or epoll, the peer's plain non-blocking syscalls in between.

use crate::model::{End, Flow, PairModel};
use crate::script::{Op, Open, Script};
use crate::sides::{set_sock_opt, Got, Ours, Peer};
use corio::time::{sleep, timeout};
use std::cell::RefCell;
use std::future::Future;
use std::io::{self, ErrorKind};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Most bytes the peer lets pile up unread on ours before ours reads (no write may block).
pub const PEER_BACKLOG: usize = 24 << 10;
/// Ours' SO_SNDBUF and the peer's SO_RCVBUF: small, so a large write blocks.
const BUF: i32 = 32 << 10;
/// How long the peer waits for ours' side to end at the end of a script.
const PEER_WAIT: Duration = Duration::from_secs(5);

thread_local! {
    /// Random bytes that writes are cut from (made once per thread: a debug build makes
    /// them slowly).
    static POOL: Vec<u8> = crate::support::pattern(0x5EED, 2 << 20);
}

/// What a run produced: the outcome classes the model calls deterministic, as (op index, the
/// model state they were predicted from, class): where two drivers reached a step in the same
/// state, the class must be the same. And the known defects tolerated on the way.
#[derive(Default)]
pub struct Outcome {
    pub det: Vec<(usize, String, String)>,
    pub tolerated: Vec<&'static str>,
    pub trace: Vec<String>,
}

/// Known corio defects the fuzzer can tolerate (counted, not failed) unless
/// `CORIO_FUZZ_STRICT=1`; each has an ignored regression test in main.rs.
pub const CLOSE_KEEPS_SOCKET: &str =
    "close() with an operation in flight leaves the socket open until the stream is dropped";
/// Avoided rather than detected: a tolerant run skips timed writes once the peer has shut
/// down its side, where the reordering shows up.
pub const DROPPED_WRITE_REORDERS: &str = "a write_all dropped by a timeout after the peer shut \
     down its side is not cancelled, and its remaining bytes go out after later writes";

/// One line per step, kept outside the run so a hang can still say where it stopped.
pub type Trace = RefCell<Vec<String>>;

pub struct Pair {
    /// Ours, until the end of the pair drops it.
    pub ours: Option<Ours>,
    /// Ours' socket (st_dev, st_ino), to tell whether its fd is really released.
    pub ident: (u64, u64),
    pub peer: Option<Peer>,
    pub m: PairModel,
    pub tcp: bool,
}

pub struct Run {
    pub pairs: Vec<Pair>,
    pub out: Outcome,
    pub strict: bool,
    seed: u64,
    writes: u64,
    /// The file of the file steps, made at the first one.
    pub file: Option<crate::files::ScriptFile>,
}

pub async fn run(
    script: &Script,
    seed: u64,
    strict: bool,
    trace: &Trace,
) -> Result<Outcome, String> {
    // A loopback address of this script's own (all of 127/8 is loopback): on a machine
    // shared with other programs, a client of theirs that connects to a port it knew on
    // 127.0.0.1 must not reach these listeners (the long run saw such strangers accepted).
    let ip = own_loopback(seed);
    let std_listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    set_sock_opt(
        std::os::fd::AsRawFd::as_raw_fd(&std_listener),
        libc::SO_RCVBUF,
        BUF,
    );
    let listener = corio::net::TcpListener::bind((ip, 0)).unwrap();
    let mut run = Run {
        pairs: Vec::new(),
        out: Outcome::default(),
        strict,
        seed,
        writes: 0,
        file: None,
    };
    for (i, open) in script.opens.iter().enumerate() {
        trace.borrow_mut().push(format!("open #{i}: {open:?}"));
        let (ours, peer) = open_pair(*open, &std_listener, &listener).await?;
        set_sock_opt(ours.raw(), libc::SO_SNDBUF, BUF);
        peer.set_nonblocking();
        let tcp = peer.is_tcp();
        let ident = ident(ours.raw()).expect("a fresh socket");
        run.pairs.push(Pair {
            ident,
            ours: Some(ours),
            peer: Some(peer),
            m: PairModel::default(),
            tcp,
        });
    }
    for (i, op) in script.ops.iter().enumerate() {
        trace.borrow_mut().push(format!("#{i} {op:?}"));
        let class = run
            .step(op)
            .await
            .map_err(|e| format!("op #{i} {op:?}: {e}"))?;
        if let Some((class, key)) = class {
            trace.borrow_mut().push(format!("    -> {class}"));
            if let Some(key) = key {
                run.out.det.push((i, key, class));
            }
        }
    }
    for p in 0..run.pairs.len() {
        trace.borrow_mut().push(format!("end of pair #{p}"));
        run.finish_pair(p)
            .await
            .map_err(|e| format!("end of pair #{p}: {e}"))?;
    }
    Ok(run.out)
}

/// 127.a.b.c, never 127.0.0.1, drawn from the seed.
fn own_loopback(seed: u64) -> std::net::Ipv4Addr {
    let x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    std::net::Ipv4Addr::new(
        127,
        1 + (x % 250) as u8,
        (x >> 8) as u8,
        1 + (x >> 16) as u8 % 250,
    )
}

async fn open_pair(
    open: Open,
    std_listener: &std::net::TcpListener,
    listener: &corio::net::TcpListener,
) -> Result<(Ours, Peer), String> {
    let err = |e: io::Error| format!("opening {open:?}: {e}");
    Ok(match open {
        Open::TcpConnect => {
            let addr = std_listener.local_addr().unwrap();
            let ours = corio::net::TcpStream::connect(addr).await.map_err(err)?;
            let (peer, _) = std_listener.accept().map_err(err)?;
            (Ours::Tcp(ours), Peer::Tcp(peer))
        }
        Open::TcpAccept { timed } => {
            let tiny = Duration::from_micros(20);
            for _ in 0..timed {
                if let Ok(res) = timeout(tiny, listener.accept()).await {
                    return Err(format!("accept returned with no client waiting: {res:?}"));
                }
            }
            let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).map_err(err)?;
            set_sock_opt(std::os::fd::AsRawFd::as_raw_fd(&peer), libc::SO_RCVBUF, BUF);
            let mut accepted = None;
            for _ in 0..timed {
                if let Ok(res) = timeout(Duration::from_micros(1), listener.accept()).await {
                    accepted = Some(res.map_err(err)?.0);
                    break;
                }
            }
            let ours = match accepted {
                Some(s) => s,
                None => listener.accept().await.map_err(err)?.0,
            };
            let (theirs, made) = (ours.peer_addr(), peer.local_addr());
            if theirs.as_ref().ok() != made.as_ref().ok() {
                return Err(format!(
                    "accept returned another connection than the one made: its peer is \
                     {theirs:?}, the client is {made:?} ({ours:?})"
                ));
            }
            (Ours::Tcp(ours), Peer::Tcp(peer))
        }
        Open::Unix => {
            let (a, b) = std::os::unix::net::UnixStream::pair().map_err(err)?;
            let ours = corio::net::UnixStream::from_std(a).map_err(err)?;
            (Ours::Unix(ours), Peer::Unix(b))
        }
    })
}

/// A step's outcome class and, if the model calls it deterministic, the state it was
/// predicted from; `None`: skipped.
pub type Step = Result<Option<(String, Option<String>)>, String>;

impl Run {
    /// Bytes for one write: a slice of a random pool, at an offset drawn from the script's
    /// seed and the write's number (so distinct writes carry distinct bytes).
    pub fn data(&mut self, len: usize) -> Vec<u8> {
        self.writes += 1;
        let mut rng = crate::script::Rng::new(self.seed.wrapping_mul(1_000_003) + self.writes);
        POOL.with(|pool| {
            let at = rng.range(0, pool.len() - len);
            pool[at..at + len].to_vec()
        })
    }

    async fn step(&mut self, op: &Op) -> Step {
        match *op {
            Op::Read { p, cap } if self.pairs[p].m.read_could_hang() => {
                self.read(p, cap, Some(50)).await
            }
            Op::Read { p, cap } => self.read(p, cap, None).await,
            Op::TimedRead { p, cap, micros } => self.read(p, cap, Some(micros)).await,
            Op::ReadExact { p, len } => self.read_exact(p, len).await,
            Op::Write { p, len } => self.write(p, len, WriteKind::Once).await,
            Op::WriteAll { p, len } => self.write(p, len, WriteKind::All).await,
            Op::Writev { p, ref lens } => self.writev(p, lens).await,
            Op::TimedWrite { p, .. } if !self.strict && self.pairs[p].m.peer_shut => {
                self.out.tolerated.push(DROPPED_WRITE_REORDERS);
                Ok(None)
            }
            Op::TimedWrite { p, len, micros } => self.timed_write(p, len, micros).await,
            Op::Shutdown { p } => self.shutdown(p).await,
            Op::Close { p } => self.close(p).await,
            Op::PeerWrite { p, len } => self.peer_write(p, len).await,
            Op::PeerRead { p } => self.peer_read(p),
            Op::PeerShutdown { p } => self.peer_shutdown(p),
            Op::PeerReset { p } => self.peer_gone(p, true),
            Op::PeerClose { p } => self.peer_gone(p, false),
            Op::FileWrite { at, len } => self.file_write(at, len).await,
            Op::FileRead { at, cap } => self.file_read(at, cap).await,
        }
    }

    /// One read on ours (under a timeout of `micros` if given), checked against the model.
    pub async fn read(&mut self, p: usize, cap: usize, micros: Option<u64>) -> Step {
        let pair = &mut self.pairs[p];
        let det = micros.is_none() && (pair.m.ours_closed || pair.m.pa.clean());
        let key = det.then(|| pair.m.key());
        let fut = pair.ours().read(Vec::with_capacity(cap));
        let done = match micros {
            Some(us) => timeout(Duration::from_micros(us), fut).await.ok(),
            None => Some(fut.await),
        };
        let Some((res, buf)) = done else {
            return Ok(Some(("elapsed".into(), None)));
        };
        let class = check_read(&mut pair.m, res, &buf)?;
        Ok(Some((class, key)))
    }

    async fn read_exact(&mut self, p: usize, len: usize) -> Step {
        let m = &self.pairs[p].m;
        if m.ours_closed || !m.pa.clean() || m.pa.pending() < len {
            let micros = if m.read_could_hang() { Some(50) } else { None };
            return self.read(p, len, micros).await;
        }
        let pair = &mut self.pairs[p];
        let key = Some(format!("{} read_exact", pair.m.key()));
        let (res, buf) = pair.ours().read_exact(Vec::with_capacity(len)).await;
        res.map_err(|e| {
            format!(
                "read_exact of {len} with {} pending: {e}",
                pair.m.pa.pending()
            )
        })?;
        pair.m.pa.receive(&buf)?;
        Ok(Some(("ok".into(), key)))
    }

    /// Reads ours until at most `room` bytes are pending, or its read side ended.
    pub async fn read_down_to(&mut self, p: usize, room: usize) -> Result<(), String> {
        while self.pairs[p].m.pa.pending() > room && self.pairs[p].m.pa.end.is_none() {
            self.read(p, 16 << 10, None).await?;
        }
        Ok(())
    }
}

impl Pair {
    pub fn ours(&self) -> &Ours {
        self.ours
            .as_ref()
            .expect("ours is open until the end of the pair")
    }
}

/// The (st_dev, st_ino) of the socket behind `fd`, or `None` if `fd` is not open.
pub fn ident(fd: std::os::fd::RawFd) -> Option<(u64, u64)> {
    // SAFETY: fstat writes a `stat` into the zeroed buffer we pass; `fd` is only queried.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let rc = unsafe { libc::fstat(fd, &mut st) };
    (rc == 0).then_some((st.st_dev, st.st_ino))
}

/// The model's verdict on one read of ours; returns its class.
pub fn check_read(m: &mut PairModel, res: io::Result<usize>, buf: &[u8]) -> Result<String, String> {
    if m.ours_closed {
        return match res {
            Err(e) if e.kind() == ErrorKind::NotConnected => Ok("closed".into()),
            other => Err(format!("a read after close returned {other:?}")),
        };
    }
    match res {
        Ok(0) => m.pa.finish(End::Eof).map(|()| "eof".into()),
        Ok(n) => m.pa.receive(&buf[..n]).map(|()| "data".into()),
        Err(e) => {
            m.pa.finish(End::Error(e.kind()))
                .map(|()| format!("error {:?}", e.kind()))
                .map_err(|why| format!("{why}: {e}"))
        }
    }
}

#[derive(Clone, Copy)]
pub enum WriteKind {
    Once,
    All,
}

/// Polls `fut` to completion while the peer drains what arrives (so ours' writes never wait
/// on a peer that does not read).
pub async fn pumped<F: Future>(
    fut: F,
    peer: &mut Option<Peer>,
    flow: &mut Flow,
) -> Result<F::Output, String> {
    let mut fut = pin!(fut);
    let mut idle = 0;
    loop {
        if let Poll::Ready(v) = PollOnce(fut.as_mut()).await {
            return Ok(v);
        }
        let got = match peer {
            Some(peer) if flow.end.is_none() => drain(peer, flow)?,
            _ => 0,
        };
        idle = if got > 0 { 0 } else { idle + 1 };
        if idle < 4 {
            YieldNow(false).await;
        } else {
            sleep(Duration::from_micros(200)).await;
        }
    }
}

/// Reads what has arrived at the peer; returns the byte count.
pub fn drain(peer: &mut Peer, flow: &mut Flow) -> Result<usize, String> {
    let mut buf = [0u8; 16 << 10];
    let mut total = 0;
    loop {
        match peer.try_read(&mut buf) {
            Got::Data(n) => {
                flow.receive(&buf[..n])
                    .map_err(|e| format!("at the peer: {e}"))?;
                total += n;
            }
            Got::Nothing => return Ok(total),
            Got::Eof => {
                flow.finish(End::Eof)
                    .map_err(|e| format!("at the peer: {e}"))?;
                return Ok(total);
            }
            Got::Error(kind) => {
                flow.finish(End::Error(kind))
                    .map_err(|e| format!("at the peer: {e}"))?;
                return Ok(total);
            }
        }
    }
}

/// Drains the peer until its flow ends, for at most `PEER_WAIT`.
pub async fn drain_to_end(peer: &mut Peer, flow: &mut Flow) -> Result<(), String> {
    let deadline = Instant::now() + PEER_WAIT;
    let mut idle = 0;
    while flow.end.is_none() {
        if Instant::now() > deadline {
            return Err(format!(
                "the peer saw no EOF or reset {PEER_WAIT:?} after ours was closed: \
                 ours' socket is still open (got {} bytes)",
                flow.got.len()
            ));
        }
        idle = if drain(peer, flow)? > 0 { 0 } else { idle + 1 };
        if idle < 4 {
            YieldNow(false).await;
        } else {
            sleep(Duration::from_micros(500)).await;
        }
    }
    Ok(())
}

/// Polls the inner future once.
struct PollOnce<'a, F>(Pin<&'a mut F>);

impl<F: Future> Future for PollOnce<'_, F> {
    type Output = Poll<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(self.0.as_mut().poll(cx))
    }
}

/// Returns `Pending` once (waking itself), so the executor takes a turn: submits, reaps.
pub struct YieldNow(pub bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
