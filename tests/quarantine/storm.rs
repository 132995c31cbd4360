//! A cancellation storm under the quarantine: 10,000 reads, writes and accepts, each under a
//! `timeout` of 0 to 250 µs, so they are dropped before submission, in flight, and after their
//! completion arrived, while data keeps flowing. Reads must lose no byte, accepts no
//! connection; writes may stop at any prefix but never send freed memory. One read in 50 has
//! more than 4 GiB of room and one write in 50 is 4 GiB of zeros (reserved, never touched):
//! lengths an SQE cannot hold (issue 21), dropped like the others. (test.sh runs this binary
//! with registered descriptors too.)

use super::alloc::POISON;
use super::peers::settled_fds;
use super::{serial, GLOBAL};
use crate::support::{driver, open_fds, pattern, rt, tcp_pair};
use corio::net::{TcpListener, TcpStream};
use corio::time::timeout;
use corio::DriverKind;
use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

const READERS: u64 = 8;
const READ_OPS: u64 = 700;
const READ_LEN: usize = 48 << 10;
const WRITERS: u64 = 4;
const WRITE_OPS: u64 = 600;
const ACCEPT_OPS: u64 = 2000;
const CLIENTS: u32 = 200;
/// More than an SQE's u32 length holds.
const HUGE: usize = (1 << 32) + 7;

/// A tiny PRNG (xorshift), so the storm is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn wait(&mut self) -> Duration {
        Duration::from_micros(self.next() % 250)
    }
}

fn bump(ops: &Cell<u64>) {
    ops.set(ops.get() + 1);
}

/// Timed reads until READ_OPS were tried and the whole stream arrived; the bytes must be
/// exact, in order. The writer sends in random chunks and closes once the reader is done.
async fn read_storm(k: u64, ops: Rc<Cell<u64>>) {
    let (reader, writer) = tcp_pair().await;
    let finished = Rc::new(Cell::new(false));
    let writer_done = finished.clone();
    corio::spawn(async move {
        let data = pattern(100 + k, READ_LEN);
        let mut rng = Rng(k + 1);
        let mut at = 0;
        while at < data.len() {
            let n = (1 + rng.next() as usize % 3000).min(data.len() - at);
            let (res, _) = writer.write_all(data[at..at + n].to_vec()).await;
            res.unwrap();
            at += n;
            corio::time::sleep(rng.wait()).await;
        }
        while !writer_done.get() {
            corio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let mut rng = Rng(k + 77);
    let want = pattern(100 + k, READ_LEN);
    let mut got = Vec::with_capacity(READ_LEN);
    let mut tried = 0;
    while tried < READ_OPS || got.len() < READ_LEN {
        tried += 1;
        bump(&ops);
        let room = match rng.next() % 50 {
            0 => HUGE,
            _ => 1 + rng.next() as usize % 4096,
        };
        let buf = Vec::with_capacity(room);
        GLOBAL.assert_none_recorded("cancellation storm");
        if let Ok((res, buf)) = timeout(rng.wait(), reader.read(buf)).await {
            let n = res.unwrap();
            assert!(n > 0, "EOF after {} bytes", got.len());
            let at = got.len();
            got.extend_from_slice(&buf[..n]);
            assert!(
                got.len() <= READ_LEN && got[at..] == want[at..got.len()],
                "stream {k}: bytes lost or reordered at {at}"
            );
        }
    }
    finished.set(true);
}

/// Timed `write_all`s of 16..80 KiB through an 8 KiB send buffer while the peer drains: each
/// may stop at any prefix; what the peer gets must never contain a run of poison.
async fn write_storm(k: u64, ops: Rc<Cell<u64>>) {
    let (writer, reader) = tcp_pair().await;
    set_sndbuf(&writer, 8192);
    let drained = corio::spawn(async move {
        let mut total = 0usize;
        let mut run = 0usize;
        loop {
            let (res, buf) = reader.read(Vec::with_capacity(16 << 10)).await;
            match res.unwrap() {
                0 => return total,
                n => total += n,
            }
            for &b in &buf {
                run = if b == POISON { run + 1 } else { 0 };
                assert!(
                    run < 32,
                    "stream {k}: the peer received freed (poisoned) memory"
                );
            }
        }
    });
    let mut rng = Rng(k + 1000);
    for i in 0..WRITE_OPS {
        GLOBAL.assert_none_recorded("cancellation storm");
        bump(&ops);
        let len = (16 << 10) + rng.next() as usize % (64 << 10);
        let data = match rng.next() % 50 {
            0 => vec![0u8; HUGE - 7],
            _ => pattern(k * 10_000 + i, len),
        };
        let _ = timeout(rng.wait(), writer.write_all(data)).await;
    }
    drop(writer);
    assert!(drained.await.unwrap() > 0);
}

fn set_sndbuf(s: &TcpStream, bytes: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt reads an i32 that lives for the call, on a socket `s` owns.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&bytes as *const i32).cast(),
            4,
        )
    };
    assert_eq!(rc, 0);
}

/// Timed accepts while a thread connects CLIENTS clients (each sends its id): every client is
/// accepted exactly once.
async fn accept_storm(ops: Rc<Cell<u64>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let clients = std::thread::spawn(move || {
        let mut open = Vec::new();
        for i in 0..CLIENTS {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(&i.to_le_bytes()).unwrap();
            open.push(s);
            std::thread::sleep(Duration::from_micros(300));
        }
        // Hold every connection until the acceptor has read its id (it then closes).
        for mut s in open {
            let _ = s.read(&mut [0u8; 1]);
        }
    });
    let mut rng = Rng(4242);
    let mut seen = vec![false; CLIENTS as usize];
    let (mut tried, mut served) = (0, 0);
    while tried < ACCEPT_OPS || served < CLIENTS {
        GLOBAL.assert_none_recorded("cancellation storm");
        tried += 1;
        bump(&ops);
        let Ok(res) = timeout(rng.wait(), listener.accept()).await else {
            continue;
        };
        let (conn, _) = res.unwrap();
        let (res, id) = conn.read_exact(Vec::with_capacity(4)).await;
        res.unwrap();
        let id = u32::from_le_bytes(id[..].try_into().unwrap()) as usize;
        assert!(!seen[id], "client {id} accepted twice");
        seen[id] = true;
        served += 1;
    }
    clients.join().unwrap();
}

#[test]
fn cancellation_storm_of_10000_ops() {
    crate::support::each_driver(cancellation_storm_of_10000_ops_on_one_driver);
}

fn cancellation_storm_of_10000_ops_on_one_driver() {
    let _serial = serial();
    let baseline = open_fds();
    let rt = rt();
    let ops = Rc::new(Cell::new(0u64));
    let before = rt.driver_stats();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for k in 0..READERS {
            tasks.push(corio::spawn(read_storm(k, ops.clone())));
        }
        for k in 0..WRITERS {
            tasks.push(corio::spawn(write_storm(k, ops.clone())));
        }
        tasks.push(corio::spawn(accept_storm(ops.clone())));
        let all = async {
            for t in tasks {
                t.await.unwrap();
            }
        };
        timeout(Duration::from_secs(60), all)
            .await
            .expect("storm finished");
    });
    let after = rt.driver_stats();
    assert!(ops.get() >= 10_000, "{} ops", ops.get());
    if driver() == DriverKind::IoUring {
        assert!(
            after.cancellations - before.cancellations >= 100,
            "few ops were dropped in flight: {after:?}"
        );
    }
    println!("{} ops; {after:?}", ops.get());
    drop(rt);
    GLOBAL.assert_clean("cancellation storm");
    assert_eq!(settled_fds(baseline), baseline);
}
