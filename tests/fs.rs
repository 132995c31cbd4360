//! Files under both drivers: io_uring SQEs (OPENAT, READ, WRITE, FSYNC, STATX, RENAMEAT,
//! UNLINKAT, MKDIRAT, FTRUNCATE, FALLOCATE, CLOSE); the blocking pool on epoll. Byte-exact
//! reads and writes at offsets, open options, metadata, names, sizes, and what a dropped open
//! or read leaves behind.

mod support;

use corio::fs::{self, File, OpenOptions};
use corio::DriverKind;
use std::future::{poll_fn, Future};
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, SystemTime};
use support::{driver, open_fds, pattern, run_test, settled_fds};

/// A fresh directory for one test pass, removed (with what is in it) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "corio-fs-{}-{name}-{}",
            std::process::id(),
            support::name(support::choice())
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where file ops ran: natively on io_uring (this kernel has every file opcode, unless a test
/// hook says otherwise), on the pool on epoll.
fn check_where_ops_ran() {
    let s = corio::current_driver_stats();
    match driver() {
        DriverKind::Epoll => assert!(s.pool_ops > 0, "{s:?}"),
        DriverKind::IoUring => assert_eq!(s.pool_ops, s.fallback_ops, "{s:?}"),
    }
}

#[test]
fn write_then_read_back_byte_exact() {
    run_test(|| async {
        let dir = TempDir::new("rw");
        let path = dir.path("rw");
        let file = File::create(&path).await.unwrap();
        let data = pattern(3, 1 << 20);
        let (res, _) = file.write_all_at(data.clone(), 0).await;
        res.unwrap();
        let (res, _) = file.write_at(&b"tail"[..], 1 << 20).await;
        assert_eq!(res.unwrap(), 4);
        file.sync_all().await.unwrap();
        file.sync_data().await.unwrap();

        let (res, got) = file.read_exact_at(Vec::with_capacity(1 << 20), 0).await;
        res.unwrap();
        assert!(got == data);
        let (res, got) = file.read_at(Vec::with_capacity(100), 1 << 20).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(got, b"tail");
        // End of file.
        let (res, _) = file.read_at(Vec::with_capacity(8), (1 << 20) + 4).await;
        assert_eq!(res.unwrap(), 0);
        let (res, _) = file
            .read_exact_at(Vec::with_capacity(8), (1 << 20) + 1)
            .await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        file.close().await.unwrap();
        // Closed: a clear error.
        let (res, _) = file.read_at(Vec::with_capacity(8), 0).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::NotConnected);

        // Reopen read-only: reads work, writes fail with the kernel's EBADF.
        let ro = File::open(&path).await.unwrap();
        let (res, got) = ro.read_at(Vec::with_capacity(4), 0).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(got, data[..4]);
        let (res, _) = ro.write_at(&b"x"[..], 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        check_where_ops_ran();
    });
}

#[test]
fn scattered_writes_read_back_at_their_offsets() {
    run_test(|| async {
        let dir = TempDir::new("scatter");
        let file = File::create(dir.path("f")).await.unwrap();
        // Out of order, with holes between the pieces.
        let pieces: Vec<(u64, Vec<u8>)> = [(300_000u64, 7u64), (0, 1), (70_000, 90), (4095, 3)]
            .iter()
            .map(|&(off, seed)| (off, pattern(seed, 5000 + seed as usize)))
            .collect();
        for (off, bytes) in &pieces {
            let (res, _) = file.write_all_at(bytes.clone(), *off).await;
            res.unwrap();
        }
        let end = 300_000 + pieces[0].1.len();
        let (res, whole) = file.read_exact_at(Vec::with_capacity(end), 0).await;
        res.unwrap();
        let mut expected = vec![0u8; end];
        for (off, bytes) in &pieces {
            expected[*off as usize..*off as usize + bytes.len()].copy_from_slice(bytes);
        }
        assert!(whole == expected, "the file differs from the writes");
        // A read into a slice of a larger buffer fills exactly the slice's spare capacity.
        let (res, part) = file.read_at(Vec::with_capacity(10), 70_005).await;
        assert_eq!(res.unwrap(), 10);
        assert_eq!(part, expected[70_005..70_015]);
        assert_eq!(file.metadata().await.unwrap().len(), end as u64);
    });
}

#[test]
fn open_options_follow_std() {
    run_test(|| async {
        let dir = TempDir::new("options");
        let path = dir.path("f");
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&path)
            .await
            .unwrap();
        let (res, _) = f.write_all_at(&b"0123456789"[..], 0).await;
        res.unwrap();
        let meta = f.metadata().await.unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640 & !umask());
        let again = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await;
        assert_eq!(again.err().unwrap().kind(), ErrorKind::AlreadyExists);
        // Append: every write lands at the end, whatever offset it names.
        let log = File::options().append(true).open(&path).await.unwrap();
        let (res, _) = log.write_at(&b"ab"[..], 0).await;
        assert_eq!(res.unwrap(), 2);
        assert_eq!(fs::read(&path).await.unwrap(), b"0123456789ab");
        // Truncate on open.
        drop(
            OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .await
                .unwrap(),
        );
        assert!(fs::metadata(&path).await.unwrap().is_empty());
        // std's invalid combinations, before any syscall.
        for opts in [
            OpenOptions::new().clone(),
            OpenOptions::new().read(true).create(true).clone(),
            OpenOptions::new().append(true).truncate(true).clone(),
        ] {
            let err = opts.open(&path).await.err().unwrap();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{opts:?}");
        }
        let err = File::open(dir.path("missing")).await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = File::open("/a\0b").await.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

fn umask() -> u32 {
    // SAFETY: umask has no memory effects; set back at once.
    let old = unsafe { libc::umask(0o022) };
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    old
}

#[test]
fn metadata_names_directories_and_sizes() {
    run_test(|| async {
        let dir = TempDir::new("names");
        let sub = dir.path("sub");
        fs::create_dir(&sub).await.unwrap();
        assert_eq!(
            fs::create_dir(&sub).await.unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        let meta = fs::metadata(&sub).await.unwrap();
        assert!(meta.is_dir() && !meta.is_file(), "{meta:?}");
        let a = sub.join("a");
        fs::write(&a, pattern(5, 12_345)).await.unwrap();
        let meta = fs::metadata(&a).await.unwrap();
        assert!(meta.is_file() && meta.len() == 12_345, "{meta:?}");
        let age = SystemTime::now()
            .duration_since(meta.modified().unwrap())
            .unwrap_or_default();
        assert!(age < Duration::from_secs(3600), "{meta:?}");
        std::os::unix::fs::symlink(&a, dir.path("link")).unwrap();
        assert!(fs::symlink_metadata(dir.path("link"))
            .await
            .unwrap()
            .is_symlink());
        assert!(fs::metadata(dir.path("link")).await.unwrap().is_file());

        let b = dir.path("b");
        fs::rename(&a, &b).await.unwrap();
        assert_eq!(fs::read(&b).await.unwrap(), pattern(5, 12_345));
        assert_eq!(
            fs::metadata(&a).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::remove_file(&sub).await.unwrap_err().kind(),
            ErrorKind::IsADirectory
        );
        fs::remove_dir(&sub).await.unwrap();
        fs::remove_file(&b).await.unwrap();
        assert_eq!(
            fs::remove_file(&b).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        // A file whose size says nothing: read goes on to the end of file.
        assert!(fs::read("/proc/self/status")
            .await
            .unwrap()
            .starts_with(b"Name:"));
        check_where_ops_ran();
    });
}

#[test]
fn set_len_shrinks_and_grows_and_allocate_grows() {
    run_test(|| async {
        let dir = TempDir::new("len");
        let file = File::create(dir.path("f")).await.unwrap();
        let (res, _) = file.write_all_at(pattern(9, 10_000), 0).await;
        res.unwrap();
        file.set_len(100).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 100);
        file.set_len(5000).await.unwrap();
        let (res, got) = file.read_exact_at(Vec::with_capacity(5000), 0).await;
        res.unwrap();
        assert_eq!(got[..100], pattern(9, 100)[..]);
        assert!(
            got[100..].iter().all(|&b| b == 0),
            "the extension reads as zeros"
        );
        file.allocate(0, 1 << 16).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 1 << 16);
        file.allocate(0, 10).await.unwrap();
        assert_eq!(
            file.metadata().await.unwrap().len(),
            1 << 16,
            "never shrinks"
        );
        let err = file.set_len(u64::MAX).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

/// Polls `fut` once (it starts its operation) and drops it.
async fn start_and_drop<F: Future>(fut: F) {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        let _ = fut.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await;
}

/// Operations started now, in the ring or on the pool.
fn in_flight() -> u64 {
    let s = corio::current_driver_stats();
    s.in_flight + s.pool_in_flight
}

#[test]
fn a_dropped_open_closes_what_it_opened() {
    let _fds = support::counting_fds();
    run_test(|| async {
        let dir = TempDir::new("dropped-open");
        std::fs::write(dir.path("f"), b"x").unwrap();
        let baseline = open_fds();
        let before = corio::current_driver_stats().orphan_completions;
        for _ in 0..50 {
            assert_eq!(in_flight(), 0);
            {
                let mut open = pin!(File::open(dir.path("f")));
                poll_fn(|cx| {
                    assert!(
                        open.as_mut().poll(cx).is_pending(),
                        "opens are not immediate"
                    );
                    Poll::Ready(())
                })
                .await;
                assert!(in_flight() > 0, "the open is in flight when dropped");
            }
            // Its result arrives as an orphan, which closes the fd.
            for _ in 0..200 {
                if in_flight() == 0 {
                    break;
                }
                corio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        assert_eq!(settled_fds(baseline).await, baseline, "an fd leaked");
        let s = corio::current_driver_stats();
        assert!(s.orphan_completions >= before + 50, "{s:?}");
    });
}

#[test]
fn a_dropped_read_keeps_its_buffer_until_the_result() {
    run_test(|| async {
        let dir = TempDir::new("dropped-read");
        let data = pattern(11, 1 << 20);
        std::fs::write(dir.path("f"), &data).unwrap();
        let file = File::open(dir.path("f")).await.unwrap();
        let before = corio::current_driver_stats().orphan_completions;
        for i in 0..20u64 {
            start_and_drop(file.read_at(Vec::with_capacity(1 << 20), i * 4096)).await;
        }
        for _ in 0..1000 {
            if in_flight() == 0 {
                break;
            }
            corio::time::sleep(Duration::from_millis(1)).await;
        }
        let s = corio::current_driver_stats();
        assert_eq!(s.orphan_completions, before + 20, "{s:?}");
        // The file reads on as before: dropped reads took nothing from it.
        let (res, got) = file.read_exact_at(Vec::with_capacity(1 << 20), 0).await;
        res.unwrap();
        assert!(got == data);
    });
}

/// 4 GiB: an io_uring length is a u32, so a buffer of this size used to go to the kernel as 0.
const HUGE: usize = 1 << 32;

/// Issue 21 defect 2: a read with 4 GiB (or more) of room read 0 bytes on io_uring (the length
/// cut to a u32), which callers take for end of file with bytes there; a write of 4 GiB wrote
/// 0 bytes, so `write_all_at` failed with `WriteZero`. A huge buffer means a short read or
/// write (at most MAX_RW_COUNT, as read(2) and write(2) do), never 0. The buffers are
/// reserved, not touched: the file holds 13 bytes, and /dev/null reads nothing it is given.
#[test]
fn reads_and_writes_with_4_gib_buffers_are_short_not_zero() {
    run_test(|| async {
        let dir = TempDir::new("huge");
        let file = File::create(dir.path("f")).await.unwrap();
        let (res, _) = file.write_all_at(&b"thirteen byte"[..], 0).await;
        res.unwrap();
        for room in [HUGE, HUGE + 5, HUGE - 1] {
            let (res, got) = file.read_at(Vec::with_capacity(room), 0).await;
            assert_eq!(res.unwrap(), 13, "a read with {room} bytes of room");
            assert_eq!(got, b"thirteen byte");
        }
        let null = OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .await
            .unwrap();
        let zeros = vec![0u8; HUGE + 7];
        let (res, zeros) = null.write_at(zeros, 0).await;
        let n = res.unwrap();
        assert!(n > 0 && n < HUGE, "a 4 GiB write wrote {n} bytes");
        let (res, _) = null.write_all_at(zeros, 0).await;
        res.unwrap();
    });
}

/// Issue 21 defect 3: `IORING_OP_READ`/`WRITE` read an offset of -1 (u64::MAX) as "the file's
/// current position", so on io_uring `write_at(u64::MAX)` overwrote the start of the file and
/// `read_at(u64::MAX)` returned its first bytes, while the blocking form refused the offset.
/// Every offset above i64::MAX is `InvalidInput` on every driver and form, and the file is left
/// as it was. (test.sh runs this file again with the file opcodes missing: the blocking form on
/// the ring.)
#[test]
fn offsets_above_i64_max_are_invalid_input_everywhere() {
    run_test(|| async {
        let dir = TempDir::new("offsets");
        let file = File::create(dir.path("f")).await.unwrap();
        let (res, _) = file.write_all_at(&b"original"[..], 0).await;
        res.unwrap();
        for at in [u64::MAX, u64::MAX - 1, i64::MAX as u64 + 1] {
            let (res, buf) = file.write_at(&b"CLOBBER!"[..], at).await;
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "write at {at}"
            );
            assert_eq!(buf, b"CLOBBER!", "the buffer comes back");
            let (res, _) = file.write_all_at(&b"CLOBBER!"[..], at).await;
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "write_all at {at}"
            );
            let (res, got) = file.read_at(Vec::with_capacity(8), at).await;
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "read at {at}: {got:?}"
            );
            let (res, _) = file.read_exact_at(Vec::with_capacity(8), at).await;
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "read_exact at {at}"
            );
            let err = file.allocate(at, 1).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "allocate at {at}");
        }
        // A write that would end past i64::MAX from a valid offset fails, and writes nothing.
        let (res, _) = file
            .write_all_at(&b"CLOBBER!"[..], i64::MAX as u64 - 3)
            .await;
        assert!(res.is_err(), "a write ending past i64::MAX: {res:?}");
        let (res, got) = file.read_at(Vec::with_capacity(64), 0).await;
        assert_eq!(res.unwrap(), 8);
        assert_eq!(got, b"original", "the file's first bytes were overwritten");
        assert_eq!(file.metadata().await.unwrap().len(), 8);
    });
}

/// Issue 21, decision on a full blocking pool: a file operation that finds every pool thread
/// busy and the queue full waits for room, as a task waits for a socket; it used to run its
/// syscall on the executor's thread, where a slow disk under a file storm stalled every socket
/// of the core. The executor's other tasks keep running meanwhile, and the op's result is
/// right. (`spawn_blocking` keeps running on the caller: see tests/blocking.rs.) On io_uring
/// the op is an SQE unless test.sh's run with the file opcodes missing sends it to the pool.
#[test]
fn a_file_op_waits_for_room_in_a_full_pool_instead_of_running_on_the_executor() {
    support::each_driver(|| {
        let rt = support::builder()
            .blocking_threads(1)
            .blocking_queue(1)
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = TempDir::new("full-pool");
            let file = File::create(dir.path("f")).await.unwrap();
            let (res, _) = file.write_all_at(&b"abc"[..], 0).await;
            res.unwrap();
            let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
            let t = ticks.clone();
            let ticker = corio::spawn(async move {
                loop {
                    corio::time::sleep(Duration::from_millis(5)).await;
                    t.set(t.get() + 1);
                }
            });
            // One job runs, one waits in the queue: the pool is full for about 300 ms.
            let start = std::time::Instant::now();
            let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let r = running.clone();
            let first = corio::spawn_blocking(move || {
                r.store(true, std::sync::atomic::Ordering::Release);
                std::thread::sleep(Duration::from_millis(300));
            });
            while !running.load(std::sync::atomic::Ordering::Acquire) {
                corio::time::sleep(Duration::from_millis(1)).await;
            }
            let second = corio::spawn_blocking(|| std::thread::sleep(Duration::from_millis(300)));
            let jobs = [first, second];
            let pooled_before = corio::current_driver_stats().pool_ops;
            let (res, _) = file.write_at(&b"def"[..], 3).await;
            assert_eq!(res.unwrap(), 3);
            let s = rt.blocking_stats();
            assert_eq!(
                s.jobs_run_by_caller, 0,
                "a file op ran on the executor's thread: {s:?}"
            );
            if corio::current_driver_stats().pool_ops > pooled_before {
                let took = start.elapsed();
                assert!(
                    took >= Duration::from_millis(250),
                    "done in {took:?}, pool full"
                );
                assert!(
                    ticks.get() >= 10,
                    "the executor stalled: {} ticks",
                    ticks.get()
                );
            }
            for j in jobs {
                j.await.unwrap();
            }
            let (res, got) = file.read_at(Vec::with_capacity(8), 0).await;
            assert_eq!((res.unwrap(), &got[..]), (6, &b"abcdef"[..]));
            ticker.abort();
        });
    });
}

