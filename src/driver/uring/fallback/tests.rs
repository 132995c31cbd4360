//! The readiness form on the ring, driven through the driver's face with an op whose opcode no
//! kernel has: it must wait with POLL_ADD, finish with the data, and, dropped while waiting,
//! complete as cancelled.

use crate::blocking::{Pool, PoolConfig};
use crate::driver::op::{Direction, FileRef, OpFile, OpState, Operation, Orphan};
use crate::driver::{open, Driver, DriverChoice, DriverConfig, Opcode};
use crate::sys::blocking::Blocking;
use io_uring::squeue;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// What the op's fd answers: its number (it has no poll descriptor on the ring).
fn target(op: &TestRecv) -> Option<OpFile> {
    Some(OpFile {
        file: FileRef::Fd(op.fd),
        token: None,
    })
}

/// A recv whose opcode does not exist, so the ring must run its readiness form.
struct TestRecv {
    fd: RawFd,
    buf: Vec<u8>,
    /// What the orphan was completed with, once dropped.
    orphan_result: Arc<Mutex<Option<io::Result<u32>>>>,
}

impl Operation for TestRecv {
    const OPCODE: Opcode = Opcode {
        code: 250,
        name: "TEST_ONLY",
    };
    fn sqe(&mut self) -> squeue::Entry {
        unreachable!("no kernel has this opcode")
    }
    fn direction(&self) -> Option<Direction> {
        Some(Direction::Read)
    }
    fn attempt(&mut self) -> io::Result<u32> {
        let (ptr, len) = crate::buf::spare_mut(&mut self.buf);
        crate::sys::syscall!(recv(self.fd, ptr.cast(), len, libc::MSG_DONTWAIT)).map(|n| n as u32)
    }
    fn drains(&self, _: u32) -> bool {
        false
    }
    fn blocking(&mut self) -> Option<Blocking> {
        None
    }
}

impl Orphan for TestRecv {
    fn complete(self: Box<Self>, result: io::Result<u32>, _flags: u32) {
        *self.orphan_result.lock().unwrap() = Some(result);
    }
}

#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn uring() -> Option<Driver> {
    let config = DriverConfig {
        choice: Some(DriverChoice::IoUring),
        ring_entries: 8,
        registered_fds: Some(false),
        pool: Arc::new(Pool::new(PoolConfig {
            max_threads: 1,
            queue_limit: 1,
            idle_timeout: Duration::from_secs(1),
        })),
    };
    match open(&config) {
        Ok((driver, _, _)) => Some(driver),
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            println!("skipped: io_uring refused here: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

fn socketpair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two fds into the array we pass.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    // SAFETY: socketpair just made these fds and nothing else owns them.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn send(fd: &OwnedFd, bytes: &[u8]) {
    // SAFETY: writes from a live slice to an fd we own.
    let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    assert_eq!(n, bytes.len() as isize);
}

#[test]
fn a_missing_socket_opcode_runs_in_readiness_form_on_the_ring() {
    let Some(mut driver) = uring() else { return };
    let (ours, peer) = socketpair();
    let wakes = Arc::new(CountingWaker::default());
    let waker = Waker::from(wakes.clone());
    let cx = Context::from_waker(&waker);
    let mut op = TestRecv {
        fd: ours.as_raw_fd(),
        buf: Vec::with_capacity(16),
        orphan_result: Default::default(),
    };
    let t = target(&op);
    let mut state = OpState::Unstarted;
    assert!(driver.poll_op(&mut state, &mut op, t, &cx).is_pending());
    assert!(matches!(state, OpState::Polling(_)), "{state:?}");
    let stats = driver.stats();
    assert_eq!((stats.fallback_ops, stats.eagain), (1, 1), "{stats:?}");
    send(&peer, b"ring poll");
    for _ in 0..100 {
        if wakes.0.load(Ordering::SeqCst) > 0 {
            break;
        }
        driver.park(Some(Duration::from_millis(20))).unwrap();
    }
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "the POLL_ADD woke the task"
    );
    match driver.poll_op(&mut state, &mut op, t, &cx) {
        Poll::Ready((Ok(9), _)) => {}
        other => panic!("{other:?}"),
    }
    // SAFETY: the recv wrote 9 bytes into the spare capacity.
    unsafe { op.buf.set_len(9) };
    assert_eq!(op.buf, b"ring poll");

    // Dropped while its POLL_ADD waits: the poll is cancelled and the data comes back as
    // cancelled (the recv never ran), so nothing is kept.
    let result = Arc::new(Mutex::new(None));
    let mut op = TestRecv {
        fd: ours.as_raw_fd(),
        buf: Vec::with_capacity(16),
        orphan_result: result.clone(),
    };
    let t = target(&op);
    let mut state = OpState::Unstarted;
    assert!(driver.poll_op(&mut state, &mut op, t, &cx).is_pending());
    assert!(driver.orphan_op(state, Box::new(op)).is_ok());
    for _ in 0..100 {
        if result.lock().unwrap().is_some() {
            break;
        }
        driver.park(Some(Duration::from_millis(20))).unwrap();
    }
    let got = result.lock().unwrap().take().expect("the orphan completed");
    assert_eq!(got.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    driver.shutdown();
}
