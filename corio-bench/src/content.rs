//! The deterministic content of the benchmark files, so that every byte a reader or a client
//! gets can be checked without reading the file again.
//!
//! The file is a run of 8-byte little-endian words; the word at byte offset `8k` is
//! [`word`]`(k)`, a bijection of `k`, so no two words of a file (of up to 2^61 words) are
//! equal: a read at the wrong offset, a stale or short buffer, or bytes from another file all
//! differ from what is expected.

use std::io::{self, Read, Write};
use std::path::Path;

/// The size of one random read in the file-read workload, and the alignment of its offsets.
pub const BLOCK: usize = 4096;

const WORD: usize = 8;

/// The word at byte offset `8k`. Multiplying by an odd constant is a bijection on u64.
pub fn word(k: u64) -> u64 {
    k.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66_D1CE_4E5B
}

/// Fills `out` with the file's bytes from `off` on. `off` is a multiple of 8.
pub fn fill(off: u64, out: &mut [u8]) {
    debug_assert_eq!(off % WORD as u64, 0);
    let first = off / WORD as u64;
    let partial = first + (out.len() / WORD) as u64;
    let mut chunks = out.chunks_exact_mut(WORD);
    for (i, c) in (&mut chunks).enumerate() {
        c.copy_from_slice(&word(first + i as u64).to_le_bytes());
    }
    let rest = chunks.into_remainder();
    let n = rest.len();
    let last = word(partial).to_le_bytes();
    rest.copy_from_slice(&last[..n]);
}

/// The file's bytes in `off..off + len`.
pub fn expected(off: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill(off, &mut v);
    v
}

/// Whether `got` is exactly the file's bytes from `off` on (`off` and `got.len()` multiples of
/// 8), byte for byte.
pub fn matches(off: u64, got: &[u8]) -> bool {
    if !got.len().is_multiple_of(WORD) {
        return false;
    }
    let first = off / WORD as u64;
    got.chunks_exact(WORD)
        .zip(first..)
        .all(|(c, k)| c == word(k).to_le_bytes())
}

/// The cheap check: `got` is one whole block whose first and last words are those of the
/// block at `off` (a wrong offset, a short read or a buffer left from another read fails it).
pub fn ends_match(off: u64, got: &[u8]) -> bool {
    let k = off / WORD as u64;
    got.len() == BLOCK
        && got[..WORD] == word(k).to_le_bytes()
        && got[BLOCK - WORD..] == word(k + (BLOCK / WORD) as u64 - 1).to_le_bytes()
}

/// Writes a file of `len` bytes of this content, then reads it all back once so that it sits
/// in the page cache (a benchmark of the runtimes, not of the disk).
pub fn write_file(path: &Path, len: u64) -> io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        fill(off, &mut buf[..n]);
        f.write_all(&buf[..n])?;
        off += n as u64;
    }
    f.sync_all()?;
    drop(f);
    read_through(path)
}

/// Reads the whole file once, so that it sits in the page cache.
pub fn read_through(path: &Path) -> io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_catch_a_wrong_byte_offset_or_length() {
        let block = expected(8192, BLOCK);
        assert!(matches(8192, &block) && ends_match(8192, &block));
        assert!(!matches(4096, &block) && !ends_match(4096, &block));
        assert!(!ends_match(8192, &block[..BLOCK - 8]));
        let mut bad = block.clone();
        bad[1000] ^= 1;
        assert!(!matches(8192, &bad), "one flipped byte");
        assert!(
            ends_match(8192, &bad),
            "the cheap check looks at the ends only"
        );
        bad[BLOCK - 1] ^= 0x80;
        assert!(!ends_match(8192, &bad));
        // A fill that does not end on a word boundary continues the same bytes.
        let mut odd = vec![0u8; 13];
        fill(16, &mut odd);
        assert_eq!(odd[..], expected(16, 16)[..13]);
    }

    #[test]
    fn a_written_file_reads_back_as_the_content() {
        let path = std::env::temp_dir().join(format!("corio-bench-content-{}", std::process::id()));
        write_file(&path, 3 * BLOCK as u64 + 5).unwrap();
        let data = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(data.len(), 3 * BLOCK + 5);
        assert_eq!(data, expected(0, data.len()));
    }
}