/// Issue 21, decision on pre-1970 times: statx gives a time as whole seconds (negative before
/// 1970) plus nanoseconds forward from them; -1.5 s is (-2, 500,000,000). Metadata read it as
/// -(2 + 0.5) s, one second early. Now it is the instant std reports.
#[test]
fn times_before_1970_with_nanoseconds_are_exact() {
    run_test(|| async {
        let dir = TempDir::new("epoch");
        let path = dir.path("old");
        let f = std::fs::File::create(&path).unwrap();
        let times = [
            SystemTime::UNIX_EPOCH - Duration::from_millis(1500),
            SystemTime::UNIX_EPOCH - Duration::from_nanos(1),
            SystemTime::UNIX_EPOCH - Duration::from_secs(86_400 * 365),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1500),
        ];
        for when in times {
            f.set_times(
                std::fs::FileTimes::new()
                    .set_modified(when)
                    .set_accessed(when),
            )
            .unwrap();
            let std_says = std::fs::metadata(&path).unwrap().modified().unwrap();
            assert_eq!(std_says, when, "the filesystem keeps the time");
            let meta = fs::metadata(&path).await.unwrap();
            assert_eq!(meta.modified().unwrap(), when, "modified");
            assert_eq!(meta.accessed().unwrap(), when, "accessed");
            let open = File::open(&path).await.unwrap();
            assert_eq!(open.metadata().await.unwrap().modified().unwrap(), when);
        }
    });
}
