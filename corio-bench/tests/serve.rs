//! `serve echo`: every registered server echoes byte-exact and reports its stats line; the
//! driver choice (auto says which and why; uring where refused is a clear error); a port in
//! use.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;
use support::*;

/// Byte-exact on requests of falling sizes, ping-pong and bulk streams, every server (corio's
/// own are in cli.rs), its stats line naming it.
#[test]
fn every_server_echoes_byte_exact() {
    let uring = uring_works();
    let needs_uring = ["raw-uring", "monoio", "compio", "corio-uring-compat"];
    for server in [
        "raw-uring",
        "raw-epoll",
        "tokio",
        "monoio",
        "compio",
        "corio-uring-compat",
    ] {
        if !uring && needs_uring.contains(&server) {
            println!("skipping {server}: io_uring is refused on this machine");
            continue;
        }
        let addr = format!("127.0.0.1:{}", free_port());
        let (server_child, _) = serve_with(&["--server", server], &addr, &[]);
        echo_falling_sizes(&addr, server);
        clean_load(&addr, server);
        // Full-duplex 16 KiB chunks: reads of every size, so a server that echoes a stale
        // buffer length (more bytes than it read) is caught.
        let bulk = ["--mode", "bulk", "--conns", "2", "--size", "16384"];
        clean_load_with(&addr, server, &bulk);
        let line = stop_for_stats(server_child);
        assert!(line.contains(&format!("\"server\":\"{server}\"")), "{line}");
        assert!(json_field(&line, "accepted") >= 10.0, "{line}");
    }
}

/// The servers of the `--workers` sweep on two workers: one runtime per worker thread (each
/// with its own listener on the shared port), or tokio's multi-thread scheduler on one.
#[test]
fn the_scaling_servers_serve_on_two_workers() {
    let uring = uring_works();
    for server in ["corio-uring", "corio-epoll", "monoio", "compio", "tokio-mt"] {
        if !uring && ["corio-uring", "monoio", "compio"].contains(&server) {
            println!("skipping {server}: io_uring is refused on this machine");
            continue;
        }
        let addr = format!("127.0.0.1:{}", free_port());
        let (child, before) = serve_with(&["--server", server, "--workers", "2"], &addr, &[]);
        clean_load(&addr, server);
        let line = stop_for_stats(child);
        assert!(
            json_field(&line, "accepted") >= 10.0,
            "{server}: {line} {before:?}"
        );
    }
}

#[test]
fn serve_auto_says_which_driver_and_why() {
    // Where io_uring works, auto takes it; forced off, it falls back to epoll and says why.
    let addr = format!("127.0.0.1:{}", free_port());
    let (server, before) = serve_with(&[], &addr, &[]);
    let said = before.concat();
    let want = if uring_works() {
        "driver io_uring"
    } else {
        "driver epoll"
    };
    assert!(
        said.contains(want) && said.contains("asked for auto"),
        "{said}"
    );
    stop_for_stats(server);
    let addr = format!("127.0.0.1:{}", free_port());
    let forced = [("CORIO_FORCE_URING_UNAVAILABLE", "EPERM")];
    let (server, before) = serve_with(&["--driver", "auto"], &addr, &forced);
    let said = before.concat();
    assert!(
        said.contains("driver epoll (asked for auto: io_uring unavailable"),
        "{said}"
    );
    assert!(
        said.contains("CORIO_FORCE_URING_UNAVAILABLE=EPERM"),
        "{said}"
    );
    clean_load(&addr, "auto on epoll");
    let line = stop_for_stats(server);
    assert!(line.contains("\"server\":\"corio-epoll\""), "{line}");
    assert!(json_field(&line, "epoll_waits") > 0.0, "{line}");
}

#[test]
fn serve_uring_where_refused_exits_1_naming_io_uring() {
    let addr = format!("127.0.0.1:{}", free_port());
    let out = Command::new(BIN)
        .args(["serve", "echo", "--driver", "uring", "--addr", &addr])
        .env("CORIO_FORCE_URING_UNAVAILABLE", "EPERM")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("io_uring") && err.contains("EPERM"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("listening on"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "no stats line from a server that never ran"
    );
}

#[test]
fn serve_reports_a_port_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(
        &["serve", "echo", "--server", "raw-epoll", "--addr", &addr],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use"),
        "{out:?}"
    );
}
