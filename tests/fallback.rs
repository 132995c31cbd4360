//! Choosing a driver: `Builder::driver`, `CORIO_DRIVER`, and the automatic fallback to epoll
//! when io_uring is refused. The refusal is forced with the test hooks
//! `CORIO_FORCE_URING_UNAVAILABLE` and `CORIO_FORCE_MISSING_OPCODE`, in a child process so the
//! environment of the other tests is untouched. These tests are about choosing, so they run
//! once, not once per driver: each child gets the environment it needs, and nothing else.

mod support;

use corio::net::{TcpListener, TcpStream};
use corio::{DriverChoice, DriverKind, Runtime};
use std::io::ErrorKind;
use std::process::Command;

/// Runs the ignored test `child` of this binary in a child process with `env` set and
/// returns (stdout, stderr); panics if the child test failed.
fn run_child(child: &str, env: &[(&str, &str)]) -> (String, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        child,
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env_remove("CORIO_DRIVER")
    .env_remove("CORIO_FORCE_URING_UNAVAILABLE")
    .env_remove("CORIO_FORCE_MISSING_OPCODE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spawn the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "child {child} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "child {child} did not run:\n{stdout}"
    );
    (stdout, stderr)
}

/// The line the child prints about the driver it got.
fn reported(stdout: &str) -> &str {
    stdout
        .lines()
        .find_map(|l| l.split_once("DRIVER ").map(|(_, rest)| rest))
        .expect("child reports its driver")
}

/// Child: builds a runtime from the environment, reports the driver, and serves one echo —
/// an unchanged program, whatever the driver.
#[test]
#[ignore = "run in a child process by the fallback tests"]
fn child_echo() {
    let rt = Runtime::new().expect("runtime");
    println!("DRIVER {}", rt.driver_info());
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let (res, buf) = conn.read(Vec::with_capacity(64)).await;
            res.unwrap();
            let (res, _) = conn.write_all(buf).await;
            res.unwrap();
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let (res, _) = client.write_all(&b"fallback echo"[..]).await;
        res.unwrap();
        let (res, buf) = client.read_exact(Vec::with_capacity(13)).await;
        res.unwrap();
        assert_eq!(&buf[..], b"fallback echo");
        server.await.unwrap();
    });
}

/// Child: asks for io_uring explicitly and reports the error, with the errno its source
/// carries as data (`errno=none` where the refusal was not a syscall's answer).
#[test]
#[ignore = "run in a child process by the fallback tests"]
fn child_explicit_uring() {
    match Runtime::builder().driver(DriverChoice::IoUring).build() {
        Ok(rt) => println!("DRIVER {}", rt.driver_info()),
        Err(e) => {
            let errno = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .and_then(|s| s.raw_os_error());
            println!("DRIVER error kind={:?} errno={errno:?} msg={e}", e.kind());
        }
    }
}

#[test]
fn auto_falls_back_to_epoll_when_io_uring_is_refused() {
    let (stdout, stderr) = run_child("child_echo", &[("CORIO_FORCE_URING_UNAVAILABLE", "EPERM")]);
    let line = reported(&stdout);
    assert!(line.contains("driver=Epoll"), "{line}");
    assert!(line.contains("requested=Auto"), "{line}");
    assert!(
        line.contains("forced by CORIO_FORCE_URING_UNAVAILABLE"),
        "{line}"
    );
    // The library prints nothing by itself (the reason is in driver_info(), above; with the
    // `tracing` feature it is also a tracing event).
    assert!(
        !stderr.lines().any(|l| l.starts_with("corio: ")),
        "{stderr}"
    );
}

#[test]
fn auto_falls_back_when_a_network_opcode_is_missing() {
    let (stdout, _) = run_child("child_echo", &[("CORIO_FORCE_MISSING_OPCODE", "ACCEPT")]);
    let line = reported(&stdout);
    assert!(line.contains("driver=Epoll"), "{line}");
    assert!(line.contains("IORING_OP_ACCEPT"), "{line}");
    // One missing network opcode in a list is enough.
    let (stdout, _) = run_child(
        "child_echo",
        &[("CORIO_FORCE_MISSING_OPCODE", "STATX,SENDMSG")],
    );
    let line = reported(&stdout);
    assert!(line.contains("driver=Epoll"), "{line}");
    assert!(line.contains("IORING_OP_SENDMSG"), "{line}");
}

/// Child: files and a socket on a runtime from the environment; reports the driver, and the
/// counters of where the file operations ran.
#[test]
#[ignore = "run in a child process by the fallback tests"]
fn child_files() {
    let rt = Runtime::new().expect("runtime");
    println!("DRIVER {}", rt.driver_info());
    println!("NATIVE {}", rt.driver_info().native_ops.join("|"));
    rt.block_on(async {
        let path = std::env::temp_dir().join(format!("corio-fallback-{}", std::process::id()));
        let file = corio::fs::File::create(&path).await.unwrap();
        let (res, _) = file.write_all_at(&b"per-op fallback"[..], 0).await;
        res.unwrap();
        file.sync_data().await.unwrap();
        file.set_len(6).await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 6);
        let (res, buf) = file.read_at(Vec::with_capacity(64), 0).await;
        assert_eq!(&buf[..res.unwrap()], b"per-op");
        file.close().await.unwrap();
        corio::fs::remove_file(&path).await.unwrap();
        let s = corio::current_driver_stats();
        println!(
            "COUNTS pool_ops={} fallback_ops={}",
            s.pool_ops, s.fallback_ops
        );
        // The network path still runs on the ring.
        corio::op::nop().await.unwrap();
    });
}

