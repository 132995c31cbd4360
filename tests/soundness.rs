//! Defects found by review (issue 9), each behind a test that failed before its fix: stale
//! wakes of finished tasks, panicking destructors at shutdown, lost wake-ups in the bounded
//! channel, late results of dropped ops after close, fds used under a second executor,
//! time at `Duration::MAX`, reads cut short by the kernel at a boundary. Runs under both
//! drivers.

mod support;

use corio::net::{TcpListener, TcpStream};
use corio::sync::mpsc;
use corio::DriverKind;
use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io::{ErrorKind, Read, Write};
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;
use support::{
    driver, each_driver, only_on, open_fds, pattern, rt, run_test, settled_fds, skip, tcp_pair,
};

/// Lets the executor run one full turn (every queued task, one driver park).
async fn yield_turns(n: usize) {
    for _ in 0..n {
        let mut yielded = false;
        poll_fn(|cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
    }
}

/// Sets a flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

thread_local! {
    /// Keeps a task's waker alive past the task's removal from the registry.
    static KEPT: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
}

/// Defect 1: a wake of a task that already finished must not unregister the live task that
/// reused its registry key.
#[test]
fn a_stale_wake_of_a_finished_task_leaves_the_live_task_registered() {
    each_driver(|| {
        let dropped = Rc::new(Cell::new(false));
        let rt = rt();
        rt.block_on(async {
            let base = corio::current_stats().tasks_alive;
            // Task A finishes at once and leaves its waker behind.
            let stale: Rc<RefCell<Option<Waker>>> = Rc::default();
            let s = stale.clone();
            corio::spawn(poll_fn(move |cx| {
                *s.borrow_mut() = Some(cx.waker().clone());
                Poll::Ready(())
            }))
            .await
            .unwrap();
            // Task B takes A's registry key (the slab reuses the freed one), parks forever and
            // keeps its own waker somewhere (as a socket or a channel would).
            let flag = DropFlag(dropped.clone());
            corio::spawn(async move {
                let _flag = flag;
                poll_fn(|cx| {
                    KEPT.with(|k| k.borrow_mut().push(cx.waker().clone()));
                    Poll::<()>::Pending
                })
                .await
            });
            yield_turns(2).await;
            assert_eq!(corio::current_stats().tasks_alive, base + 1);
            // The stale wake of A.
            stale.borrow_mut().take().unwrap().wake();
            yield_turns(2).await;
            assert_eq!(
                corio::current_stats().tasks_alive,
                base + 1,
                "the stale wake unregistered the live task"
            );
        });
        drop(rt);
        assert!(
            dropped.get(),
            "the live task's future was not dropped with its runtime"
        );
        KEPT.with(|k| k.borrow_mut().clear());
    });
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("destructor panics");
    }
}

/// Defect 2: a task whose destructor panics at runtime shutdown must not stop the shutdown:
/// every other task is dropped, every op in flight is cancelled and its CQE awaited (the
/// buffers are not freed under the kernel), and the fds come back.
#[test]
fn a_panicking_destructor_at_shutdown_does_not_skip_the_driver_shutdown() {
    let _fds = support::counting_fds();
    each_driver(|| {
        let base = open_fds();
        let peers: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
        let dropped = Rc::new(Cell::new(0u32));
        {
            let rt = rt();
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            rt.block_on(async {
                for i in 0..20 {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    peers.lock().unwrap().push(listener.accept().unwrap().0);
                    let flag = DropFlag(Rc::new(Cell::new(false)));
                    let counter = dropped.clone();
                    corio::spawn(async move {
                        let _guard = CountOnDrop(counter);
                        // Every other task panics while being dropped.
                        let _p = (i % 2 == 0).then_some(PanicOnDrop);
                        let _flag = flag;
                        let _ = stream.read(Vec::with_capacity(64 << 10)).await;
                    });
                }
                yield_turns(3).await;
            });
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(rt)));
            assert!(
                res.is_ok(),
                "a task's destructor panic escaped Runtime::drop"
            );
        }
        assert_eq!(dropped.get(), 20, "not every task was dropped");
        // The ring let go of every read: the sockets are closed, so every peer sees EOF now.
        for mut peer in peers.lock().unwrap().drain(..) {
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut b = [0u8; 1];
            // EINTR: a ring torn down on this thread may leave task work that interrupts its
            // next blocking syscall once (seen with registered descriptors); ask again.
            let n = loop {
                match peer.read(&mut b) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    res => break res.unwrap(),
                }
            };
            assert_eq!(n, 0, "the socket was not closed");
        }
        assert_eq!(open_fds(), base);
    });
}

