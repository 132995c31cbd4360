//! Syscall cost as a dimension of the suite (`--syscall-cost none,seccomp,...`): the server
//! under test runs under a seccomp filter that allows every syscall but makes the kernel
//! evaluate a filter shaped like a container runtime's default profile on each one. Readiness
//! pays that price on every read, write and epoll_wait; completion on each io_uring_enter only
//! (the operations the ring performs are not syscalls).
//!
//! The filter is what libseccomp generates for Docker's default profile (`docker.rs`) on
//! x86_64, with every action turned into "allow": an architecture check, then one
//! compare-and-allow per syscall number in ascending order, then the rules that look at an
//! argument, then the default. Levels:
//!
//! - `none`: no filter;
//! - `seccomp`: that filter. Since Linux 5.11 the kernel emulates a new filter for each syscall
//!   number and, where the answer cannot depend on the arguments, remembers it in a bitmap:
//!   such syscalls then skip the filter, and pay only the slower entry path every filtered
//!   process takes. Most of the profile is answered so;
//! - `seccomp-nocache`: the same filter, which first loads the instruction pointer (and
//!   ignores it): the kernel then cannot cache any answer, and every syscall runs the filter
//!   up to its own compare — what every filter cost before Linux 5.11, and what a filter that
//!   checks arguments costs still;
//! - `seccomp-nocache-xN` (N ≤ 64): N such filters stacked, each run on every syscall, as
//!   nested sandboxes stack them: a dearer syscall, to find where the models cross.
//!
//! A filter is installed between fork and exec ([`Filter::install`]), so it covers any
//! program: corio-bench's own servers and the proxies alike. It survives exec because
//! `PR_SET_NO_NEW_PRIVS` is set first. Built for x86_64 only; elsewhere a level other than
//! `none` is refused.

mod docker;

use std::io;

/// A syscall-cost level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    None,
    Seccomp,
    /// `copies` uncacheable filters stacked.
    NoCache {
        copies: usize,
    },
}

/// The most uncacheable filters a level stacks.
const MAX_COPIES: usize = 64;

impl Level {
    /// Parses a level's name; Err says what the names are.
    pub fn parse(s: &str) -> Result<Level, String> {
        let level = match s {
            "none" => Level::None,
            "seccomp" => Level::Seccomp,
            "seccomp-nocache" => Level::NoCache { copies: 1 },
            _ => match s.strip_prefix("seccomp-nocache-x").map(str::parse::<usize>) {
                Some(Ok(n)) if (1..=MAX_COPIES).contains(&n) => Level::NoCache { copies: n },
                _ => {
                    return Err(format!(
                        "unknown syscall-cost level {s:?} (levels: none, seccomp, \
                         seccomp-nocache, seccomp-nocache-xN with N in 1..={MAX_COPIES})"
                    ))
                }
            },
        };
        if level != Level::None && !cfg!(target_arch = "x86_64") {
            return Err("the seccomp levels are built for x86_64 only".into());
        }
        Ok(level)
    }

    pub fn name(self) -> String {
        match self {
            Level::None => "none".into(),
            Level::Seccomp => "seccomp".into(),
            Level::NoCache { copies: 1 } => "seccomp-nocache".into(),
            Level::NoCache { copies } => format!("seccomp-nocache-x{copies}"),
        }
    }

    /// What the level is, for a report.
    pub fn about(self) -> String {
        let size = program(false).len();
        match self {
            Level::None => "no seccomp filter".into(),
            Level::Seccomp => format!(
                "Docker's default profile as libseccomp compiles it ({size} BPF instructions, \
                 every action allow); the kernel caches its answer for syscalls whose rule \
                 ignores the arguments"
            ),
            Level::NoCache { copies } => format!(
                "the same filter made uncacheable (it first loads the instruction pointer), \
                 {copies} stacked: every syscall runs each copy up to its own compare"
            ),
        }
    }

