//! File reads whose futures are dropped while the kernel (io_uring) or a blocking-pool thread
//! (epoll) still writes into their buffers, and a runtime dropped with more of them in flight.
//! On epoll the pool's one thread is held at a gate while the reads queue, so every read runs
//! after its future is gone. The buffers must be kept until each result is back, then freed
//! through the quarantine, which must find them untouched since.

use super::peers::settled_fds;
use super::{serial, GLOBAL};
use crate::support::{builder, open_fds, pattern};
use corio::fs::File;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::sync::{Arc, Barrier};
use std::task::Poll;
use std::time::Duration;

/// Reads in each half of the scenario, and the size of each.
const READS: usize = 32;
const SIZE: usize = 256 << 10;

/// Polls `fut` once (it starts its operation) and drops it.
async fn start_and_drop<F: Future>(fut: F) {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

#[test]
fn dropped_file_reads_and_a_runtime_dropped_with_file_reads_in_flight() {
    crate::support::each_driver(dropped_file_reads_on_one_driver);
}

fn dropped_file_reads_on_one_driver() {
    let _serial = serial();
    let path = std::env::temp_dir().join(format!(
        "corio-quarantine-files-{}-{}",
        std::process::id(),
        crate::support::name(crate::support::choice())
    ));
    std::fs::write(&path, pattern(1, READS * SIZE)).unwrap();
    let baseline = open_fds();
    let before = GLOBAL.stats();
    let rt = builder().blocking_threads(1).build().unwrap();
    let gate = Arc::new(Barrier::new(2));
    // The file outlives the runtime: were a buffer freed early, the fd would still be open for
    // the read that writes into it.
    let file = rt.block_on(async {
        let file = Rc::new(File::open(&path).await.unwrap());
        let g = gate.clone();
        // Holds the pool's only thread (epoll's reads wait behind it); detached.
        drop(corio::spawn_blocking(move || {
            g.wait();
        }));
        for i in 0..READS {
            start_and_drop(file.read_at(Vec::with_capacity(SIZE), (i * SIZE) as u64)).await;
        }
        for i in 0..READS {
            let f = file.clone();
            corio::spawn(async move {
                let _ = f.read_at(Vec::with_capacity(SIZE), (i * SIZE) as u64).await;
                unreachable!("the runtime is dropped first");
            });
        }
        corio::time::sleep(Duration::from_millis(10)).await;
        file
    });
    // The gate opens while the runtime is being dropped: its shutdown waits for the pool.
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        gate.wait();
    });
    drop(rt);
    opener.join().unwrap();
    GLOBAL.assert_clean("file reads dropped in flight");
    drop(file);
    let after = GLOBAL.stats();
    assert!(
        after.quarantined_bytes - before.quarantined_bytes >= 2 * READS * SIZE,
        "the read buffers did not go through the quarantine: {before:?} {after:?}"
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(settled_fds(baseline), baseline);
}