struct CountOnDrop(Rc<Cell<u32>>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Defect 3: a cancelled `send` must not take the wake-up meant for a sender still waiting.
#[test]
fn a_cancelled_send_does_not_swallow_the_wake_of_a_waiting_sender() {
    run_test(|| async {
        let (tx, mut rx) = mpsc::bounded::<u32>(1);
        tx.send(0).await.unwrap();
        // Sender A waits for room, then gives up.
        let a = corio::time::timeout(Duration::from_millis(20), tx.send(1)).await;
        assert!(a.is_err(), "the channel is full: A must wait");
        // Sender B waits for room.
        let tx2 = tx.clone();
        let b = corio::spawn(async move { tx2.send(2).await });
        yield_turns(2).await;
        // One receive makes room for one sender: B.
        assert_eq!(rx.recv().await, Some(0));
        let sent = corio::time::timeout(Duration::from_secs(5), b).await;
        assert!(
            matches!(sent, Ok(Ok(Ok(())))),
            "the waiting sender was never woken"
        );
        assert_eq!(rx.recv().await, Some(2));
    });
}

/// Counts the clones of a waker that are alive.
struct CountingWake;

impl Wake for CountingWake {
    fn wake(self: Arc<Self>) {}
}

/// Defect 3 (second half): re-polling a waiting send with the same waker keeps one waker, not
/// one per poll.
#[test]
fn repolling_a_waiting_send_does_not_grow_the_waiter_queue() {
    run_test(|| async {
        let (tx, mut rx) = mpsc::bounded::<u32>(1);
        tx.send(0).await.unwrap();
        let counter = Arc::new(CountingWake);
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut send = pin!(tx.send(1));
        for _ in 0..1000 {
            assert!(send.as_mut().poll(&mut cx).is_pending());
        }
        // This test holds two references (`counter`, `waker`); the channel may hold one.
        assert!(
            Arc::strong_count(&counter) <= 3,
            "{} wakers queued for one waiting send",
            Arc::strong_count(&counter) - 2
        );
        assert_eq!(rx.recv().await, Some(0));
        assert!(send.as_mut().poll(&mut cx).is_ready());
        assert_eq!(rx.recv().await, Some(1));
    });
}

/// Defect 7: a dropped accept whose connection arrives after `close()` must not keep that
/// connection on the closed listener.
#[test]
fn a_late_accept_after_close_is_closed_at_once() {
    let _fds = support::counting_fds();
    run_test(|| async {
        let base = open_fds();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accept = Box::pin(listener.accept());
        // Submitted (io_uring) or parked (epoll).
        assert!(poll_fn(|cx| Poll::Ready(accept.as_mut().poll(cx).is_pending())).await);
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        // Let the driver reap the accept's completion without collecting it.
        yield_turns(3).await;
        listener.close().await.unwrap();
        drop(accept);
        yield_turns(3).await;
        // The client alone: the late connection was closed, and the closed listener's number
        // was released when its last operation (the dropped accept) let go.
        assert_eq!(settled_fds(base + 1).await, base + 1);
        if driver() == DriverKind::IoUring {
            // The accepted connection was closed: the client sees EOF (or a reset).
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut b = [0u8; 1];
            match client.read(&mut b) {
                Ok(0) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                other => panic!("the late connection is still open: {other:?}"),
            }
        }
        drop(listener);
        drop(client);
        assert_eq!(settled_fds(base).await, base);
    });
}

/// Defect 6: a socket made on one executor and used on another either works (io_uring: an
/// fd is an fd) or fails with a clear error (epoll: its poll descriptor lives in the other
/// executor's table) — it never hangs or parks on another socket's slot.
#[test]
fn a_socket_used_under_a_second_executor_works_or_fails_clearly() {
    each_driver(|| {
        let first = rt();
        let (a, b) = first.block_on(tcp_pair());
        let second = rt();
        second.block_on(async {
            // Give the second executor descriptors whose keys collide with the first's.
            let (c, d) = tcp_pair().await;
            let (res, _) = b.write_all(pattern(1, 100)).await;
            match driver() {
                DriverKind::IoUring => {
                    res.unwrap();
                    let (res, buf) = corio::time::timeout(
                        Duration::from_secs(5),
                        a.read_exact(Vec::with_capacity(100)),
                    )
                    .await
                    .expect("a read under the second ring hung");
                    res.unwrap();
                    assert_eq!(buf, pattern(1, 100));
                }
                DriverKind::Epoll => {
                    let e = res.expect_err("an epoll socket used under another executor");
                    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
                    assert!(e.to_string().contains("another corio executor"), "{e}");
                    let (res, _) =
                        corio::time::timeout(Duration::from_secs(5), a.read(Vec::with_capacity(8)))
                            .await
                            .expect("a read under the second executor hung");
                    assert_eq!(res.unwrap_err().kind(), ErrorKind::InvalidInput);
                }
            }
            // The second executor's own sockets are untouched.
            let (res, _) = c.write_all(pattern(2, 10)).await;
            res.unwrap();
            let (res, buf) = d.read_exact(Vec::with_capacity(10)).await;
            res.unwrap();
            assert_eq!(buf, pattern(2, 10));
        });
        drop((a, b));
    });
}

/// `sleep(Duration::MAX)` and `timeout(Duration::MAX, f)` mean "never", not a panic.
#[test]
fn sleep_and_timeout_of_duration_max_mean_never() {
    run_test(|| async {
        let sleep = corio::time::sleep(Duration::MAX);
        let r = corio::time::timeout(Duration::from_millis(10), sleep).await;
        assert!(r.is_err(), "sleep(MAX) completed");
        let r = corio::time::timeout(Duration::MAX, async { 7 }).await;
        assert_eq!(r, Ok(7));
        let r = corio::time::timeout(
            Duration::from_millis(10),
            corio::time::timeout(Duration::MAX, std::future::pending::<()>()),
        )
        .await;
        assert!(r.is_err(), "timeout(MAX) elapsed");
        let mut iv = corio::time::interval(Duration::MAX);
        iv.tick().await;
        let r = corio::time::timeout(Duration::from_millis(10), iv.tick()).await;
        assert!(r.is_err(), "interval(MAX) ticked twice");
    });
}

/// A TCP read stops at the urgent mark with more data queued behind it: on epoll that short
/// read must not mark the socket drained (the next read would park with data queued).
#[test]
fn a_read_cut_at_the_tcp_urgent_mark_does_not_park_with_data_queued() {
    run_test(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peer = std::net::TcpStream::connect(addr).unwrap();
        let (conn, _) = listener.accept().await.unwrap();
        peer.write_all(b"abc").unwrap();
        send_oob(&peer, b'!');
        peer.write_all(b"def").unwrap();
        // Let every segment arrive before the first read.
        corio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(read_six(Rc::new(conn)).await, b"abcdef");
    });
}

