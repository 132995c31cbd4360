//! The monitor thread: active health checks and host-name resolution, once per process, off
//! the data path. It is one thread with a corio executor of its own (the same driver choice
//! as the workers), started by the first group that needs it; each group gets a health task
//! (`health`) and a resolve task, which end when the group is dropped (a reload replaced it).
//! The blocking resolver runs on the executor's blocking pool, never on the executor.
//!
//! Signals are blocked in this thread, so SIGTERM, SIGINT and SIGHUP reach the workers'
//! signalfd and not this thread's default action.

use crate::health;
use crate::upstream::Upstreams;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// A group to watch, with its listener's name for the log.
struct Watch {
    group: Weak<Upstreams>,
    listener: String,
}

static PENDING: Mutex<Vec<Watch>> = Mutex::new(Vec::new());
static STARTED: OnceLock<()> = OnceLock::new();
static DRIVER: OnceLock<Option<corio::DriverChoice>> = OnceLock::new();

/// The driver the monitor's executor asks for (`None`: corio's default, which follows
/// CORIO_DRIVER). Set once, before the first `watch`.
pub fn set_driver(choice: Option<corio::DriverChoice>) {
    let _ = DRIVER.set(choice);
}

/// Starts health checks and periodic resolution for `group`, if it has either, until the
/// group is dropped.
pub fn watch(group: &Arc<Upstreams>, listener: &str) {
    if group.health.is_none() && !group.has_host_names() {
        return;
    }
    PENDING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Watch {
            group: Arc::downgrade(group),
            listener: listener.to_string(),
        });
    STARTED.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("corio-proxy-monitor".into())
            .spawn(run);
        if let Err(e) = spawned {
            crate::log::error(format_args!(
                "cannot start the monitor thread (health checks, resolution): {e}"
            ));
        }
    });
}

fn block_signals() {
    // SAFETY: an empty sigset_t filled by sigfillset, then passed by pointer for the call;
    // pthread_sigmask changes this thread's mask only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

fn run() {
    block_signals();
    let mut b = corio::Runtime::builder();
    b.pin_cores(false).handle_signals(false);
    if let Some(Some(choice)) = DRIVER.get() {
        b.driver(*choice);
    }
    let rt = match b.build() {
        Ok(rt) => rt,
        Err(e) => {
            crate::log::error(format_args!(
                "monitor thread: cannot start its driver ({e}); no health checks or resolution"
            ));
            return;
        }
    };
    rt.block_on(async {
        loop {
            let new: Vec<Watch> =
                std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
            for w in new {
                let Some(group) = w.group.upgrade() else {
                    continue;
                };
                if group.health.is_some() {
                    drop(corio::spawn(health::run(
                        w.group.clone(),
                        w.listener.clone(),
                    )));
                }
                if group.has_host_names() {
                    drop(corio::spawn(resolve(w.group, w.listener)));
                }
            }
            corio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// Resolves `group`'s host names every `resolve-interval`, on a blocking thread.
async fn resolve(group: Weak<Upstreams>, listener: String) {
    loop {
        let Some(interval) = group.upgrade().map(|g| g.resolve_interval) else {
            return;
        };
        corio::time::sleep(interval).await;
        let (g, l) = (group.clone(), listener.clone());
        let job = corio::spawn_blocking(move || {
            if let Some(g) = g.upgrade() {
                g.refresh(&l);
            }
        });
        let _ = job.await;
    }
}
