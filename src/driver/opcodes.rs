//! The io_uring opcodes corio submits, each declared once. An operation names its entry
//! (`OpAble::OPCODE`); the ring's probe, at setup, decides for each one whether it runs
//! natively (docs/architecture.md, "Per-operation fallback").
//!
//! - `REQUIRED`: what the network path and the driver itself cannot do without (the wake read,
//!   cancels, timeouts, every socket operation, and POLL_ADD, which is how the ring waits for
//!   readiness when an optional socket opcode is missing). If the kernel lacks one, io_uring is
//!   refused as a whole and `DriverChoice::Auto` falls back to epoll.
//! - `OPTIONAL`: everything else (files, newer opcodes). If the kernel lacks one, only the
//!   operations that use it fall back: to the blocking pool where the op has a blocking form
//!   (files), else to its readiness form on the ring. Adding an opcode is one line here.

use io_uring::opcode;

/// One opcode, with the name the kernel's headers give it (after `IORING_OP_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Opcode {
    pub(crate) code: u8,
    pub(crate) name: &'static str,
}

const fn op(code: u8, name: &'static str) -> Opcode {
    Opcode { code, name }
}

pub(crate) const NOP: Opcode = op(opcode::Nop::CODE, "NOP");
pub(crate) const ACCEPT: Opcode = op(opcode::Accept::CODE, "ACCEPT");
pub(crate) const CONNECT: Opcode = op(opcode::Connect::CODE, "CONNECT");
pub(crate) const RECV: Opcode = op(opcode::Recv::CODE, "RECV");
pub(crate) const SEND: Opcode = op(opcode::Send::CODE, "SEND");
pub(crate) const SENDMSG: Opcode = op(opcode::SendMsg::CODE, "SENDMSG");
pub(crate) const RECVMSG: Opcode = op(opcode::RecvMsg::CODE, "RECVMSG");
pub(crate) const SHUTDOWN: Opcode = op(opcode::Shutdown::CODE, "SHUTDOWN");
pub(crate) const CLOSE: Opcode = op(opcode::Close::CODE, "CLOSE");
pub(crate) const TIMEOUT: Opcode = op(opcode::Timeout::CODE, "TIMEOUT");
pub(crate) const ASYNC_CANCEL: Opcode = op(opcode::AsyncCancel::CODE, "ASYNC_CANCEL");
pub(crate) const READ: Opcode = op(opcode::Read::CODE, "READ");
pub(crate) const POLL_ADD: Opcode = op(opcode::PollAdd::CODE, "POLL_ADD");

pub(crate) const WRITE: Opcode = op(opcode::Write::CODE, "WRITE");
pub(crate) const FSYNC: Opcode = op(opcode::Fsync::CODE, "FSYNC");
pub(crate) const OPENAT: Opcode = op(opcode::OpenAt::CODE, "OPENAT");
pub(crate) const STATX: Opcode = op(opcode::Statx::CODE, "STATX");
pub(crate) const RENAMEAT: Opcode = op(opcode::RenameAt::CODE, "RENAMEAT");
pub(crate) const UNLINKAT: Opcode = op(opcode::UnlinkAt::CODE, "UNLINKAT");
pub(crate) const MKDIRAT: Opcode = op(opcode::MkDirAt::CODE, "MKDIRAT");
pub(crate) const FALLOCATE: Opcode = op(opcode::Fallocate::CODE, "FALLOCATE");
pub(crate) const FTRUNCATE: Opcode = op(opcode::Ftruncate::CODE, "FTRUNCATE");
pub(crate) const FILES_UPDATE: Opcode = op(opcode::FilesUpdate::CODE, "FILES_UPDATE");
pub(crate) const FIXED_FD_INSTALL: Opcode = op(opcode::FixedFdInstall::CODE, "FIXED_FD_INSTALL");
pub(crate) const SPLICE: Opcode = op(opcode::Splice::CODE, "SPLICE");

/// Missing any of these refuses io_uring as a whole.
pub(crate) const REQUIRED: [Opcode; 13] = [
    NOP,
    ACCEPT,
    CONNECT,
    RECV,
    SEND,
    SENDMSG,
    RECVMSG,
    SHUTDOWN,
    CLOSE,
    TIMEOUT,
    ASYNC_CANCEL,
    READ,
    POLL_ADD,
];

/// Missing one of these makes only the operations that use it fall back.
pub(crate) const OPTIONAL: [Opcode; 12] = [
    WRITE,
    FSYNC,
    OPENAT,
    STATX,
    RENAMEAT,
    UNLINKAT,
    MKDIRAT,
    FALLOCATE,
    FTRUNCATE,
    FILES_UPDATE,
    FIXED_FD_INSTALL,
    SPLICE,
];

/// The opcodes one ring runs natively: a bit per opcode number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Native([u64; 4]);

impl Native {
    pub(crate) fn set(&mut self, op: Opcode) {
        self.0[usize::from(op.code / 64)] |= 1 << (op.code % 64);
    }

    pub(crate) fn clear(&mut self, op: Opcode) {
        self.0[usize::from(op.code / 64)] &= !(1 << (op.code % 64));
    }

    pub(crate) fn has(&self, op: Opcode) -> bool {
        self.0[usize::from(op.code / 64)] & (1 << (op.code % 64)) != 0
    }

    /// The names of the optional opcodes that run natively (`true`) or fall back (`false`).
    pub(crate) fn optional(&self, native: bool) -> Vec<&'static str> {
        OPTIONAL
            .iter()
            .filter(|op| self.has(**op) == native)
            .map(|op| op.name)
            .collect()
    }
}

/// The opcode named `name` (as in `IORING_OP_<name>`, case-insensitive), and whether it is
/// required.
pub(crate) fn by_name(name: &str) -> Option<(Opcode, bool)> {
    let name = name.trim().trim_start_matches("IORING_OP_");
    let find = |list: &[Opcode]| {
        list.iter()
            .copied()
            .find(|op| op.name.eq_ignore_ascii_case(name))
    };
    find(&REQUIRED)
        .map(|op| (op, true))
        .or_else(|| find(&OPTIONAL).map(|op| (op, false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_are_named_once_and_the_bitset_keeps_them_apart() {
        let all: Vec<Opcode> = REQUIRED.iter().chain(OPTIONAL.iter()).copied().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(a.code != b.code && a.name != b.name, "{a:?} {b:?}");
            }
        }
        let mut native = Native::default();
        native.set(WRITE);
        native.set(FTRUNCATE);
        assert!(native.has(WRITE) && native.has(FTRUNCATE) && !native.has(FSYNC));
        native.clear(WRITE);
        assert!(!native.has(WRITE));
        assert_eq!(native.optional(true), ["FTRUNCATE"]);
        assert_eq!(by_name("openat"), Some((OPENAT, false)));
        assert_eq!(by_name("IORING_OP_ACCEPT"), Some((ACCEPT, true)));
        assert_eq!(by_name("NOPE"), None);
    }
}
