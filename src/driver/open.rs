//! Choosing and opening a driver: the request (`DriverConfig`, or `CORIO_DRIVER`), io_uring
//! where it works, epoll where the kernel refuses io_uring and the request allows it.

use super::notify::Notifier;
use super::offload::Offload;
use super::uring::{self, Unavailable};
use super::{epoll, Driver, DriverChoice, DriverInfo, DriverKind, Io};
use crate::blocking::Pool;
use std::io;
use std::sync::Arc;

/// What the runtime's builder tells the driver layer.
#[derive(Debug, Clone)]
pub(crate) struct DriverConfig {
    /// The request; `None`: `CORIO_DRIVER`, else `Auto`.
    pub(crate) choice: Option<DriverChoice>,
    /// io_uring submission queue entries.
    pub(crate) ring_entries: u32,
    /// io_uring: put accepted and connected sockets in the ring's registered-file table;
    /// `None`: `CORIO_REGISTERED_FDS=1`, else off.
    pub(crate) registered_fds: Option<bool>,
    /// Where operations the driver cannot hand to the kernel run (files on epoll; opcodes the
    /// kernel lacks on io_uring).
    pub(crate) pool: Arc<Pool>,
}

fn requested(config: &DriverConfig) -> io::Result<DriverChoice> {
    if let Some(d) = config.choice {
        return Ok(d);
    }
    match std::env::var("CORIO_DRIVER") {
        Ok(v) => DriverChoice::parse(&v).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("CORIO_DRIVER={v:?}: expected auto, uring or epoll"),
            )
        }),
        Err(_) => Ok(DriverChoice::Auto),
    }
}

/// Opens the driver the config (or `CORIO_DRIVER`) asks for, with the notifier other threads
/// use to wake it, and what was chosen and why.
pub(crate) fn open(config: &DriverConfig) -> io::Result<(Driver, Arc<Notifier>, DriverInfo)> {
    let requested = requested(config)?;
    if requested == DriverChoice::Epoll {
        return open_epoll(config, requested, "requested".into());
    }
    match uring::Uring::new(
        config.ring_entries,
        Notifier::new(false)?,
        config
            .registered_fds
            .unwrap_or_else(|| std::env::var("CORIO_REGISTERED_FDS").is_ok_and(|v| v == "1")),
    ) {
        Ok((ring, notifier)) => {
            let reason = if requested == DriverChoice::Auto {
                "io_uring available"
            } else {
                "requested"
            };
            crate::trace::event!(
                debug,
                "io_uring set up: flags {:?}, msg_ring {}, registered files {:?}",
                ring.setup_flags(),
                ring.msg_ring_enabled(),
                ring.fixed_table().map(|t| t.size())
            );
            let info = DriverInfo {
                kind: DriverKind::IoUring,
                requested,
                reason: reason.into(),
                setup_flags: ring.setup_flags().to_vec(),
                msg_ring: ring.msg_ring_enabled(),
                native_ops: ring.native().optional(true),
                fallback_ops: ring.native().optional(false),
                registered_fds: ring.fixed_table().map(|t| t.size()),
            };
            let offload = Offload::new(config.pool.clone(), notifier.clone());
            Ok((Driver::new(Io::Uring(ring), offload), notifier, info))
        }
        Err(Unavailable::Error(e)) => Err(e),
        Err(Unavailable::Refused { why, errno }) if requested == DriverChoice::IoUring => {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                Refused {
                    why,
                    os: errno.map(io::Error::from_raw_os_error),
                },
            ))
        }
        Err(Unavailable::Refused { why, .. }) => {
            let out = open_epoll(config, requested, format!("io_uring unavailable: {why}"))?;
            crate::trace::event!(warn, "{}", out.2);
            Ok(out)
        }
    }
}

/// The error of an explicit io_uring request the kernel refused: `ErrorKind::Unsupported`, the
/// reason in its message, and the kernel's errno (where a syscall refused) as its `source()`,
/// an `io::Error` whose `raw_os_error()` is the code, so that a caller reads the errno as data
/// rather than out of the text.
#[derive(Debug)]
struct Refused {
    why: String,
    os: Option<io::Error>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "io_uring was requested but is unavailable: {}", self.why)
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.os.as_ref().map(|e| e as _)
    }
}

fn open_epoll(
    config: &DriverConfig,
    requested: DriverChoice,
    reason: String,
) -> io::Result<(Driver, Arc<Notifier>, DriverInfo)> {
    let notifier = Arc::new(Notifier::new(true)?);
    let epoll = epoll::Epoll::new(notifier.eventfd())?;
    let offload = Offload::new(config.pool.clone(), notifier.clone());
    let driver = Driver::new(Io::Epoll(epoll), offload);
    let info = DriverInfo {
        kind: DriverKind::Epoll,
        requested,
        reason,
        setup_flags: vec![],
        msg_ring: false,
        native_ops: vec![],
        fallback_ops: vec![],
        registered_fds: None,
    };
    Ok((driver, notifier, info))
}
