//! A script: the stream pairs to open and the operations to run on them, drawn from a seed.
//! The same seed gives the same script on every machine and under every driver.

/// xorshift64*: small, seedable, good enough to pick operations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03 | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// How a pair is opened. `ours` is the corio stream under test, `peer` a plain std socket.
#[derive(Debug, Clone, Copy)]
pub enum Open {
    /// corio connects to a std listener.
    TcpConnect,
    /// A std client connects to a corio listener; `timed` accepts under a tiny timeout are
    /// dropped first (before the client connects, then after), then one plain accept.
    TcpAccept { timed: usize },
    /// A socketpair, one end adopted by corio.
    Unix,
}

/// One step. `p` is the pair's index. Every step is legal in every state: where the model
/// says it cannot make sense (writing on a peer that is gone), the executor skips it.
#[derive(Debug, Clone)]
pub enum Op {
    /// One read into a buffer of `cap` bytes; under a tiny timeout when nothing is known to
    /// be coming (it could never finish).
    Read { p: usize, cap: usize },
    /// One read under a timeout of `micros`: dropped before, during or after its completion.
    TimedRead { p: usize, cap: usize, micros: u64 },
    /// `read_exact` of `len` bytes when at least that many are known to be on the way.
    ReadExact { p: usize, len: usize },
    /// One `write` (a single send; may be short) while the peer drains.
    Write { p: usize, len: usize },
    /// `write_all` while the peer drains.
    WriteAll { p: usize, len: usize },
    /// `writev` of several buffers (may be short) while the peer drains.
    Writev { p: usize, lens: Vec<usize> },
    /// `write_all` under a timeout of `micros`, the peer not reading: with a large `len` it
    /// blocks and is dropped mid-flight, having sent some prefix.
    TimedWrite { p: usize, len: usize, micros: u64 },
    /// `shutdown(Write)` on ours.
    Shutdown { p: usize },
    /// `close()` on ours.
    Close { p: usize },
    /// The peer writes `len` bytes.
    PeerWrite { p: usize, len: usize },
    /// The peer reads whatever has arrived.
    PeerRead { p: usize },
    /// The peer shuts down its write side (ours sees EOF after the data).
    PeerShutdown { p: usize },
    /// The peer closes with SO_LINGER 0: a reset.
    PeerReset { p: usize },
    /// The peer closes (FIN, or a reset if it had unread data).
    PeerClose { p: usize },
    /// `write_at` of `len` bytes on the script's file, at a small offset or one past
    /// `i64::MAX` (refused, and the file left as it was).
    FileWrite { at: u64, len: usize },
    /// `read_at` on the script's file into a buffer of `cap` bytes (some with 4 GiB of room),
    /// at a small offset, one near `i64::MAX` (end of file), or one past it (refused).
    FileRead { at: u64, cap: usize },
}

/// A read buffer with more room than an SQE's u32 length holds (reserved, never touched).
pub const HUGE_CAP: usize = (1 << 32) + 5;

pub struct Script {
    pub opens: Vec<Open>,
    pub ops: Vec<Op>,
}

fn micros(rng: &mut Rng) -> u64 {
    [0, 1, 20, 100, 300][rng.range(0, 4)]
}

/// The script of `seed`: 1 to 3 pairs, `max_ops / 4` to `max_ops` steps; with `extras`, the
/// inputs added by issue 21 too (`extras`), drawn from a second stream of the same seed, so
/// that the steps drawn without them stay what they were (seeds found before replay).
pub fn generate(seed: u64, max_ops: usize, extras: bool) -> Script {
    let mut rng = Rng::new(seed);
    let opens = (0..rng.range(1, 3))
        .map(|_| match rng.range(0, 4) {
            0 | 1 => Open::TcpConnect,
            2 => Open::TcpAccept {
                timed: rng.range(0, 3),
            },
            _ => Open::Unix,
        })
        .collect::<Vec<_>>();
    let n = rng.range(max_ops / 4, max_ops);
    let ops = (0..n).map(|_| op(&mut rng, opens.len())).collect();
    let mut script = Script { opens, ops };
    if extras {
        add_extras(seed, &mut script);
    }
    script
}

/// Extreme inputs: some reads with 4 GiB of room (a length an SQE cannot hold), and up to
/// four file steps at offsets up to `u64::MAX`.
fn add_extras(seed: u64, script: &mut Script) {
    let mut rng = Rng::new(seed ^ 0x155E_0021_F0CE_5EED);
    for op in &mut script.ops {
        if let Op::Read { cap, .. } | Op::TimedRead { cap, .. } = op {
            if rng.chance(4) {
                *cap = HUGE_CAP;
            }
        }
    }
    for _ in 0..rng.range(0, 4) {
        let at = rng.range(0, script.ops.len());
        let op = if rng.chance(50) {
            Op::FileWrite {
                at: file_offset(&mut rng, false),
                len: rng.range(1, 8 << 10),
            }
        } else {
            Op::FileRead {
                at: file_offset(&mut rng, true),
                cap: if rng.chance(20) {
                    HUGE_CAP
                } else {
                    rng.range(1, 16 << 10)
                },
            }
        };
        script.ops.insert(at, op);
    }
}

/// A file offset: mostly within the first 64 KiB, else past `i64::MAX` (or, for a read, just
/// below it: past the end of file).
fn file_offset(rng: &mut Rng, read: bool) -> u64 {
    const MAX: u64 = i64::MAX as u64;
    match rng.range(0, 9) {
        0 => u64::MAX,
        1 => u64::MAX - 1,
        2 => MAX + 1,
        3 if read => MAX,
        4 if read => MAX - 8,
        _ => rng.range(0, 64 << 10) as u64,
    }
}

fn op(rng: &mut Rng, pairs: usize) -> Op {
    let p = rng.range(0, pairs - 1);
    // Reads and peer writes are the common case; endings are rare, so streams live a while.
    match rng.range(0, 99) {
        0..=17 => Op::Read { p, cap: small(rng) },
        18..=27 => Op::TimedRead {
            p,
            cap: small(rng),
            micros: micros(rng),
        },
        28..=31 => Op::ReadExact {
            p,
            len: rng.range(1, 2000),
        },
        32..=37 => Op::Write { p, len: small(rng) },
        38..=45 => Op::WriteAll { p, len: small(rng) },
        46..=49 => Op::Writev {
            p,
            lens: (0..rng.range(1, 4)).map(|_| rng.range(1, 3000)).collect(),
        },
        50..=55 => Op::TimedWrite {
            p,
            len: if rng.chance(50) {
                rng.range(64 << 10, 512 << 10)
            } else {
                small(rng)
            },
            micros: micros(rng),
        },
        56..=57 => Op::Shutdown { p },
        58 => Op::Close { p },
        59..=78 => Op::PeerWrite {
            p,
            len: rng.range(256, 6000),
        },
        79..=92 => Op::PeerRead { p },
        93..=94 => Op::PeerShutdown { p },
        95..=96 => Op::PeerReset { p },
        _ => Op::PeerClose { p },
    }
}

/// A buffer size: mostly small, sometimes a few KiB.
fn small(rng: &mut Rng) -> usize {
    if rng.chance(70) {
        rng.range(1, 1500)
    } else {
        rng.range(1500, 16 << 10)
    }
}
