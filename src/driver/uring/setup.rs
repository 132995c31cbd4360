//! Ring setup: flags tried from most to least capable, one at a time, and the opcode probe.

use crate::driver::opcodes::{self, Native};
use io_uring::{opcode, types, IoUring, Probe};
use std::io;

/// Why io_uring could not be used.
pub(crate) enum Unavailable {
    /// The kernel refuses io_uring or lacks something corio needs: `Auto` falls back. `errno`
    /// is the kernel's answer where a syscall refused (EPERM, EACCES, ENOSYS, EINVAL), kept as
    /// data so that callers never parse it back out of `why`.
    Refused { why: String, errno: Option<i32> },
    /// A resource failure: reported as an error even under `Auto`.
    Error(io::Error),
}

impl Unavailable {
    /// A refusal that is not a syscall's answer (a missing feature or opcode).
    fn missing(why: impl Into<String>) -> Unavailable {
        Unavailable::Refused {
            why: why.into(),
            errno: None,
        }
    }
}

/// The errno a `CORIO_FORCE_URING_UNAVAILABLE` value names (`EPERM`, `ENOSYS`...), so a forced
/// refusal carries the same data as a real one.
fn forced_errno(value: &str) -> Option<i32> {
    let name = value.split(|c: char| !c.is_ascii_alphanumeric()).next()?;
    match name {
        "EPERM" => Some(libc::EPERM),
        "EACCES" => Some(libc::EACCES),
        "ENOSYS" => Some(libc::ENOSYS),
        "EINVAL" => Some(libc::EINVAL),
        _ => None,
    }
}

/// The setup flags corio asks for, in the order they are given up when the kernel refuses
/// (EINVAL): DEFER_TASKRUN first (it needs SINGLE_ISSUER), then COOP_TASKRUN, SINGLE_ISSUER.
const FLAGS: [&str; 3] = ["SINGLE_ISSUER", "COOP_TASKRUN", "DEFER_TASKRUN"];

fn classify(err: io::Error) -> Unavailable {
    match err.raw_os_error() {
        Some(libc::ENOSYS) => Unavailable::Refused {
            why: "io_uring_setup: ENOSYS (not in this kernel)".into(),
            errno: Some(libc::ENOSYS),
        },
        Some(code @ (libc::EPERM | libc::EACCES)) => {
            let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .map(|s| format!(", kernel.io_uring_disabled={}", s.trim()))
                .unwrap_or_default();
            Unavailable::Refused {
                why: format!("io_uring_setup: {err}{sysctl}"),
                errno: Some(code),
            }
        }
        _ => Unavailable::Error(err),
    }
}

/// Builds a ring with as many of `FLAGS` as the kernel accepts; returns the accepted flags.
pub(crate) fn build(entries: u32) -> Result<(IoUring, Vec<&'static str>), Unavailable> {
    if let Ok(why) = std::env::var("CORIO_FORCE_URING_UNAVAILABLE") {
        // Test hook: pretend the kernel refused io_uring, to exercise the fallback.
        return Err(Unavailable::Refused {
            errno: forced_errno(&why),
            why: format!("forced by CORIO_FORCE_URING_UNAVAILABLE={why}"),
        });
    }
    let mut n = FLAGS.len();
    loop {
        let mut b = IoUring::builder();
        if n >= 1 {
            b.setup_single_issuer();
        }
        if n >= 2 {
            b.setup_coop_taskrun();
        }
        if n >= 3 {
            b.setup_defer_taskrun();
        }
        match b.build(entries) {
            Ok(ring) => return Ok((ring, FLAGS[..n].to_vec())),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && n > 0 => n -= 1,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                return Err(Unavailable::Refused {
                    why: format!("io_uring_setup: {e} with no flags (kernel too old?)"),
                    errno: Some(libc::EINVAL),
                })
            }
            Err(e) => return Err(classify(e)),
        }
    }
}

/// Checks the features corio relies on and probes the opcodes: a missing required one refuses
/// io_uring; the optional ones this kernel has are returned (docs/architecture.md,
/// "Per-operation fallback").
pub(crate) fn check(ring: &IoUring) -> Result<Native, Unavailable> {
    let params = ring.params();
    if !params.is_feature_nodrop() {
        return Err(Unavailable::missing(
            "kernel lacks IORING_FEAT_NODROP (completions could be lost)",
        ));
    }
    if !params.is_feature_ext_arg() {
        return Err(Unavailable::missing(
            "kernel lacks IORING_FEAT_EXT_ARG (timed waits)",
        ));
    }
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(classify)?;
    let mut native = Native::default();
    for op in opcodes::REQUIRED {
        if !probe.is_supported(op.code) {
            return Err(Unavailable::missing(format!(
                "kernel lacks opcode IORING_OP_{}",
                op.name
            )));
        }
        native.set(op);
    }
    for op in opcodes::OPTIONAL {
        if probe.is_supported(op.code) {
            native.set(op);
        }
    }
    if let Ok(names) = std::env::var("CORIO_FORCE_MISSING_OPCODE") {
        force_missing(&names, &mut native)?;
    }
    Ok(native)
}

