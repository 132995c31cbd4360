//! The tag that names a driver-side record in what the kernel hands back: a slab key and a
//! generation, packed into the 64 bits of an SQE's user_data or an epoll event's data.
//!
//! A record's key is reused once the record is gone; the generation (bumped for every new
//! record) tells a stale completion or event from one meant for the record now in that key,
//! as Go's `fdseq` does. Generations skip `u32::MAX`, so a tag whose top 32 bits are all ones
//! never names a record: those are the drivers' own fixed tags (the wake read, cancels,
//! messages).

/// A record's key and generation, as the kernel carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token(u64);

/// Tags at or above this value are the drivers' own (generation `u32::MAX`).
pub(crate) const RESERVED_BASE: u64 = 0xffff_ffff_0000_0000;

impl Token {
    #[inline(always)]
    pub(crate) fn new(key: usize, generation: u32) -> Token {
        debug_assert!(generation != u32::MAX && key <= u32::MAX as usize);
        Token((u64::from(generation) << 32) | key as u64)
    }

    /// The token the kernel gave back (user_data, or epoll data).
    #[inline(always)]
    pub(crate) fn from_raw(raw: u64) -> Token {
        Token(raw)
    }

    #[inline(always)]
    pub(crate) fn raw(self) -> u64 {
        self.0
    }

    #[inline(always)]
    pub(crate) fn key(self) -> usize {
        (self.0 & 0xffff_ffff) as usize
    }

    #[inline(always)]
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// The next generation after `g`, skipping `u32::MAX` (reserved, see the module docs).
#[inline(always)]
pub(crate) fn next_generation(g: u32) -> u32 {
    match g.wrapping_add(1) {
        u32::MAX => 0,
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_never_reach_the_reserved_range() {
        let t = Token::new(7, 42);
        assert_eq!((t.key(), t.generation()), (7, 42));
        assert_eq!(Token::from_raw(t.raw()), t);
        assert_eq!(next_generation(u32::MAX - 1), 0);
        assert!(Token::new(u32::MAX as usize, u32::MAX - 1).raw() < RESERVED_BASE);
    }
}