    /// The filter to install in a child; None for `none`.
    pub fn filter(self) -> Option<Filter> {
        let (nocache, copies) = match self {
            Level::None => return None,
            Level::Seccomp => (false, 1),
            Level::NoCache { copies } => (true, copies),
        };
        Some(Filter {
            programs: (0..copies).map(|_| program(nocache)).collect(),
        })
    }
}

/// Prepared filter programs, ready to install after fork.
#[derive(Debug, Clone)]
pub struct Filter {
    programs: Vec<Vec<libc::sock_filter>>,
}

// SAFETY: sock_filter is plain data; Filter owns its programs and never shares a pointer.
unsafe impl Send for Filter {}
// SAFETY: as above; install only reads the programs.
unsafe impl Sync for Filter {}

impl Filter {
    /// Installs the programs on the calling thread (and the threads and programs it starts
    /// later). Makes only prctl syscalls on memory this value owns, so it may run between fork
    /// and exec.
    pub fn install(&self) -> io::Result<()> {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        for p in &self.programs {
            let prog = libc::sock_fprog {
                len: p.len() as u16,
                filter: p.as_ptr() as *mut libc::sock_filter,
            };
            // SAFETY: `prog` points to `p`, alive for the call; the kernel copies the program.
            let rc = unsafe {
                libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                    &prog as *const libc::sock_fprog,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// `seccomp_data`'s offsets: syscall number, architecture, instruction pointer, arguments.
const NR: u32 = 0;
const ARCH: u32 = 4;
const IP: u32 = 8;
const ARGS: u32 = 16;
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// Numbers from here on are the x32 ABI's.
const X32_BIT: u32 = 0x4000_0000;
/// The most compares before a `ret` must come (a jump offset is 8 bits).
const GROUP: usize = 200;

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

fn load(offset: u32) -> libc::sock_filter {
    stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset)
}

fn allow() -> libc::sock_filter {
    stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW)
}

/// The filter: Docker's profile as libseccomp lays it out, every outcome "allow".
fn program(nocache: bool) -> Vec<libc::sock_filter> {
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let mut p = Vec::new();
    if nocache {
        // The kernel's cache emulator gives up on any load but the number and the arch.
        p.push(load(IP));
    }
    p.push(load(ARCH));
    // Another ABI (i386): libseccomp would run its own chain; allow it here.
    p.push(jump(jeq, AUDIT_ARCH_X86_64, 1, 0));
    p.push(allow());
    p.push(load(NR));
    p.push(jump(
        libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K,
        X32_BIT,
        0,
        1,
    ));
    p.push(allow());
    for group in docker::PLAIN.chunks(GROUP) {
        // Each compare jumps to the `ret` after its group; a miss falls through to the next.
        for (i, &(nr, _)) in group.iter().enumerate() {
            let to_ret = (group.len() - i) as u8; // over the rest, and the `ja`
            p.push(jump(jeq, nr, to_ret, 0));
        }
        p.push(stmt(libc::BPF_JMP | libc::BPF_JA, 1));
        p.push(allow());
    }
    for (nr, _, arg, check) in docker::ARG_CHECKED {
        let block = arg_block(*arg, check);
        p.push(jump(jeq, *nr, 0, block.len() as u8));
        p.extend(block);
    }
    // The profile's default action (EPERM) would go here: everything is allowed.
    p.push(allow());
    p
}

/// Loads argument `arg` (its low word) and checks it as the profile does; every way out allows.
fn arg_block(arg: u32, check: &docker::Check) -> Vec<libc::sock_filter> {
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let mut b = vec![load(ARGS + 8 * arg)];
    match check {
        docker::Check::Equals(values) => {
            for (i, &v) in values.iter().enumerate() {
                b.push(jump(jeq, v, (values.len() - i) as u8, 0));
            }
        }
        docker::Check::NoBits(mask) => {
            b.push(stmt(libc::BPF_ALU | libc::BPF_AND | libc::BPF_K, *mask));
            b.push(jump(jeq, 0, 1, 0));
        }
    }
    // A refused argument would return EPERM; allowed here too.
    b.push(allow());
    b.push(allow());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_name_themselves() {
        for name in ["none", "seccomp", "seccomp-nocache", "seccomp-nocache-x4"] {
            assert_eq!(Level::parse(name).unwrap().name(), name);
        }
        assert_eq!(
            Level::parse("seccomp-nocache-x1"),
            Ok(Level::NoCache { copies: 1 })
        );
        for bad in ["", "docker", "seccomp-nocache-x0", "seccomp-nocache-x65"] {
            assert!(Level::parse(bad).is_err(), "{bad}");
        }
        assert!(Level::None.filter().is_none());
        assert_eq!(
            Level::NoCache { copies: 3 }
                .filter()
                .unwrap()
                .programs
                .len(),
            3
        );
    }

    /// Runs `p` the way the kernel would for syscall `nr` on x86_64 with arguments `args`:
    /// returns the action and the instructions it ran.
    fn run(p: &[libc::sock_filter], nr: u32, args: [u32; 6]) -> (u32, usize) {
        let (mut pc, mut a, mut steps) = (0usize, 0u32, 0usize);
        loop {
            let i = p[pc];
            steps += 1;
            let code = i.code as u32;
            match code & 0x07 {
                c if c == libc::BPF_LD => {
                    a = match i.k {
                        NR => nr,
                        ARCH => AUDIT_ARCH_X86_64,
                        IP => 0x1234,
                        k => args[((k - ARGS) / 8) as usize],
                    };
                    pc += 1;
                }
                c if c == libc::BPF_ALU => {
                    a &= i.k;
                    pc += 1;
                }
                c if c == libc::BPF_RET => return (i.k, steps),
                _ => {
                    let op = code & 0xf0;
                    let taken = if op == libc::BPF_JA {
                        pc += 1 + i.k as usize;
                        continue;
                    } else if op == libc::BPF_JEQ {
                        a == i.k
                    } else {
                        a >= i.k
                    };
                    pc += 1 + if taken { i.jt } else { i.jf } as usize;
                }
            }
        }
    }

    #[test]
    fn the_filter_allows_everything_at_the_profile_s_price() {
        let p = program(false);
        // docs/benchmarks.md and docs/completion-vs-readiness.md quote this size.
        assert_eq!(p.len(), 324);
        let mut last = 0;
        for &(nr, name) in docker::PLAIN {
            assert!(nr > last || nr == 0, "{name}: ascending numbers");
            last = nr;
            let (action, steps) = run(&p, nr, [0; 6]);
            assert_eq!(action, libc::SECCOMP_RET_ALLOW, "{name}");
            assert!(steps >= 6, "{name}");
        }
        // The cost grows with the number's place in the list: read is near the front,
        // io_uring_enter near the end.
        let read = run(&p, libc::SYS_read as u32, [0; 6]).1;
        let enter = run(&p, libc::SYS_io_uring_enter as u32, [0; 6]).1;
        assert!(read < 10 && enter > 250, "{read} {enter}");
        // Argument-checked and unknown syscalls, x32 numbers: allowed all the same.
        for (nr, args) in [
            (41, [40, 0, 0, 0, 0, 0]),
            (56, [0x2000_0000, 0, 0, 0, 0, 0]),
        ] {
            assert_eq!(run(&p, nr, args).0, libc::SECCOMP_RET_ALLOW);
        }
        assert_eq!(run(&p, 999, [0; 6]).0, libc::SECCOMP_RET_ALLOW);
        assert_eq!(run(&p, X32_BIT | 1, [0; 6]).0, libc::SECCOMP_RET_ALLOW);
        // The uncacheable form runs one instruction more, first.
        assert_eq!(program(true).len(), p.len() + 1);
        assert_eq!(program(true)[0].k, IP);
    }
}