/// Reads 6 bytes in reads of up to 64, each in its own task so that only I/O can wake it (a
/// timer firing in the same task would make a parked read retry and hide a hang).
async fn read_six<S: ReadSome + 'static>(stream: Rc<S>) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < 6 {
        let s = stream.clone();
        let read = corio::spawn(async move { s.read_some().await });
        let (res, buf) = corio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("a read parked with data queued")
            .unwrap();
        assert!(res.unwrap() > 0);
        got.extend_from_slice(&buf);
    }
    got
}

trait ReadSome {
    async fn read_some(&self) -> (std::io::Result<usize>, Vec<u8>);
}

impl ReadSome for TcpStream {
    async fn read_some(&self) -> (std::io::Result<usize>, Vec<u8>) {
        self.read(Vec::with_capacity(64)).await
    }
}

impl ReadSome for corio::net::UnixStream {
    async fn read_some(&self) -> (std::io::Result<usize>, Vec<u8>) {
        self.read(Vec::with_capacity(64)).await
    }
}

fn send_oob(peer: &std::net::TcpStream, byte: u8) {
    use std::os::fd::AsRawFd;
    // SAFETY: sends one byte from a live local on a socket the caller owns.
    let n = unsafe {
        libc::send(
            peer.as_raw_fd(),
            (&byte as *const u8).cast(),
            1,
            libc::MSG_OOB,
        )
    };
    assert_eq!(n, 1, "{}", std::io::Error::last_os_error());
}