/// Test hook `CORIO_FORCE_MISSING_OPCODE=NAME[,NAME...]`: pretend the probe did not find these
/// opcodes. A required one (or a name corio does not know) refuses io_uring as a whole; an
/// optional one only makes its operations fall back.
fn force_missing(names: &str, native: &mut Native) -> Result<(), Unavailable> {
    for name in names.split(',').filter(|n| !n.trim().is_empty()) {
        match opcodes::by_name(name) {
            Some((op, false)) => native.clear(op),
            Some((op, true)) => {
                return Err(Unavailable::missing(format!(
                    "kernel lacks opcode IORING_OP_{} (forced)",
                    op.name
                )))
            }
            None => {
                return Err(Unavailable::missing(format!(
                    "kernel lacks opcode IORING_OP_{} (forced; not an opcode corio uses)",
                    name.trim()
                )))
            }
        }
    }
    Ok(())
}

/// Checks that the kernel can cancel every operation on an fd at once
/// (`IORING_ASYNC_CANCEL_FD | ALL`, Linux 5.19), which `close()` relies on: a kernel without it
/// answers -EINVAL, and `close()` could not interrupt operations in flight.
pub(crate) fn check_cancel_fd(ring: &mut IoUring) -> Result<(), Unavailable> {
    use std::os::fd::AsRawFd;
    let fd = types::Fd(ring.as_raw_fd());
    let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::fd(fd).all())
        .build()
        .user_data(0);
    // SAFETY: a cancel SQE carries no pointers; the ring is new and empty.
    if unsafe { ring.submission().push(&cancel) }.is_err() {
        return Err(Unavailable::Error(io::Error::other(
            "a new ring has no room for one SQE",
        )));
    }
    ring.submit_and_wait(1).map_err(classify)?;
    let res = ring.completion().next().map(|c| c.result());
    match res {
        Some(r) if r == -libc::EINVAL => Err(Unavailable::missing(
            "kernel lacks IORING_ASYNC_CANCEL_FD (Linux 5.19+), which close() needs",
        )),
        // -ENOENT: nothing to cancel, as expected.
        _ => Ok(()),
    }
}

/// Before Linux 6.3, a message from another task into a DEFER_TASKRUN ring posted its CQE
/// from the sender's context, bypassing the single-issuer rules that ring relies on (fixed in
/// 6.3 by handing it to the target's task). The self-message in `check_msg_ring` cannot show
/// the difference, so such rings keep the eventfd for cross-executor wakes.
pub(crate) fn msg_ring_into_this_ring_is_safe(setup_flags: &[&str]) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    msg_ring_safe(&release, setup_flags.contains(&"DEFER_TASKRUN"))
}

/// The decision of `msg_ring_into_this_ring_is_safe` for a kernel release string.
fn msg_ring_safe(release: &str, defer_taskrun: bool) -> bool {
    if !defer_taskrun {
        return true;
    }
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (6, 3),
        // An unreadable release: take the safe path.
        _ => false,
    }
}

/// Whether this ring can post wake-ups to other rings with `IORING_OP_MSG_RING` (Linux 5.18),
/// tried once on the ring itself: a message to our own ring must come back as a CQE (a kernel
/// without the opcode answers the send with -EINVAL, so no separate probe is needed). Optional:
/// without it, cross-thread wakes write the eventfd.
pub(crate) fn check_msg_ring(ring: &mut IoUring, token: u64) -> bool {
    use std::os::fd::AsRawFd;
    if std::env::var_os("CORIO_DISABLE_MSG_RING").is_some() {
        return false; // test hook: exercise the eventfd path
    }
    let msg = opcode::MsgRingData::new(types::Fd(ring.as_raw_fd()), 0, token, None)
        .build()
        .user_data(0);
    // SAFETY: a MSG_RING SQE carries no pointers; the ring is new and empty.
    if unsafe { ring.submission().push(&msg) }.is_err() || ring.submit_and_wait(1).is_err() {
        return false;
    }
    // Two CQEs are due: the sender's (user_data 0) and the message (`token`). A failed send
    // posts only the first, so wait for the second with a bound, never forever.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let (mut sent, mut received) = (false, false);
    loop {
        for cqe in ring.completion() {
            match cqe.user_data() {
                0 if cqe.result() < 0 => return false,
                0 => sent = true,
                ud if ud == token => received = true,
                _ => {}
            }
        }
        if sent && received {
            return true;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let ts = types::Timespec::from(left);
        let args = types::SubmitArgs::new().timespec(&ts);
        match ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{forced_errno, msg_ring_safe};

    #[test]
    fn a_forced_refusal_names_its_errno() {
        assert_eq!(forced_errno("EPERM"), Some(libc::EPERM));
        assert_eq!(forced_errno("EPERM (test)"), Some(libc::EPERM));
        assert_eq!(forced_errno("ENOSYS"), Some(libc::ENOSYS));
        assert_eq!(forced_errno("test"), None);
        assert_eq!(forced_errno(""), None);
    }

    #[test]
    fn msg_ring_into_defer_taskrun_rings_needs_linux_6_3() {
        assert!(!msg_ring_safe("6.2.16-300.fc38.x86_64", true));
        assert!(!msg_ring_safe("5.19.0", true));
        assert!(msg_ring_safe("6.3.0", true));
        assert!(msg_ring_safe("6.18.44-fc-v1045\n", true));
        assert!(msg_ring_safe("10.0", true));
        // Without DEFER_TASKRUN the kernel's own check (the self-message) decides.
        assert!(msg_ring_safe("5.18.0", false));
        assert!(!msg_ring_safe("", true));
        assert!(!msg_ring_safe("garbage", true));
    }
}
