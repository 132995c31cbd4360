//! corio's echo server, on either driver or on whichever `DriverChoice::Auto` picks, and the
//! accept loop all of corio's services share.

use super::{Counters, Model, ServerSpec, Syscalls, Worker, BUF_SIZE};
use corio::net::{TcpListener, TcpStream};
use corio::{DriverChoice, DriverKind, Runtime};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub static URING: ServerSpec = ServerSpec {
    name: "corio-uring",
    model: Model::Completion,
    about: "corio, io_uring driver",
    needs_uring: true,
    floor: false,
    syscalls: Syscalls::Enters,
    echo: Some(|w| run(DriverChoice::IoUring, w)),
    file: Some(|w| super::corio_file::serve(DriverChoice::IoUring, w)),
    http: Some(|w| super::http::corio(DriverChoice::IoUring, w)),
    file_read: Some(|job, meter| super::corio_file::read(DriverChoice::IoUring, job, meter)),
};

pub static EPOLL: ServerSpec = ServerSpec {
    name: "corio-epoll",
    model: Model::Readiness,
    about: "corio, epoll driver (file reads on corio's blocking pool)",
    needs_uring: false,
    floor: false,
    syscalls: Syscalls::EpollWaitsAndIo,
    echo: Some(|w| run(DriverChoice::Epoll, w)),
    file: Some(|w| super::corio_file::serve(DriverChoice::Epoll, w)),
    http: Some(|w| super::http::corio(DriverChoice::Epoll, w)),
    file_read: Some(|job, meter| super::corio_file::read(DriverChoice::Epoll, job, meter)),
};

/// `serve echo --driver auto`: not in the registry (the suite names the driver it measures);
/// its stats line names the driver it got (corio-uring or corio-epoll).
pub static AUTO: ServerSpec = ServerSpec {
    name: "corio",
    model: Model::Completion,
    about: "corio, io_uring where it works, else epoll",
    needs_uring: false,
    floor: false,
    syscalls: Syscalls::Enters,
    echo: Some(|w| run(DriverChoice::Auto, w)),
    file: None,
    http: None,
    file_read: None,
};

/// The registered name of corio on `kind`.
pub fn name_for(kind: DriverKind) -> &'static str {
    match kind {
        DriverKind::IoUring => URING.name,
        DriverKind::Epoll => EPOLL.name,
    }
}

pub fn kind_name(kind: DriverKind) -> &'static str {
    match kind {
        DriverKind::IoUring => "io_uring",
        DriverKind::Epoll => "epoll",
    }
}

pub fn driver_name(driver: DriverChoice) -> &'static str {
    match driver {
        DriverChoice::Auto => "auto",
        DriverChoice::IoUring => "io_uring",
        DriverChoice::Epoll => "epoll",
    }
}

fn run(driver: DriverChoice, w: Worker) -> io::Result<()> {
    accept_loop(driver, w, |_, _| Ok(echo))
}

/// corio's server loop on `driver`, for every service: builds the runtime, makes the
/// per-connection handler inside it (`make` gets the worker's file and counters; an error
/// ends the worker before it says it is up), publishes the driver's counters, then spawns
/// `handler(stream)` for each accepted connection.
pub(super) fn accept_loop<M, H, F>(driver: DriverChoice, w: Worker, make: M) -> io::Result<()>
where
    M: FnOnce(Option<PathBuf>, &Arc<Counters>) -> io::Result<H>,
    H: Fn(TcpStream) -> F,
    F: Future<Output = ()> + 'static,
{
    let Worker {
        listener,
        counters,
        mut ready,
        file,
    } = w;
    let rt = Runtime::builder()
        .driver(driver)
        .build()
        .map_err(with_errno_name)?;
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
pub(super) async fn publish(c: Arc<Counters>) {
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

/// The first read's buffer: small, so that an idle connection holds no page of its own (a
/// 16 KiB buffer costs a resident page even unread: its allocator header). A read that fills
/// it moves the connection to `BUF_SIZE`.
const FIRST_BUF: usize = 1024;

async fn echo(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(FIRST_BUF);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        let full = match res {
            Ok(0) | Err(_) => return,
            Ok(n) => n == b.capacity(),
        };
        let (res, b) = stream.write_all(b).await;
        if res.is_err() {
            return;
        }
        buf = if full && b.capacity() < BUF_SIZE {
            Vec::with_capacity(BUF_SIZE)
        } else {
            b
        };
    }
}

/// The errno names a refused io_uring reports, for the message (corio's says "(os error 1)").
const ERRNO_NAMES: [(i32, &str); 5] = [
    (libc::EPERM, "EPERM"),
    (libc::EACCES, "EACCES"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EINVAL, "EINVAL"),
];

/// Adds the errno's name to a runtime build error that quotes an "(os error N)".
pub(super) fn with_errno_name(e: io::Error) -> io::Error {
    let msg = e.to_string();
    let code = msg
        .split("(os error ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse::<i32>().ok())
        .or(e.raw_os_error());
    match ERRNO_NAMES.iter().find(|(n, _)| Some(*n) == code) {
        Some((_, name)) => io::Error::new(e.kind(), format!("{msg} [{name}]")),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_gets_its_errno_name() {
        let e = io::Error::other("io_uring_setup: Operation not permitted (os error 1), x=0");
        assert!(with_errno_name(e).to_string().ends_with("x=0 [EPERM]"));
        let e = io::Error::from_raw_os_error(libc::ENOSYS);
        assert!(with_errno_name(e).to_string().ends_with("[ENOSYS]"));
        let e = io::Error::other("forced by CORIO_FORCE_URING_UNAVAILABLE=why");
        assert_eq!(
            with_errno_name(e).to_string(),
            "forced by CORIO_FORCE_URING_UNAVAILABLE=why"
        );
    }
}
