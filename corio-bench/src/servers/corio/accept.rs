//! corio's server loop, shared by all of corio's services: the runtime on a driver, the
//! driver's counters published for the stats line, and one spawned task per accepted
//! connection (the README's example). A runtime that cannot start names io_uring's errno,
//! read from the error as data.

use crate::servers::contract::{Counters, Worker};
use corio::net::{TcpListener, TcpStream};
use corio::{DriverChoice, Runtime};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// corio's runtime on `driver`; an error names the errno the kernel refused io_uring with.
pub(super) fn runtime(driver: DriverChoice) -> io::Result<Runtime> {
    Runtime::builder()
        .driver(driver)
        .build()
        .map_err(with_errno_name)
}

/// corio's server loop on `driver`, for every service: builds the runtime, makes the
/// per-connection handler inside it (`make` gets the worker's file and counters; an error
/// ends the worker before it says it is up), publishes the driver's counters, then spawns
/// `handler(stream)` for each accepted connection.
pub(super) fn accept_loop<M, H, F>(driver: DriverChoice, w: Worker, make: M) -> io::Result<()>
where
    M: FnOnce(Option<PathBuf>, &Arc<Counters>) -> io::Result<H>,
    H: Fn(TcpStream) -> F,
    F: Future + 'static,
    F::Output: 'static,
{
    let Worker {
        listener,
        counters,
        mut ready,
        file,
        ..
    } = w;
    let rt = runtime(driver)?;
    let info = rt.driver_info().clone();
    rt.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        let handler = make(file, &counters)?;
        corio::spawn(publish(counters.clone()));
        ready.up(Some(info));
        loop {
            // EMFILE/ENFILE back off and ECONNABORTED is retried inside accept; any other error
            // ends the worker.
            let (stream, _) = listener.accept().await?;
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            corio::spawn(handler(stream));
        }
    })
}

/// Publishes the driver's counters for the stats line, 100 times a second.
async fn publish(c: Arc<Counters>) {
    loop {
        publish_now(&c);
        corio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Copies this executor's driver counters into `c`.
pub(super) fn publish_now(c: &Counters) {
    let s = corio::current_driver_stats();
    c.enters.store(s.enters, Ordering::Relaxed);
    c.epoll_waits.store(s.epoll_waits, Ordering::Relaxed);
    c.io_syscalls.store(s.io_syscalls, Ordering::Relaxed);
    c.ops_submitted.store(s.ops_submitted, Ordering::Relaxed);
    c.completions.store(s.completions, Ordering::Relaxed);
}

/// The errno names a refused io_uring reports.
const ERRNO_NAMES: [(i32, &str); 5] = [
    (libc::EPERM, "EPERM"),
    (libc::EACCES, "EACCES"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EINVAL, "EINVAL"),
];

/// The errno an error carries as data: its own raw code, or that of the `io::Error` in its
/// chain of sources (corio's refused io_uring keeps the kernel's answer there).
fn errno_of(e: &io::Error) -> Option<i32> {
    if let Some(code) = e.raw_os_error() {
        return Some(code);
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(code) = s.downcast_ref::<io::Error>().and_then(|e| e.raw_os_error()) {
            return Some(code);
        }
        source = s.source();
    }
    None
}

/// Adds the name of the errno `e` carries to its message ("... [EPERM]").
fn with_errno_name(e: io::Error) -> io::Error {
    let code = errno_of(&e);
    match ERRNO_NAMES.iter().find(|(n, _)| Some(*n) == code) {
        Some((_, name)) => io::Error::new(e.kind(), format!("{e} [{name}]")),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("io_uring was requested but is unavailable")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_errno_comes_from_the_error_not_its_text() {
        let refused = io::Error::new(
            io::ErrorKind::Unsupported,
            Wrapped(io::Error::from_raw_os_error(libc::EPERM)),
        );
        let named = with_errno_name(refused);
        assert!(
            named.to_string().ends_with("unavailable [EPERM]"),
            "{named}"
        );
        assert_eq!(named.kind(), io::ErrorKind::Unsupported);
        let e = io::Error::from_raw_os_error(libc::ENOSYS);
        assert!(with_errno_name(e).to_string().ends_with("[ENOSYS]"));
        // Text that looks like an errno is not one.
        let e = io::Error::other("io_uring_setup: Operation not permitted (os error 1)");
        assert_eq!(errno_of(&e), None);
        assert!(!with_errno_name(e).to_string().contains('['));
    }
}
