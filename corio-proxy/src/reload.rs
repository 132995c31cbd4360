//! SIGHUP: reopen the access log (logrotate), and with `--config`, read the file again and
//! apply it as a new config generation — on the blocking pool, off the executors.
//!
//! - The file is read and validated here; one that does not parse or validate is rejected
//!   with a line naming the key, and the running config stays.
//! - Listeners that are new are bound here (a bind error rejects the whole file, and the
//!   sockets bound for it are closed); the workers start accepting on them.
//! - Listeners that are gone stop accepting and close (accept.rs: what is queued is served
//!   first); their live pairs go on.
//! - Changed upstreams, balance, timeouts and limits apply to new clients; live pairs keep
//!   what they started with.
//! - Process keys that only a start can apply (workers, driver, accept, admin, control, the
//!   log's format and filter) are kept as they are, with a warning per key.
//!
//! How SIGHUP gets here without killing the process is hangup.rs.

use crate::addr::Listen;
use crate::config::{self, ListenerSettings, Settings};
use crate::listeners;
use crate::worker::{Command, Shared};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One SIGHUP (hangup.rs takes it): the access log reopens, the config file is applied.
pub fn on_hup(shared: &Arc<Shared>) {
    crate::access_log::reopen(None);
    if shared.state.draining.load(Ordering::Relaxed) {
        tracing::info!("SIGHUP while draining: no reload");
        return;
    }
    let Some(path) = &shared.config_path else {
        tracing::info!(
            "SIGHUP: no config file to reload (started without --config); nothing changed"
        );
        return;
    };
    let new = match config::load(path) {
        Ok(s) => s,
        Err(e) => return rejected(shared, &e.to_string()),
    };
    if let Err(e) = apply(shared, new) {
        rejected(shared, &e);
    }
}

fn rejected(shared: &Shared, why: &str) {
    shared.state.reloads_failed.fetch_add(1, Ordering::Relaxed);
    let g = shared.state.generation.load(Ordering::Relaxed);
    tracing::error!("reload rejected: {why}; generation {g} stays in effect");
}

/// Applies `new` (validated) as the next generation; an error changes nothing.
fn apply(shared: &Arc<Shared>, mut new: Settings) -> Result<(), String> {
    let mut cur = shared.config.lock().unwrap_or_else(|e| e.into_inner());
    keep_process_keys(&cur, &mut new);
    let entries = shared.entries();
    // Match by listen address (the n-th of an address with the n-th of the same address).
    let mut pool: HashMap<Listen, Vec<Arc<listeners::Entry>>> = HashMap::new();
    for e in &entries {
        pool.entry(e.listen.clone()).or_default().push(e.clone());
    }
    for v in pool.values_mut() {
        v.reverse();
    }
    let mut kept: Vec<(Arc<listeners::Entry>, &ListenerSettings)> = Vec::new();
    let mut opened = Vec::new();
    for l in &new.listeners {
        match pool.get_mut(&l.listen).and_then(Vec::pop) {
            Some(e) => kept.push((e, l)),
            // Bound now: a failure drops what was bound for this file (closing it).
            None => opened.push(listeners::open(l, shared.workers, shared.accept, None)?),
        }
    }
    let gone: Vec<_> = pool.into_values().flatten().collect();
    // Every kept listener's next state first (host names resolve here): a failure changes
    // nothing; then all of them at once.
    let mut next = Vec::new();
    for (e, l) in &kept {
        if let Some(n) = e
            .prepare(l)
            .map_err(|err| format!("listener {}: {err}", e.addr()))?
        {
            next.push((e.clone(), n));
        }
    }
    let changed = next.len();
    for (e, n) in next {
        e.apply(n);
    }
    let unchanged = kept.len() - changed;
    drop(kept);
    for e in &gone {
        shared
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|x| !Arc::ptr_eq(x, e));
        shared.send(0, Command::Close(e.clone()));
    }
    let added = opened.len();
    for (entry, sockets) in opened {
        let addr = entry.addr();
        shared.start_entry(entry, sockets);
        tracing::info!("listening on {addr}");
    }
    let max = new.max_conns.or_else(|| {
        let splice = new.listeners.iter().any(|l| l.copy == config::Copy::Splice);
        let n = new.listeners.len();
        Some(crate::limits::fd_default(
            crate::limits::nofile(),
            shared.workers,
            n,
            splice,
        ))
    });
    shared.gate.set_max(max);
    if new.access_log != cur.access_log {
        if let Some(p) = &new.access_log {
            crate::access_log::reopen(Some(p.clone()));
        }
    }
    *cur = new;
    let g = shared.state.generation.fetch_add(1, Ordering::Relaxed) + 1;
    shared.state.reloads_ok.fetch_add(1, Ordering::Relaxed);
    let path = shared
        .config_path
        .as_deref()
        .map(|p| p.display().to_string());
    tracing::info!(
        "config generation {g} applied from {}: {added} listeners added, {} removed, {changed} \
         changed, {} unchanged",
        path.unwrap_or_default(),
        gone.len(),
        unchanged
    );
    Ok(())
}

/// Process keys a reload cannot change are kept, each with a warning.
fn keep_process_keys(cur: &Settings, new: &mut Settings) {
    macro_rules! keep {
        ($($field:ident: $key:literal),+) => {$(
            if new.$field != cur.$field {
                tracing::warn!(
                    "reload: key `{}` changed; it takes effect at the next start or upgrade \
                     (kept as it is)",
                    $key
                );
                new.$field = cur.$field.clone();
            }
        )+};
    }
    keep!(workers: "workers", driver: "driver", accept: "accept", admin: "admin",
          control: "control", log_format: "log-format", log_level: "log-level");
    if new.access_log.is_some() != cur.access_log.is_some() {
        tracing::warn!(
            "reload: key `access-log` turned on or off; that takes effect at the next start or \
             upgrade"
        );
        new.access_log.clone_from(&cur.access_log);
    }
}
