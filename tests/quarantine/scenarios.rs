//! The scenarios run under the quarantine: the runtime dropped with 2,000 operations in flight,
//! a panicking task destructor at shutdown, and close with operations in flight. After each,
//! the peers prod the kernel, the quarantine must be clean, every connection must have been
//! closed, and the fd count must be back to its baseline. (The cancellation storm is in
//! storm.rs.)

use super::peers::{self, check_seen, prod_and_drain, settled_fds};
use super::{serial, GLOBAL};
use crate::support::{open_fds, pattern, rt};
use corio::net::TcpStream;
use corio::DriverKind;
use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

/// Connections in the drop-in-flight scenario: a read and a write stuck on each.
const CONNS: usize = 1000;
/// Each stuck write: far more than the small socket buffers hold.
const WRITE_LEN: usize = 64 << 10;
/// How long the peers wait for corio's side to close, in all.
const PEER_LIMIT: Duration = Duration::from_secs(5);
const LIMIT: Duration = Duration::from_secs(30);

/// Read buffer sizes from 16 KiB to 1 MiB (every 50th is 1 MiB).
fn read_size(i: usize) -> usize {
    if i.is_multiple_of(50) {
        1 << 20
    } else {
        (16 << 10) + (i * 7919) % (48 << 10)
    }
}

/// Spawns a read and a write on `stream`; neither can finish, since the peer neither writes
/// nor reads. `done` counts those that finish anyway.
fn spawn_stuck_ops(stream: Rc<TcpStream>, i: usize, done: &Rc<Cell<usize>>) {
    let (reader, read_done, write_done) = (stream.clone(), done.clone(), done.clone());
    corio::spawn(async move {
        let _ = reader.read(Vec::with_capacity(read_size(i))).await;
        read_done.set(read_done.get() + 1);
    });
    corio::spawn(async move {
        let _ = stream.write_all(pattern(i as u64, WRITE_LEN)).await;
        write_done.set(write_done.get() + 1);
    });
}

/// Waits until at least `want` operations are parked — in the ring on io_uring, parked after
/// EAGAIN on epoll — and nothing new has been submitted for a few turns.
async fn wait_parked(want: u64) {
    let mut last = u64::MAX;
    let mut quiet = 0;
    while quiet < 3 {
        corio::time::sleep(Duration::from_millis(3)).await;
        let s = corio::current_driver_stats();
        let parked = match crate::support::driver() {
            DriverKind::IoUring => s.in_flight,
            DriverKind::Epoll => s.eagain,
        };
        quiet = if parked >= want && s.ops_submitted == last {
            quiet + 1
        } else {
            0
        };
        last = s.ops_submitted;
    }
}

/// 1,000 reads (peers that do not write) and 1,000 writes (peers that do not read) are in
/// flight when the runtime is dropped; as it goes, every other peer starts writing, so some
/// reads complete while their cancels are on the way.
#[test]
fn runtime_dropped_with_1000_reads_and_1000_writes_in_flight() {
    crate::support::each_driver(
        runtime_dropped_with_1000_reads_and_1000_writes_in_flight_on_one_driver,
    );
}

fn runtime_dropped_with_1000_reads_and_1000_writes_in_flight_on_one_driver() {
    let _serial = serial();
    let baseline = open_fds();
    let before = GLOBAL.stats();
    let (ours, mut peers) = peers::pairs(CONNS);
    let rt = rt();
    let done = Rc::new(Cell::new(0));
    rt.block_on(async {
        let setup = async {
            for (i, s) in ours.into_iter().enumerate() {
                spawn_stuck_ops(Rc::new(TcpStream::from_std(s).unwrap()), i, &done);
            }
            wait_parked(2 * CONNS as u64).await;
        };
        corio::time::timeout(LIMIT, setup)
            .await
            .expect("ops parked");
    });
    assert_eq!(done.get(), 0, "ops that should be stuck finished");
    // Half the peers start writing as the runtime goes: completions race the cancels.
    let racing = peers::racing_writes(&peers);
    drop(rt);
    drop(racing);
    let seen = prod_and_drain(&mut peers, PEER_LIMIT);
    GLOBAL.assert_clean("runtime dropped with 2,000 ops in flight");
    check_seen(&seen, |i| pattern(i as u64, WRITE_LEN));
    let after = GLOBAL.stats();
    let buffers: usize = (0..CONNS).map(|i| read_size(i) + WRITE_LEN).sum();
    assert!(
        after.quarantined_bytes - before.quarantined_bytes >= buffers,
        "the op buffers did not go through the quarantine: {before:?} {after:?}"
    );
    drop(peers);
    assert_eq!(settled_fds(baseline), baseline);
}

/// Panics when dropped: a task destructor that fails during runtime shutdown.
struct PanicOnDrop(Arc<AtomicBool>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        panic!("task destructor panics at shutdown");
    }
}

/// A waker kept past the runtime (as any program may keep one): it holds the executor's
/// cross-thread handle, and with it the ring, alive.
static KEPT_WAKER: Mutex<Option<Waker>> = Mutex::new(None);

