//! The file steps (issue 21's extreme offsets): one file per run, its bytes modelled exactly.
//! An offset past `i64::MAX` is `InvalidInput` on every driver and leaves the file as it was;
//! so is a read whose end would pass it (the kernel's own check: offset + length, the length
//! being the buffer's room cut to `MAX_RW_COUNT`); any other read returns exactly the model's
//! bytes (none past the end of file), whatever the buffer's room; a write at a small offset
//! writes all of its bytes.

use crate::exec::{Run, Step};
use corio::fs::File;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Linux's `MAX_RW_COUNT`: the most one read asks the kernel for.
const MAX_RW: u64 = 0x7fff_f000;

/// The script's file and what it must hold.
pub struct ScriptFile {
    file: File,
    path: PathBuf,
    model: Vec<u8>,
}

impl Drop for ScriptFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Run {
    async fn script_file(&mut self) -> Result<&mut ScriptFile, String> {
        if self.file.is_none() {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("corio-fuzz-{}-{n}", std::process::id()));
            let file = File::create(&path)
                .await
                .map_err(|e| format!("creating {path:?}: {e}"))?;
            self.file = Some(ScriptFile {
                file,
                path,
                model: Vec::new(),
            });
        }
        Ok(self.file.as_mut().expect("just made"))
    }

    pub async fn file_write(&mut self, at: u64, len: usize) -> Step {
        let data = self.data(len);
        let f = self.script_file().await?;
        let (res, _) = f.file.write_at(data.clone(), at).await;
        let class = if at > i64::MAX as u64 {
            match res {
                Err(e) if e.kind() == ErrorKind::InvalidInput => "invalid",
                other => return Err(format!("write_at({at}) past i64::MAX returned {other:?}")),
            }
        } else {
            match res {
                Ok(n) if n == len => {
                    let at = at as usize;
                    if f.model.len() < at + len {
                        f.model.resize(at + len, 0);
                    }
                    f.model[at..at + len].copy_from_slice(&data);
                    "ok"
                }
                other => return Err(format!("write_at({at}) of {len} returned {other:?}")),
            }
        };
        Ok(Some((class.into(), Some("file".into()))))
    }

    pub async fn file_read(&mut self, at: u64, cap: usize) -> Step {
        let f = self.script_file().await?;
        let (res, got) = f.file.read_at(Vec::with_capacity(cap), at).await;
        let end = u128::from(at) + u128::from((cap as u64).min(MAX_RW));
        let class = if end > i64::MAX as u128 {
            match res {
                Err(e) if e.kind() == ErrorKind::InvalidInput => "invalid",
                other => {
                    return Err(format!(
                        "read_at({at}) with room {cap}, ending past i64::MAX, returned {other:?}"
                    ))
                }
            }
        } else {
            let start = usize::try_from(at).unwrap_or(usize::MAX).min(f.model.len());
            let want = &f.model[start..f.model.len().min(start.saturating_add(cap))];
            match res {
                Ok(n) if n == want.len() && got[..] == *want => {
                    if n == 0 {
                        "eof"
                    } else {
                        "data"
                    }
                }
                other => {
                    return Err(format!(
                        "read_at({at}) with room {cap} returned {other:?} ({} bytes); the file \
                         holds {} bytes, so {} were due",
                        got.len(),
                        f.model.len(),
                        want.len()
                    ))
                }
            }
        };
        Ok(Some((class.into(), Some("file".into()))))
    }
}
