//! The model: what each end of a pair may observe, given what the other end did.
//!
//! Each direction of a pair is a `Flow`: the writes made into it, in order, each either exact
//! (its call reported every byte sent) or a prefix of unknown length (a `write_all` dropped by
//! a timeout: the kernel may have taken any prefix of it, and corio does not report how much);
//! what the receiver got; how it ended. The model is exact where the kernel is deterministic
//! and prefix-consistent where it is not:
//!
//! - the bytes received are always a prefix of some realisation of the writes (each prefix
//!   write contributing any prefix of itself): nothing lost in the middle, duplicated, reordered
//!   or invented;
//! - a clean flow (no reset possible) that the sender finished (shutdown or close) ends in EOF
//!   after *everything* was received — so a read dropped by a timeout must not lose its bytes;
//! - EOF comes only after the sender finished; an error (reset, broken pipe) only where a reset
//!   was possible; no data after either;
//! - a flow that may have been reset (`lossy`) may end early, after any prefix.

use std::io::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Eof,
    Error(ErrorKind),
}

#[derive(Default)]
pub struct Flow {
    /// The writes, in order: (bytes, exact).
    segs: Vec<(Vec<u8>, bool)>,
    /// All bytes of exact writes, while no prefix write came before them.
    flat: Vec<u8>,
    /// The write being made now, while the receiver drains (`exec::pumped`): its bytes may
    /// arrive before it reports its count, and must then be a prefix of it. Resolved (cleared)
    /// by `done_writing` when it reports.
    in_progress: Vec<u8>,
    /// What the receiver got.
    pub got: Vec<u8>,
    pub end: Option<End>,
    /// The sender can send no more (shut down, closed, gone).
    pub finished: bool,
    /// A reset may have happened: errors allowed; with `lossy`, so is an early end.
    pub may_reset: bool,
    /// Bytes may be lost at the tail (a reset discarded a send queue).
    pub lossy: bool,
}

impl Flow {
    /// A write of `data` starts while the receiver drains; it reports later (`done_writing`,
    /// then `send_exact` with what it sent if it succeeded).
    pub fn writing(&mut self, data: &[u8]) {
        self.in_progress = data.to_vec();
    }

    /// The write in progress reported.
    pub fn done_writing(&mut self) {
        self.in_progress.clear();
    }

    pub fn send_exact(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.all_exact() {
            self.flat.extend_from_slice(data);
        }
        self.segs.push((data.to_vec(), true));
    }

    pub fn send_prefix(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.segs.push((data.to_vec(), false));
        }
    }

    /// Every write so far reported its count: the flow's content is known exactly.
    pub fn all_exact(&self) -> bool {
        self.segs.iter().all(|s| s.1)
    }

    /// No reset possible: the flow must deliver everything, in order, then EOF.
    pub fn clean(&self) -> bool {
        !self.may_reset && !self.lossy
    }

    /// Bytes of the exact writes (all writes, in an exact flow).
    pub fn sent(&self) -> usize {
        self.flat.len()
    }

    /// Bytes known to be sent and not yet received (exact flows; 0 otherwise).
    pub fn pending(&self) -> usize {
        if self.all_exact() {
            self.flat.len().saturating_sub(self.got.len())
        } else {
            0
        }
    }

    /// The receiver got `data`. In an exact flow it must be the next bytes of the exact writes,
    /// then of the write in progress (a prefix of it: that write has not reported yet).
    pub fn receive(&mut self, data: &[u8]) -> Result<(), String> {
        if let Some(end) = self.end {
            return Err(format!("{} bytes arrived after {end:?}", data.len()));
        }
        let at = self.got.len();
        self.got.extend_from_slice(data);
        if self.all_exact() {
            let sent = self.flat.len();
            let expected = self.flat.iter().chain(&self.in_progress);
            let known = sent + self.in_progress.len();
            if self.got.len() > known
                || !expected.skip(at).zip(&self.got[at..]).all(|(a, b)| a == b)
            {
                return Err(format!(
                    "received bytes {at}..{} are not the bytes sent (sent {sent} in all, and {} \
                     in the write in progress)",
                    self.got.len(),
                    self.in_progress.len()
                ));
            }
        }
        Ok(())
    }

    /// The receiver saw EOF or an error.
    pub fn finish(&mut self, end: End) -> Result<(), String> {
        match end {
            End::Eof if !self.finished => {
                return Err("EOF while the sender is still open".into());
            }
            End::Eof if !self.lossy && self.all_exact() && self.got.len() < self.flat.len() => {
                return Err(format!(
                    "EOF after {} of the {} bytes sent: bytes lost",
                    self.got.len(),
                    self.flat.len()
                ));
            }
            End::Error(kind)
                if !(self.may_reset
                    && matches!(kind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe)) =>
            {
                return Err(format!("unexpected error {kind:?} (no reset was possible)"));
            }
            _ => {}
        }
        self.end.get_or_insert(end);
        Ok(())
    }

    /// The receiver is done (read to its end): everything arrived, unless lossy.
    pub fn check_complete(&self) -> Result<(), String> {
        if self.lossy {
            return self.check_prefix();
        }
        if self.end.is_none() {
            return Err("the receiver stopped before EOF".into());
        }
        if !matches(&self.segs, &self.got, true) {
            return Err(self.mismatch("all of"));
        }
        Ok(())
    }

    /// The receiver stopped early: what it got is a prefix of a realisation of the writes.
    pub fn check_prefix(&self) -> Result<(), String> {
        if matches(&self.segs, &self.got, false) {
            Ok(())
        } else {
            Err(self.mismatch("a prefix of"))
        }
    }

    fn mismatch(&self, what: &str) -> String {
        let kinds: Vec<String> = self
            .segs
            .iter()
            .map(|(d, exact)| format!("{}{}", if *exact { "" } else { "<=" }, d.len()))
            .collect();
        format!(
            "received {} bytes that are not {what} the writes [{}] (prefix writes marked <=); {}",
            self.got.len(),
            kinds.join(", "),
            self.locate()
        )
    }

    /// Where each write's first bytes show up in what was received: enough to tell a lost,
    /// repeated or reordered write.
    fn locate(&self) -> String {
        let mut out = Vec::new();
        for (n, (data, _)) in self.segs.iter().enumerate() {
            let head = &data[..data.len().min(16)];
            let at: Vec<usize> = (0..self.got.len().saturating_sub(head.len() - 1))
                .filter(|&i| &self.got[i..i + head.len()] == head)
                .take(3)
                .collect();
            out.push(format!("write {n} starts at {at:?}"));
        }
        out.join(", ")
    }
}

