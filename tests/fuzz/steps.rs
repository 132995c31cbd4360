//! The write-side and peer steps of a run, and the end of each pair.

use crate::exec::{
    drain, drain_to_end, ident, pumped, Pair, Run, Step, WriteKind, YieldNow, CLOSE_KEEPS_SOCKET,
    PEER_BACKLOG,
};
use corio::time::{sleep, timeout};
use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

/// The model's verdict on a write of ours that reported `res` (bytes sent) for `data`.
fn check_write(pair: &mut Pair, res: io::Result<usize>, data: &[u8]) -> Step {
    let m = &mut pair.m;
    // Whatever it sent is recorded below (exact), or cannot reach the peer (closed, shut
    // down, or the peer is gone).
    m.ap.done_writing();
    let key = Some(m.key());
    let expect = |kind: ErrorKind, class: &str| match &res {
        Err(e) if e.kind() == kind => Ok(Some((class.to_string(), key.clone()))),
        other => Err(format!("expected {kind:?}, got {other:?}")),
    };
    if m.ours_closed {
        return expect(ErrorKind::NotConnected, "closed");
    }
    if m.ours_shut && !m.peer_gone {
        return expect(ErrorKind::BrokenPipe, "shut");
    }
    // A reset from the peer's side is reported before our own shutdown (sk_err first).
    if m.peer_gone {
        m.on_write_after_peer_gone(pair.tcp);
        return match res {
            Ok(_) => Ok(Some(("ok after peer gone".into(), None))),
            Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => {
                Ok(Some((format!("error {:?}", e.kind()), None)))
            }
            Err(e) => Err(format!("a write after the peer went away failed with {e}")),
        };
    }
    match res {
        Ok(n) if (1..=data.len()).contains(&n) => {
            m.ap.send_exact(&data[..n]);
            Ok(Some(("ok".into(), key)))
        }
        other => Err(format!(
            "a write of {} bytes returned {other:?}",
            data.len()
        )),
    }
}

impl Run {
    pub async fn write(&mut self, p: usize, len: usize, kind: WriteKind) -> Step {
        let data = self.data(len);
        let Pair { ours, peer, m, .. } = &mut self.pairs[p];
        let ours = ours.as_ref().expect("ours open");
        m.ap.writing(&data);
        let res = match kind {
            WriteKind::Once => pumped(ours.write(data.clone()), peer, &mut m.ap).await?.0,
            WriteKind::All => pumped(ours.write_all(data.clone()), peer, &mut m.ap)
                .await?
                .0
                .map(|()| len),
        };
        check_write(&mut self.pairs[p], res, &data)
    }

    pub async fn writev(&mut self, p: usize, lens: &[usize]) -> Step {
        let bufs: Vec<Vec<u8>> = lens.iter().map(|&n| self.data(n)).collect();
        let all = bufs.concat();
        let Pair { ours, peer, m, .. } = &mut self.pairs[p];
        let ours = ours.as_ref().expect("ours open");
        m.ap.writing(&all);
        let (res, _) = pumped(ours.writev(bufs), peer, &mut m.ap).await?;
        check_write(&mut self.pairs[p], res, &all)
    }

    /// `write_all` under a timeout, the peer not reading: dropped mid-flight, some prefix of
    /// the data (unknown to the model) may have gone out.
    pub async fn timed_write(&mut self, p: usize, len: usize, micros: u64) -> Step {
        let data = self.data(len);
        let pair = &mut self.pairs[p];
        let wait = Duration::from_micros(micros);
        match timeout(wait, pair.ours().write_all(data.clone())).await {
            Ok((res, _)) => {
                let closed = pair.m.ours_closed;
                let step = check_write(pair, res.map(|()| len), &data)?;
                // Only a closed stream fails before the timer can fire.
                Ok(step.map(|(c, key)| (c, key.filter(|_| closed))))
            }
            Err(_) if pair.m.ours_closed => {
                Err("a write after close waited instead of failing".into())
            }
            Err(_) => {
                if pair.m.peer_gone {
                    pair.m.on_write_after_peer_gone(pair.tcp);
                } else if !pair.m.ours_shut {
                    pair.m.ap.send_prefix(&data);
                }
                Ok(Some(("elapsed".into(), None)))
            }
        }
    }

    pub async fn shutdown(&mut self, p: usize) -> Step {
        let pair = &mut self.pairs[p];
        let m = &pair.m;
        let first = !m.ours_closed && !m.ours_shut && !m.peer_gone;
        let key = (m.ours_closed || first).then(|| m.key());
        let res = pair.ours().shutdown().await;
        let m = &mut pair.m;
        let class = match res {
            Ok(()) if !m.ours_closed => "ok",
            Err(e) if e.kind() == ErrorKind::NotConnected && (m.ours_closed || !first) => {
                "not connected"
            }
            other => return Err(format!("shutdown returned {other:?}")),
        };
        if !m.ours_closed {
            m.ours_shut = true;
            m.ap.finished = true;
        }
        Ok(Some((class.into(), key)))
    }