/// A task destructor panics in `Runtime::drop`, with 100 reads in flight (50 tasks before the
/// panicking one, 50 after) and a waker kept past the runtime. Afterwards every connection must
/// be closed, the quarantine clean, the fds back to baseline once the waker is gone.
///
/// Before the fix (issue 9, defect 2) the panic propagated out of `Runtime::drop`; on
/// io_uring all 100 connections stayed open (the orphaned reads' slab was freed with their
/// cancels unsubmitted while the ring lived on), on epoll the 50 tasks after the panicking one
/// were never dropped (each held its own waker through its stream's deadline watchers: a
/// cycle).
#[test]
fn panicking_task_destructor_at_shutdown() {
    crate::support::each_driver(panicking_task_destructor_at_shutdown_on_one_driver);
}

fn panicking_task_destructor_at_shutdown_on_one_driver() {
    let _serial = serial();
    let baseline = open_fds();
    let (ours, mut peers) = peers::pairs(100);
    let rt = rt();
    let bomb_dropped = Arc::new(AtomicBool::new(false));
    let done = Rc::new(Cell::new(0));
    rt.block_on(async {
        for (i, s) in ours.into_iter().enumerate() {
            if i == 50 {
                let bomb = PanicOnDrop(bomb_dropped.clone());
                corio::spawn(async move {
                    let _bomb = bomb;
                    std::future::pending::<()>().await
                });
            }
            let s = TcpStream::from_std(s).unwrap();
            let done = done.clone();
            corio::spawn(async move {
                let _ = s.read(Vec::with_capacity(read_size(i))).await;
                done.set(done.get() + 1);
            });
        }
        corio::spawn(std::future::poll_fn(|cx| {
            *KEPT_WAKER.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        wait_parked(100).await;
    });
    assert_eq!(done.get(), 0, "reads that should be stuck finished");
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(rt)));
    assert!(
        bomb_dropped.load(Ordering::SeqCst),
        "the destructor never ran"
    );
    if let Err(payload) = res {
        let msg = payload.downcast_ref::<&str>().copied().unwrap_or("?");
        assert_eq!(msg, "task destructor panics at shutdown");
    }
    // The waker still holds the executor's handle (and the ring) while the peers prod.
    let seen = prod_and_drain(&mut peers, PEER_LIMIT);
    GLOBAL.assert_clean("a task destructor panicked at shutdown");
    check_seen(&seen, |_| Vec::new());
    KEPT_WAKER.lock().unwrap().take();
    drop(peers);
    assert_eq!(settled_fds(baseline), baseline);
}

#[test]
fn close_with_reads_and_writes_in_flight() {
    crate::support::each_driver(close_with_reads_and_writes_in_flight_on_one_driver);
}

fn close_with_reads_and_writes_in_flight_on_one_driver() {
    const N: usize = 200;
    let _serial = serial();
    let baseline = open_fds();
    let (ours, mut peers) = peers::pairs(N);
    let rt = rt();
    rt.block_on(async {
        let body = async {
            let streams: Vec<Rc<TcpStream>> = ours
                .into_iter()
                .map(|s| Rc::new(TcpStream::from_std(s).unwrap()))
                .collect();
            let mut reads = Vec::new();
            let mut writes = Vec::new();
            for (i, s) in streams.iter().enumerate() {
                for _ in 0..2 {
                    let s = s.clone();
                    reads.push(corio::spawn(async move {
                        s.read(Vec::with_capacity(read_size(i))).await
                    }));
                }
                let s = s.clone();
                writes.push(corio::spawn(async move {
                    s.write_all(pattern(i as u64, WRITE_LEN)).await
                }));
            }
            wait_parked(3 * N as u64).await;
            let closes: Vec<_> = streams
                .iter()
                .map(|s| {
                    let s = s.clone();
                    corio::spawn(async move { s.close().await })
                })
                .collect();
            for c in closes {
                c.await.unwrap().expect("close");
            }
            for (k, r) in reads.into_iter().enumerate() {
                let (res, buf) = r.await.unwrap();
                let e = res.expect_err("a read on a closed stream");
                assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
                assert!(buf.is_empty() && buf.capacity() >= read_size(k / 2));
            }
            for (i, w) in writes.into_iter().enumerate() {
                let (res, buf) = w.await.unwrap();
                let e = res.expect_err("a write on a closed stream");
                assert_eq!(e.kind(), ErrorKind::NotConnected, "{e}");
                assert!(
                    buf == pattern(i as u64, WRITE_LEN),
                    "write buffer #{i} changed"
                );
            }
            let (res, _) = streams[0].read(Vec::with_capacity(8)).await;
            assert_eq!(res.unwrap_err().kind(), ErrorKind::NotConnected);
        };
        corio::time::timeout(LIMIT, body)
            .await
            .expect("close ended every op");
    });
    // Closed while the runtime still exists: every socket is really gone.
    let seen = prod_and_drain(&mut peers, PEER_LIMIT);
    check_seen(&seen, |i| pattern(i as u64, WRITE_LEN));
    drop(rt);
    GLOBAL.assert_clean("close with ops in flight");
    drop(peers);
    assert_eq!(settled_fds(baseline), baseline);
}
