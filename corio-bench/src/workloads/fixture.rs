//! The files the file workloads read: written once per suite run, on first use, into a
//! directory of this process's own under the system's temp dir, with the content of
//! `crate::content`, and read through before every run so that they sit in the page cache
//! (a page reclaimer, such as DAMON's on this VM, may evict a file left alone for a few
//! minutes; a read of a cached file costs some 50 ms per 256 MiB); removed when the suite
//! ends (`remove`, the workloads' `finish`).

use std::path::PathBuf;
use std::sync::Mutex;

/// The file-read workload's file.
pub const BIG: (&str, u64) = ("read-256MiB.bin", 256 << 20);
/// The file-serve workload's file: what each request asks for.
pub const SMALL: (&str, u64) = ("serve-1MiB.bin", 1 << 20);

/// The directory, once made.
static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The path of `file` (name, length), written first if it is not there yet, and read through.
pub fn file((name, len): (&str, u64)) -> Result<PathBuf, String> {
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    let d = match &*dir {
        Some(d) => d.clone(),
        None => {
            let d = std::env::temp_dir().join(format!("corio-bench-files-{}", std::process::id()));
            std::fs::create_dir_all(&d).map_err(|e| format!("creating {}: {e}", d.display()))?;
            *dir = Some(d.clone());
            d
        }
    };
    let path = d.join(name);
    let there = std::fs::metadata(&path).is_ok_and(|m| m.len() == len);
    if !there {
        crate::content::write_file(&path, len)
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    } else {
        crate::content::read_through(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
    }
    Ok(path)
}

/// Removes the directory and its files, if made.
pub fn remove() {
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = dir.take() {
        if let Err(e) = std::fs::remove_dir_all(&d) {
            eprintln!("corio-bench: removing {}: {e}", d.display());
        }
    }
}