    pub async fn peer_write(&mut self, p: usize, len: usize) -> Step {
        let m = &self.pairs[p].m;
        if m.peer_gone || m.peer_shut {
            return Ok(None);
        }
        if !m.ours_closed {
            self.read_down_to(p, PEER_BACKLOG.saturating_sub(len))
                .await?;
            if self.pairs[p].m.pa.pending() + len > PEER_BACKLOG {
                return Ok(None);
            }
        }
        let data = self.data(len);
        let pair = &mut self.pairs[p];
        let peer = pair.peer.as_mut().expect("peer present");
        let (mut at, deadline) = (0, Instant::now() + Duration::from_secs(2));
        while at < len {
            match peer.try_write(&data[at..]) {
                Ok(n) => at += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    sleep(Duration::from_micros(200)).await
                }
                Err(_) if pair.m.ours_closed => {
                    pair.m.ap.may_reset = true;
                    pair.m.ap.lossy = true;
                    return Ok(Some(("error after close".into(), None)));
                }
                Err(e) => {
                    let pending = pair.m.pa.pending();
                    return Err(format!(
                        "peer write: {e} ({at} of {len} written, {pending} pending)"
                    ));
                }
            }
        }
        if pair.m.ours_closed {
            // Ours' kernel answers bytes sent to a closed socket with a reset.
            pair.m.ap.may_reset = true;
            pair.m.ap.lossy = true;
            return Ok(Some(("ok after close".into(), None)));
        }
        pair.m.pa.send_exact(&data);
        Ok(Some(("ok".into(), Some(pair.m.key()))))
    }

    pub fn peer_read(&mut self, p: usize) -> Step {
        let Pair { peer, m, .. } = &mut self.pairs[p];
        let Some(peer) = peer else { return Ok(None) };
        if m.ap.end.is_some() {
            return Ok(None);
        }
        let n = drain(peer, &mut m.ap)?;
        Ok(Some((format!("read {n}"), None)))
    }

    pub fn peer_shutdown(&mut self, p: usize) -> Step {
        let Pair { peer, m, .. } = &mut self.pairs[p];
        let Some(peer) = peer.as_ref().filter(|_| !m.peer_shut) else {
            return Ok(None);
        };
        let res = peer.shutdown_write();
        let key = (!m.ours_closed).then(|| m.key());
        match res {
            Ok(()) => {}
            Err(e) if key.is_none() && e.kind() == ErrorKind::NotConnected => {}
            Err(e) => return Err(format!("the peer's shutdown failed: {e}")),
        }
        m.peer_shut = true;
        m.pa.finished = true;
        Ok(Some(("ok".into(), key)))
    }

    /// The peer closes: with `reset`, SO_LINGER 0 first (TCP); else after reading what came.
    pub fn peer_gone(&mut self, p: usize, reset: bool) -> Step {
        let Pair { peer, m, tcp, .. } = &mut self.pairs[p];
        let Some(mut sock) = peer.take() else {
            return Ok(None);
        };
        if reset && *tcp {
            crate::support::set_linger_zero(sock.raw());
        } else if m.ap.end.is_none() {
            drain(&mut sock, &mut m.ap)?;
        }
        drop(sock);
        let key = m.key();
        m.on_peer_gone(reset, *tcp);
        Ok(Some(("ok".into(), Some(key))))
    }

    /// `close()` on ours: Ok, idempotent; once no operation holds the fd any more (a dropped
    /// one finishes within a few turns), the socket is released.
    pub async fn close(&mut self, p: usize) -> Step {
        let pair = &mut self.pairs[p];
        let key = pair.m.key();
        pair.ours()
            .close()
            .await
            .map_err(|e| format!("close: {e}"))?;
        pair.m.on_ours_closed();
        let (raw, was) = (pair.ours().raw(), pair.ident);
        for turn in 0..60 {
            if ident(raw) != Some(was) {
                return Ok(Some(("ok".into(), Some(key))));
            }
            if turn < 20 {
                YieldNow(false).await;
            } else {
                sleep(Duration::from_millis(1)).await;
            }
        }
        if self.strict {
            return Err(format!("{CLOSE_KEEPS_SOCKET} (fd {raw})"));
        }
        self.out.tolerated.push(CLOSE_KEEPS_SOCKET);
        Ok(Some(("ok, socket kept".into(), None)))
    }

    /// The end of a pair: the peer stops writing, ours reads to EOF (everything must have
    /// arrived unless a reset was possible), closes and is dropped, then the peer reads to
    /// EOF (likewise).
    pub async fn finish_pair(&mut self, p: usize) -> Result<(), String> {
        self.peer_shutdown(p)?;
        if !self.pairs[p].m.ours_closed {
            while self.pairs[p].m.pa.end.is_none() {
                self.read(p, 16 << 10, None).await?;
            }
            let pa = &self.pairs[p].m.pa;
            pa.check_complete()
                .map_err(|e| format!("peer to ours: {e}"))?;
            self.close(p).await?;
        } else {
            let pa = &self.pairs[p].m.pa;
            pa.check_prefix()
                .map_err(|e| format!("peer to ours: {e}"))?;
        }
        let Pair { ours, peer, m, .. } = &mut self.pairs[p];
        drop(ours.take());
        match peer.take() {
            Some(mut sock) => {
                drain_to_end(&mut sock, &mut m.ap).await?;
                m.ap.check_complete()
            }
            None => m.ap.check_prefix(),
        }
        .map_err(|e| format!("ours to peer: {e}"))?;
        // What the peer sent is fixed by the script (ours' short writes are not).
        if m.pa.clean() {
            let sum = format!("peer sent {}", m.pa.sent());
            self.out.det.push((usize::MAX - p, String::new(), sum));
        }
        Ok(())
    }
}
