use super::{Pool, PoolConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn pool(max_threads: usize, queue_limit: usize, idle_ms: u64) -> Pool {
    Pool::new(PoolConfig {
        max_threads,
        queue_limit,
        idle_timeout: Duration::from_millis(idle_ms),
    })
}

/// Waits (bounded) until `f` holds.
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn jobs_run_on_at_most_max_threads() {
    let p = pool(2, 100, 10_000);
    let (tx, rx) = channel();
    let gate = Arc::new(Barrier::new(3));
    for i in 0..2 {
        let (tx, gate) = (tx.clone(), gate.clone());
        p.execute(Box::new(move || {
            gate.wait();
            tx.send(i).unwrap();
        }))
        .unwrap_or_else(|_| panic!("queued"));
    }
    // Both threads are blocked at the gate: a third job waits in the queue.
    let tx3 = tx.clone();
    p.execute(Box::new(move || tx3.send(2).unwrap()))
        .unwrap_or_else(|_| panic!("queued"));
    let s = p.stats();
    assert_eq!((s.threads, s.threads_started), (2, 2), "{s:?}");
    gate.wait();
    let mut got: Vec<i32> = (0..3).map(|_| rx.recv().unwrap()).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2]);
    eventually("the jobs are counted", || p.stats().jobs_run == 3);
    assert_eq!(p.stats().threads_started, 2);
}

#[test]
fn a_full_queue_hands_the_job_back() {
    let p = pool(1, 1, 10_000);
    let gate = Arc::new(Barrier::new(2));
    let g = gate.clone();
    p.execute(Box::new(move || {
        g.wait();
    }))
    .unwrap_or_else(|_| panic!("queued"));
    eventually("the thread took the first job", || p.stats().queued == 0);
    p.execute(Box::new(|| {}))
        .unwrap_or_else(|_| panic!("one job fits in the queue"));
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let back = p
        .execute(Box::new(move || {
            r.fetch_add(1, Ordering::SeqCst);
        }))
        .expect_err("the queue is full");
    // The caller runs what it got back: nothing is lost.
    back();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(p.stats().jobs_run_by_caller, 1);
    gate.wait();
}

#[test]
fn idle_threads_retire_and_come_back() {
    let p = pool(4, 100, 30);
    let (tx, rx) = channel();
    for _ in 0..3 {
        let tx = tx.clone();
        p.execute(Box::new(move || tx.send(()).unwrap()))
            .unwrap_or_else(|_| panic!("queued"));
    }
    (0..3).for_each(|_| rx.recv().unwrap());
    eventually("idle threads retire", || p.stats().threads == 0);
    let s = p.stats();
    assert_eq!(s.threads_retired, s.threads_started, "{s:?}");
    // A later job starts a thread again.
    p.execute(Box::new(move || tx.send(()).unwrap()))
        .unwrap_or_else(|_| panic!("queued"));
    rx.recv().unwrap();
    assert!(p.stats().threads_started > s.threads_started);
}

#[test]
fn a_panicking_job_keeps_its_thread() {
    let p = pool(1, 100, 10_000);
    p.execute(Box::new(|| panic!("a job panics (expected in this test)")))
        .unwrap_or_else(|_| panic!("queued"));
    let (tx, rx) = channel();
    p.execute(Box::new(move || tx.send(7).unwrap()))
        .unwrap_or_else(|_| panic!("queued"));
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
    let s = p.stats();
    assert_eq!((s.threads, s.threads_started), (1, 1), "{s:?}");
}

#[test]
fn queued_jobs_still_run_after_the_last_handle_is_gone() {
    let p = pool(1, 100, 10_000);
    let gate = Arc::new(Barrier::new(2));
    let g = gate.clone();
    p.execute(Box::new(move || {
        g.wait();
    }))
    .unwrap_or_else(|_| panic!("queued"));
    let (tx, rx) = channel();
    for i in 0..5 {
        let tx = tx.clone();
        p.execute(Box::new(move || tx.send(i).unwrap()))
            .unwrap_or_else(|_| panic!("queued"));
    }
    drop(p);
    gate.wait();
    let got: Vec<i32> = (0..5)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(got, [0, 1, 2, 3, 4]);
}
