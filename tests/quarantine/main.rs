//! Runs corio's riskiest shutdown and cancellation paths under a poisoning, quarantining
//! allocator (alloc.rs): any write into freed memory — by the kernel completing an operation
//! into a buffer corio let go of too early — fails the test that checks next. Like every test
//! binary, each scenario runs under both drivers (`support::each_driver`).
//!
//! The tests here run one at a time (`serial`): fd counts are per process, and a violation is
//! best blamed on the scenario that just ran.

#[path = "../support/mod.rs"]
mod support;

mod alloc;
mod files;
mod peers;
mod scenarios;
mod storm;

use std::alloc::{GlobalAlloc, Layout};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

#[global_allocator]
static GLOBAL: alloc::Quarantine = alloc::Quarantine::new();

/// Selects a deliberate write-after-free in a child run of this binary (see `child_scenario`).
const CHILD_ENV: &str = "CORIO_QUARANTINE_CHILD";

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Not a test of its own: the body of the child process that `write_after_free_*` start. It
/// frees a block, writes into it through a pointer kept past the free (undefined behaviour,
/// which is why it runs in a child), and lets the quarantine find it.
#[test]
#[ignore = "child process of the write_after_free_* tests"]
fn child_scenario() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut block = vec![0u8; 100_000];
    let ptr = std::hint::black_box(block.as_mut_ptr());
    drop(block);
    // SAFETY: none — this is the use-after-free the quarantine must catch. The block is held
    // (poisoned, still mapped) by the quarantine, so the write lands in its poison.
    unsafe { ptr.add(4242).write_volatile(0x42) };
    if mode == "evict" {
        // Push the block out of the quarantine: the eviction verifies it.
        for _ in 0..alloc::SLOTS + 10 {
            drop(std::hint::black_box(Box::new(0u64)));
        }
    }
    GLOBAL.assert_clean("child scenario");
}

fn run_child(mode: &str) -> String {
    // Its pipes count as fds of this process: keep them out of the scenarios' fd counts.
    let _serial = serial();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_scenario",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, mode)
        .output()
        .expect("run this test binary as a child");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "the write after free went unnoticed:\n{text}"
    );
    text
}

#[test]
fn write_after_free_is_caught_by_the_final_check() {
    let text = run_child("check");
    assert!(
        text.contains("freed block of 100000 bytes")
            && text.contains("first changed byte at offset 4242 (found 0x42")
            && text.contains("found by the final check"),
        "{text}"
    );
}

#[test]
fn write_after_free_is_caught_when_the_block_leaves_the_quarantine() {
    let text = run_child("evict");
    assert!(
        text.contains("freed block of 100000 bytes")
            && text.contains("offset 4242 (found 0x42")
            && text.contains("found when the block left the quarantine"),
        "{text}"
    );
}

/// The allocator keeps its contract for what std and corio ask of it: over-aligned blocks,
/// growth by realloc (contents kept, the old block quarantined), zero-size layouts, blocks too
/// big to hold, and frees from many threads at once.
#[test]
fn allocator_handles_alignment_realloc_zero_size_and_threads() {
    let _serial = serial();
    let before = GLOBAL.stats();
    for align in [1, 8, 64, 4096, 1 << 16] {
        let layout = Layout::from_size_align(100, align).unwrap();
        // SAFETY: a non-zero-size layout; the block is written within its size, then freed
        // with the same layout.
        unsafe {
            let p = GLOBAL.alloc(layout);
            assert!(
                !p.is_null() && (p as usize).is_multiple_of(align),
                "align {align}"
            );
            p.write_bytes(7, 100);
            GLOBAL.dealloc(p, layout);
        }
    }
    // SAFETY: zero-size layouts are outside GlobalAlloc's contract, but this allocator defines
    // them (forwarded to the system allocator); the pointer is only freed.
    unsafe {
        let zero = Layout::from_size_align(0, 8).unwrap();
        let p = GLOBAL.alloc(zero);
        GLOBAL.dealloc(p, zero);
    }
    let mut v: Vec<u64> = Vec::new();
    for i in 0..100_000u64 {
        v.push(i);
    }
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
    drop(v);
    drop(vec![0u8; alloc::MAX_BYTES + 1]);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..20_000usize {
                    let b = vec![t as u8; 1 + (i * 37) % 3000];
                    assert!(b.iter().all(|&x| x == t as u8));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    GLOBAL.assert_clean("allocator self-test");
    let after = GLOBAL.stats();
    assert!(
        after.quarantined >= before.quarantined + 80_000,
        "{before:?} {after:?}"
    );
    assert!(after.evicted > before.evicted, "{after:?}");
    assert!(after.held <= alloc::SLOTS && after.held_bytes <= alloc::MAX_BYTES);
}
