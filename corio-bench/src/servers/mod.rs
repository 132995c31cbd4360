//! Echo servers: corio on each driver, the bare io_uring and epoll loops, and reference runtimes.

/// Runs `corio-bench serve ...` (arguments after `serve`). Returns the process exit code.
pub fn serve_cmd(_args: &[String]) -> i32 {
    eprintln!("corio-bench serve: not built yet");
    2
}
