//! Plain std sockets on the far end of corio's. They outlive the runtime under test, so after
//! it is gone they can prod the kernel — write into any read that should no longer be there —
//! and report what the kernel did with corio's side: what it sent, and whether it closed.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes each peer writes when prodding.
pub const PROD: usize = 4096;

/// What one peer saw after the runtime under test let go of its connection.
pub struct Seen {
    /// Every byte received.
    pub bytes: Vec<u8>,
    /// EOF or an error (reset) came: corio's side of the connection is really closed.
    pub ended: bool,
}

fn set_opt(fd: i32, opt: i32, value: i32) {
    // SAFETY: setsockopt reads an i32 that lives for the call, on an fd the caller owns.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// `n` loopback connections, as (ours, peer). Our send buffer and the peer's receive buffer
/// are small (a few KiB), so a write of tens of KiB blocks while the peer does not read.
pub fn pairs(n: usize) -> (Vec<TcpStream>, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // Accepted sockets inherit it; set before any SYN arrives, so the window is small too.
    set_opt(listener.as_raw_fd(), libc::SO_RCVBUF, 4096);
    let addr = listener.local_addr().unwrap();
    let mut ours = Vec::with_capacity(n);
    let mut peers = Vec::with_capacity(n);
    for _ in 0..n {
        let s = TcpStream::connect(addr).unwrap();
        set_opt(s.as_raw_fd(), libc::SO_SNDBUF, 4096);
        ours.push(s);
        peers.push(listener.accept().unwrap().0);
    }
    (ours, peers)
}

/// Each peer writes `PROD` bytes (they would land in any read of corio's still in the
/// kernel), then reads until EOF or an error, for at most `limit` in all.
pub fn prod_and_drain(peers: &mut [TcpStream], limit: Duration) -> Vec<Seen> {
    let mut seen: Vec<Seen> = peers
        .iter_mut()
        .map(|p| {
            p.set_nonblocking(true).unwrap();
            // Refused once corio's side has closed (reset): fine, that is the point.
            let _ = p.write(&[0x11; PROD]);
            Seen {
                bytes: Vec::new(),
                ended: false,
            }
        })
        .collect();
    let deadline = Instant::now() + limit;
    let mut buf = vec![0u8; 64 << 10];
    while seen.iter().any(|s| !s.ended) && Instant::now() < deadline {
        let mut progress = false;
        for (p, s) in peers.iter_mut().zip(seen.iter_mut()) {
            while !s.ended {
                match p.read(&mut buf) {
                    Ok(0) => s.ended = true,
                    Ok(n) => s.bytes.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => s.ended = true,
                }
                progress = true;
            }
        }
        if !progress {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    seen
}

/// Writes a few bytes to every other peer, over and over, until the returned guard is dropped:
/// data racing the cancellations of a runtime shutting down.
pub fn racing_writes(peers: &[TcpStream]) -> RacingWrites {
    let stop = Arc::new(AtomicBool::new(false));
    let mut odd: Vec<TcpStream> = peers
        .iter()
        .skip(1)
        .step_by(2)
        .map(|p| p.try_clone().unwrap())
        .collect();
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        for p in &odd {
            p.set_nonblocking(true).unwrap();
        }
        while !flag.load(Ordering::Relaxed) {
            for p in &mut odd {
                let _ = p.write(&[0x22; 64]);
            }
        }
    });
    RacingWrites {
        stop,
        thread: Some(thread),
    }
}

pub struct RacingWrites {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RacingWrites {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Checks every peer saw its connection end, and received only a prefix of what corio's side
/// was asked to send (`sent(i)`): bytes sent from a freed buffer would show up as poison.
pub fn check_seen(seen: &[Seen], sent: impl Fn(usize) -> Vec<u8>) {
    let open: Vec<usize> = (0..seen.len()).filter(|&i| !seen[i].ended).collect();
    assert!(
        open.is_empty(),
        "{} of {} connections were not closed after corio let go of them (first: #{}): an \
         operation still in the kernel holds the socket",
        open.len(),
        seen.len(),
        open.first().copied().unwrap_or(0)
    );
    for (i, s) in seen.iter().enumerate() {
        let want = sent(i);
        let n = s.bytes.len().min(want.len());
        assert!(
            s.bytes.len() <= want.len() && s.bytes[..n] == want[..n],
            "connection #{i}: the peer received {} bytes that are not a prefix of the {} corio \
             was asked to send (first difference at {:?})",
            s.bytes.len(),
            want.len(),
            s.bytes.iter().zip(&want).position(|(a, b)| a != b)
        );
    }
}

/// The fd count once it is back to `baseline`, waiting up to 2 s (no runtime needed).
pub fn settled_fds(baseline: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    while crate::support::open_fds() != baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    crate::support::open_fds()
}