fn counts(stdout: &str) -> (u64, u64) {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("COUNTS "))
        .expect("child reports its counts");
    let get = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .expect("a count")
    };
    (get("pool_ops="), get("fallback_ops="))
}

#[test]
fn a_missing_file_opcode_falls_back_for_that_op_only() {
    let (stdout, _) = run_child("child_files", &[]);
    if reported(&stdout).contains("driver=Epoll") {
        println!(
            "skipped: io_uring is unavailable here: {}",
            reported(&stdout)
        );
        return;
    }
    let (pool, fallback) = counts(&stdout);
    assert_eq!(
        pool, fallback,
        "only a missing opcode sends a file op to the pool"
    );
    // OPENAT and FTRUNCATE missing: the ring stays; open and set_len (and nothing else) run on
    // the pool.
    let (stdout, _) = run_child(
        "child_files",
        &[("CORIO_FORCE_MISSING_OPCODE", "OPENAT,ftruncate")],
    );
    let line = reported(&stdout);
    assert!(line.contains("driver=IoUring"), "{line}");
    assert!(line.contains("fallback_ops=OPENAT|FTRUNCATE"), "{line}");
    let native_now = stdout
        .lines()
        .find_map(|l| l.strip_prefix("NATIVE "))
        .unwrap();
    assert!(
        !native_now.contains("OPENAT") && native_now.contains("STATX"),
        "{native_now}"
    );
    // The open and the set_len.
    assert_eq!(counts(&stdout), (2, 2), "{stdout}");
}

#[test]
fn explicit_io_uring_is_an_error_when_refused() {
    let (stdout, _) = run_child(
        "child_explicit_uring",
        &[("CORIO_FORCE_URING_UNAVAILABLE", "ENOSYS")],
    );
    let line = reported(&stdout);
    assert!(line.contains("kind=Unsupported"), "{line}");
    // The errno is data on the error (its source), not only words in its message.
    assert!(
        line.contains(&format!("errno=Some({})", libc::ENOSYS)),
        "{line}"
    );
    assert!(
        line.contains("io_uring was requested but is unavailable"),
        "{line}"
    );
}

#[test]
fn corio_driver_env_selects_the_driver() {
    let (stdout, _) = run_child("child_echo", &[("CORIO_DRIVER", "epoll")]);
    assert!(reported(&stdout).contains("driver=Epoll requested=Epoll"));
    // Forcing a refusal while asking for uring by name is an error, not a silent change.
    let (stdout, _) = run_child(
        "child_explicit_uring",
        &[
            ("CORIO_DRIVER", "uring"),
            ("CORIO_FORCE_URING_UNAVAILABLE", "x"),
        ],
    );
    let line = reported(&stdout);
    assert!(line.contains("kind=Unsupported"), "{line}");
    // "x" names no errno: the refusal has none to carry.
    assert!(line.contains("errno=None"), "{line}");
}

#[test]
fn auto_uses_io_uring_where_the_kernel_allows_it() {
    let (stdout, _) = run_child("child_echo", &[]);
    let line = reported(&stdout);
    if line.contains("driver=Epoll") {
        println!("skipped: io_uring is unavailable on this machine: {line}");
        return;
    }
    assert!(line.contains("driver=IoUring requested=Auto"), "{line}");
    assert!(
        line.contains("flags="),
        "accepted setup flags are recorded: {line}"
    );
}

#[test]
fn a_bad_driver_name_is_an_error() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_echo",
            "--exact",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env("CORIO_DRIVER", "kqueue")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("kqueue"), "{text}");
    assert!(text.contains("expected auto, uring or epoll"), "{text}");
}

/// Child: asks the builder for epoll, whatever the environment says.
#[test]
#[ignore = "run in a child process by the fallback tests"]
fn child_builder_epoll() {
    let rt = Runtime::builder()
        .driver(DriverChoice::Epoll)
        .build()
        .unwrap();
    assert_eq!(rt.driver_info().kind, DriverKind::Epoll);
    println!("DRIVER {}", rt.driver_info());
}

#[test]
fn builder_choice_beats_the_environment_and_bad_sizes_are_errors() {
    // The builder's explicit choice wins over CORIO_DRIVER.
    let (stdout, _) = run_child("child_builder_epoll", &[("CORIO_DRIVER", "uring")]);
    assert!(reported(&stdout).contains("driver=Epoll requested=Epoll"));
    for bad in [0, 1 << 20] {
        let err = Runtime::builder().ring_entries(bad).build().err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
}

/// A resource failure is an error even under Auto, never a silent change of model: with no
/// fd left for the ring, building fails with EMFILE.
#[test]
#[ignore = "run in a child process by the fallback tests"]
fn child_no_fds_left() {
    let lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Nothing can be opened any more in this (child) process.
    // SAFETY: setrlimit reads the struct we pass and touches no Rust-managed memory.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    match Runtime::builder().driver(DriverChoice::Auto).build() {
        Ok(rt) => println!("DRIVER {}", rt.driver_info()),
        Err(e) => println!(
            "DRIVER error errno={:?} kind={:?}",
            e.raw_os_error(),
            e.kind()
        ),
    }
}

#[test]
fn resource_failure_is_an_error_not_a_fallback() {
    let (stdout, _) = run_child("child_no_fds_left", &[]);
    let line = reported(&stdout);
    assert!(
        line.contains(&format!("errno=Some({})", libc::EMFILE)),
        "{line}"
    );
}