/// Whether `got` is a realisation of `segs` (`complete`), or a prefix of one. An exact write
/// contributes all its bytes, a prefix write any prefix of itself. Tries the longest prefix
/// first (with random data, nearly always the right one) and backtracks, within a budget.
pub fn matches(segs: &[(Vec<u8>, bool)], got: &[u8], complete: bool) -> bool {
    let mut budget = 100_000u32;
    go(segs, 0, got, 0, complete, &mut budget)
}

fn go(
    segs: &[(Vec<u8>, bool)],
    i: usize,
    got: &[u8],
    pos: usize,
    complete: bool,
    budget: &mut u32,
) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    if pos == got.len() {
        return !complete || segs[i..].iter().all(|s| !s.1);
    }
    let Some((data, exact)) = segs.get(i) else {
        return false;
    };
    let rest = &got[pos..];
    let common = rest.iter().zip(data).take_while(|(a, b)| a == b).count();
    if common == rest.len() && !complete {
        return true;
    }
    if *exact {
        return common == data.len() && go(segs, i + 1, got, pos + common, complete, budget);
    }
    (0..=common)
        .rev()
        .any(|k| go(segs, i + 1, got, pos + k, complete, budget))
}

/// The state of one pair: both flows and both ends.
#[derive(Default)]
pub struct PairModel {
    /// Peer to ours.
    pub pa: Flow,
    /// Ours to peer.
    pub ap: Flow,
    pub ours_closed: bool,
    pub ours_shut: bool,
    pub peer_gone: bool,
    pub peer_shut: bool,
}

impl PairModel {
    /// The state a deterministic prediction depends on: two runs that reach a step with the
    /// same key must see the same outcome class.
    pub fn key(&self) -> String {
        format!(
            "pending {} finished {} closed {} shut {} gone {} peer shut {}",
            self.pa.pending() > 0,
            self.pa.finished,
            self.ours_closed,
            self.ours_shut,
            self.peer_gone,
            self.peer_shut
        )
    }

    /// A plain read on ours could wait forever: nothing is known to be coming.
    pub fn read_could_hang(&self) -> bool {
        !self.ours_closed && self.pa.pending() == 0 && !self.pa.finished && self.pa.end.is_none()
    }

    /// Ours wrote after the peer went away: the peer's kernel answers with a reset, which may
    /// also discard what the peer still had queued for us (TCP).
    pub fn on_write_after_peer_gone(&mut self, tcp: bool) {
        self.pa.may_reset = true;
        self.pa.lossy |= tcp;
    }

    /// Ours was closed: with bytes unread, the kernel resets the connection instead of FIN.
    pub fn on_ours_closed(&mut self) {
        if !self.pa.all_exact() || self.pa.pending() > 0 {
            self.ap.may_reset = true;
            self.ap.lossy = true;
        }
        self.ours_closed = true;
        self.ap.finished = true;
    }

    /// The peer went away: `reset` by SO_LINGER 0, or a close that resets if it had unread
    /// data (it has none only if it provably received everything ours sent).
    pub fn on_peer_gone(&mut self, reset: bool, tcp: bool) {
        let unread = !self.ap.all_exact() || self.ap.pending() > 0;
        if (reset && tcp) || unread {
            self.pa.may_reset = true;
            // A TCP reset discards the peer's send queue; AF_UNIX data is already queued on
            // ours.
            self.pa.lossy |= tcp;
        }
        self.peer_gone = true;
        self.pa.finished = true;
    }
}

/// Issue 21 defect 6: bytes of a write still in progress (its `write_all` blocked while the
/// peer drains) arrive before the write reports. They are a prefix of that write, and nothing
/// else is accepted in their place.
#[test]
fn a_write_in_progress_delivers_a_prefix_of_itself_and_nothing_else() {
    let mut f = Flow::default();
    f.send_exact(b"0123");
    f.writing(b"abcdef");
    f.receive(b"0123ab").unwrap();
    f.receive(b"cd").unwrap();
    f.done_writing();
    f.send_exact(b"abcdef");
    f.receive(b"ef").unwrap();

    let mut wrong = Flow::default();
    wrong.send_exact(b"0123");
    wrong.writing(b"abcdef");
    assert!(wrong.receive(b"0123ax").is_err(), "bytes not of the write");
    let mut beyond = Flow::default();
    beyond.send_exact(b"0123");
    beyond.writing(b"ab");
    assert!(
        beyond.receive(b"0123abc").is_err(),
        "more than the write holds"
    );
    let mut reported = Flow::default();
    reported.send_exact(b"0123");
    reported.writing(b"abcdef");
    reported.done_writing();
    reported.send_exact(b"ab");
    assert!(
        reported.receive(b"0123abc").is_err(),
        "more than the write reported"
    );
}