/// An AF_UNIX stream read stops after a message that carried fds (SCM_RIGHTS), with more
/// bytes queued: on epoll that short read must not mark the socket drained.
#[test]
fn a_unix_read_cut_at_an_scm_rights_boundary_does_not_park_with_data_queued() {
    run_test(|| async {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        let ours = corio::net::UnixStream::from_std(ours).unwrap();
        send_with_fd(&theirs, b"abc");
        (&theirs).write_all(b"def").unwrap();
        // Let the driver see both arrivals before the first read.
        corio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(read_six(Rc::new(ours)).await, b"abcdef");
        drop(theirs);
    });
}

/// Sends `data` with one fd (stdin's duplicate) attached as SCM_RIGHTS.
fn send_with_fd(sock: &std::os::unix::net::UnixStream, data: &[u8]) {
    use std::os::fd::AsRawFd;
    let fd: i32 = 0;
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; every pointer set below stays valid for the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` has a control buffer of CMSG_SPACE(4) bytes, room for one header.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<i32>(), fd);
    }
    // SAFETY: `msg` points at live buffers for the duration of the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) };
    assert_eq!(
        n,
        data.len() as isize,
        "{}",
        std::io::Error::last_os_error()
    );
}

/// A socket adopted twice (two corio streams over dup'd fds of one open file): closing one
/// must not cancel the other's operations.
#[test]
fn closing_one_of_two_adopted_dups_leaves_the_other_working() {
    run_test(|| async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (std_conn, _) = listener.accept().unwrap();
        let dup = std_conn.try_clone().unwrap();
        let one = TcpStream::from_std(std_conn).unwrap();
        let two = Rc::new(TcpStream::from_std(dup).unwrap());
        let reader = two.clone();
        let read = corio::spawn(async move { reader.read(Vec::with_capacity(64)).await });
        yield_turns(3).await;
        one.close().await.unwrap();
        yield_turns(3).await;
        assert!(
            !read.is_finished(),
            "closing the dup cancelled the other's read"
        );
        peer.write_all(b"still here").unwrap();
        let (res, buf) = corio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the other's read never completed")
            .unwrap();
        assert_eq!(res.unwrap(), 10);
        assert_eq!(buf, b"still here");
    });
}

/// A ring whose every `io_uring_enter` fails (here: a SINGLE_ISSUER ring used from a forked
/// child, which the kernel refuses with EEXIST) fails loudly — the ops get the error, then the
/// loop reports the broken driver — instead of spinning forever trying to make room in a
/// full SQ. Only io_uring has this state.
#[test]
fn a_ring_whose_enters_fail_errors_instead_of_spinning() {
    only_on(DriverKind::IoUring, "an io_uring state", || {
        let rt = support::builder().ring_entries(2).build().unwrap();
        rt.block_on(async {});
        if !rt.driver_info().setup_flags.contains(&"SINGLE_ISSUER") {
            skip("the kernel refused SINGLE_ISSUER");
            return;
        }
        // SAFETY: the child only runs corio on this thread and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "{}", std::io::Error::last_os_error());
        if pid == 0 {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(async {
                    let ops: Vec<_> = (0..8).map(|_| corio::spawn(corio::op::nop())).collect();
                    let mut failed = 0;
                    for op in ops {
                        if op.await.unwrap().is_err() {
                            failed += 1;
                        }
                    }
                    failed
                })
            }));
            // 0: the ops failed; 1: the loop reported the broken driver; 2: it worked (unexpected).
            let code = match out {
                Ok(failed) if failed > 0 => 0,
                Ok(_) => 2,
                Err(_) => 1,
            };
            // SAFETY: ends the forked child without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child without blocking.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if std::time::Instant::now() > deadline {
                // SAFETY: kills our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                // SAFETY: reaps it.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                panic!("the forked child spun for 10 s on a ring whose enters fail");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert!(
            matches!(libc::WEXITSTATUS(status), 0 | 1),
            "child exit {}",
            libc::WEXITSTATUS(status)
        );
    });
}

/// A task whose reads all find data waiting (a full socket: on epoll every recv returns at
/// once) must still yield to the other tasks of its executor: each poll of a task may start a
/// bounded number of operations (the cooperative budget).
#[test]
fn a_task_reading_a_full_socket_yields_to_other_tasks() {
    run_test(|| async {
        let (a, b) = tcp_pair().await;
        let (res, _) = a.write_all(pattern(9, 64 << 10)).await;
        res.unwrap();
        // Let all of it arrive before the reader starts.
        corio::time::sleep(Duration::from_millis(50)).await;
        let other_ran = Rc::new(Cell::new(false));
        let flag = other_ran.clone();
        let reader = corio::spawn(async move {
            let mut got = 0;
            let mut seen_other_before_done = false;
            while got < 64 << 10 {
                let (res, _) = b.read(Vec::with_capacity(64)).await;
                got += res.unwrap();
                seen_other_before_done |= flag.get();
            }
            seen_other_before_done
        });
        let other = other_ran.clone();
        corio::spawn(async move { other.set(true) });
        assert!(
            reader.await.unwrap(),
            "the reader never yielded: 1,024 reads in one poll"
        );
    });
}

/// The drivers keep the last waker of a ring slot and of a poll descriptor's direction, and
/// clone a new one only for a waker that would not wake the same task: a socket read by one
/// task and then by another must wake the second (the kept waker is replaced), and a read
/// polled first with a foreign waker and then awaited by its task must wake the task.
#[test]
fn a_kept_waker_is_replaced_when_another_task_waits() {
    run_test(|| async {
        let (a, b) = tcp_pair().await;
        let b = Rc::new(b);
        for (round, word) in [&b"one"[..], b"two", b"three"].into_iter().enumerate() {
            // A new task each round, parked on the same socket before the bytes come.
            let reader = b.clone();
            let read = corio::spawn(async move {
                let (res, buf) = reader.read(Vec::with_capacity(16)).await;
                res.map(|n| buf[..n].to_vec())
            });
            yield_turns(3).await;
            let (res, _) = a.write_all(word.to_vec()).await;
            res.unwrap();
            let got = corio::time::timeout(Duration::from_secs(5), read)
                .await
                .unwrap_or_else(|_| panic!("round {round}: the second task was never woken"));
            assert_eq!(got.unwrap().unwrap(), word);
        }
        // One read, first polled with a waker of no task, then awaited by this task.
        let counter = Arc::new(CountingWake);
        let foreign = Waker::from(counter.clone());
        let mut read = pin!(b.read(Vec::with_capacity(16)));
        assert!(read
            .as_mut()
            .poll(&mut Context::from_waker(&foreign))
            .is_pending());
        let writer = corio::spawn(async move {
            yield_turns(3).await;
            let (res, _) = a.write_all(b"four".to_vec()).await;
            res.unwrap();
            a
        });
        let (res, buf) = corio::time::timeout(Duration::from_secs(5), read)
            .await
            .expect("the task awaiting the read was never woken");
        assert_eq!(&buf[..res.unwrap()], b"four");
        drop(writer.await.unwrap());
    });
}
