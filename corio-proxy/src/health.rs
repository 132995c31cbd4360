//! Active health checks (`health-check = "tcp"`), on the monitor thread: every
//! `health-interval`, each server of a group is checked — a connect within the connect
//! timeout, then, if set, `health-send` is written and the answer must start with
//! `health-expect` (HAProxy's tcp-check send/expect) within the connect timeout again.
//!
//! A server starts up. `health-fall` failed checks in a row mark it down; `health-rise`
//! passed checks in a row mark it up again. A server marked down gets no new client
//! (`upstream`), and each change is logged.

use crate::addr::Dest;
use crate::conn::Conn;
use crate::log;
use crate::traffic::HealthCheck;
use crate::upstream::{Server, Upstreams};
use corio::time::timeout;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

/// Checks `group`'s servers until the group is dropped.
pub async fn run(group: Weak<Upstreams>, listener: String) {
    loop {
        let Some(g) = group.upgrade() else { return };
        let Some(h) = g.health.clone() else { return };
        let (servers, limit) = (g.servers(), g.connect_timeout);
        drop(g);
        let checks: Vec<_> = servers
            .iter()
            .map(|s| corio::spawn(check(s.dest.clone(), h.clone(), limit)))
            .collect();
        for (s, c) in servers.iter().zip(checks) {
            let outcome = c.await.unwrap_or_else(|_| Err("the check panicked".into()));
            record(s, outcome, &h, &listener);
        }
        corio::time::sleep(h.interval).await;
    }
}

/// One check of one server.
async fn check(dest: Dest, h: HealthCheck, limit: Duration) -> Result<(), String> {
    let conn = match timeout(limit, Conn::connect(&dest)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(format!("connect: {e}")),
        Err(_) => return Err(format!("connect timed out after {limit:?}")),
    };
    if let Some(send) = h.send {
        match timeout(limit, conn.write_all(send)).await {
            Ok((Ok(()), _)) => {}
            Ok((Err(e), _)) => return Err(format!("send: {e}")),
            Err(_) => return Err(format!("send timed out after {limit:?}")),
        }
    }
    let Some(expect) = h.expect else {
        return Ok(());
    };
    let got = timeout(limit, read_at_least(&conn, expect.len()))
        .await
        .map_err(|_| format!("no answer within {limit:?}"))?
        .map_err(|e| format!("read: {e}"))?;
    if got.starts_with(&expect) {
        Ok(())
    } else {
        let shown = String::from_utf8_lossy(&got[..got.len().min(64)]).into_owned();
        Err(format!(
            "answer {shown:?} does not start with the expected bytes"
        ))
    }
}

/// Reads until `n` bytes came or the peer closed.
async fn read_at_least(conn: &Conn, n: usize) -> std::io::Result<Vec<u8>> {
    let mut got = Vec::with_capacity(n.max(64));
    while got.len() < n {
        let (res, buf) = conn.read(Vec::with_capacity(n.max(64))).await;
        match res? {
            0 => break,
            k => got.extend_from_slice(&buf[..k]),
        }
    }
    Ok(got)
}

/// Counts a check and moves the server up or down when the streak is long enough.
fn record(s: &Server, outcome: Result<(), String>, h: &HealthCheck, listener: &str) {
    let passed = outcome.is_ok();
    if passed {
        s.checks_ok.fetch_add(1, Ordering::Relaxed);
    } else {
        s.checks_failed.fetch_add(1, Ordering::Relaxed);
    }
    let down = s.down.load(Ordering::Relaxed);
    // The streak counts checks in a row that disagree with the current state.
    if passed != down {
        s.streak.store(0, Ordering::Relaxed);
        return;
    }
    let streak = s.streak.fetch_add(1, Ordering::Relaxed) + 1;
    let needed = if down { h.rise } else { h.fall };
    if streak < needed {
        return;
    }
    s.streak.store(0, Ordering::Relaxed);
    s.down.store(!down, Ordering::Relaxed);
    match outcome {
        Ok(()) => tracing::info!(
            "listener {listener}: upstream {} is up: {streak} health checks passed in a row",
            s.dest
        ),
        Err(why) => log::warn(format_args!(
            "listener {listener}: upstream {} is down: {streak} health checks failed in a row (last: {why})",
            s.dest
        )),
    }
}
