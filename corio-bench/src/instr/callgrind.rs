//! The valgrind side: finding the tools, telling a running server what to count (vgdb), and
//! reading what callgrind wrote (a dump's total, and a profile per request by function from
//! `callgrind_annotate`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "Debian/Ubuntu: apt-get install valgrind; Fedora: dnf install valgrind";

/// How long one vgdb command may take before the run is abandoned.
const VGDB_LIMIT: Duration = Duration::from_secs(10);

/// The valgrind programs the command runs.
#[derive(Debug, Clone)]
pub struct Tools {
    pub valgrind: PathBuf,
    pub vgdb: PathBuf,
    /// Only `--profile` needs it.
    pub annotate: Option<PathBuf>,
}

/// `name` on PATH, if it is there.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

impl Tools {
    /// valgrind and vgdb from PATH; Err says how to install them.
    pub fn find() -> Result<Tools, String> {
        let valgrind = on_path("valgrind").ok_or_else(|| {
            format!("valgrind is not installed (it counts the instructions; {INSTALL})")
        })?;
        let vgdb = on_path("vgdb").ok_or_else(|| {
            format!("vgdb (part of valgrind) is not on PATH although valgrind is ({INSTALL})")
        })?;
        Ok(Tools {
            valgrind,
            vgdb,
            annotate: on_path("callgrind_annotate"),
        })
    }

    /// Sends one monitor command to the valgrind gdbserver of `pid` and returns when the
    /// server has carried it out (vgdb returns after the server's reply); the instant is
    /// taken right after. `prefix`: the FIFOs' prefix the server was started with.
    pub fn vgdb(&self, prefix: &Path, pid: u32, command: &str) -> Result<Instant, String> {
        let mut child = Command::new(&self.vgdb)
            .arg(format!("--vgdb-prefix={}", prefix.display()))
            .arg(format!("--pid={pid}"))
            // A server blocked in a syscall is interrupted (ptrace) after 10 ms rather than
            // the default 100 ms.
            .arg("--max-invoke-ms=10")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting vgdb: {e}"))?;
        let deadline = Instant::now() + VGDB_LIMIT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(Instant::now()),
                Ok(Some(status)) => {
                    let out = child
                        .wait_with_output()
                        .map(|o| o.stderr)
                        .unwrap_or_default();
                    return Err(format!(
                        "vgdb {command} failed ({status}): {}",
                        String::from_utf8_lossy(&out).trim()
                    ));
                }
                Ok(None) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("vgdb {command} took more than {VGDB_LIMIT:?}"));
                }
                Ok(None) => std::thread::sleep(Duration::from_micros(200)),
                Err(e) => return Err(format!("waiting for vgdb: {e}")),
            }
        }
    }
}

/// The instructions a callgrind dump counted (its `totals:` line, else `summary:`).
pub fn total(dump: &Path) -> Result<u64, String> {
    let text =
        std::fs::read_to_string(dump).map_err(|e| format!("reading {}: {e}", dump.display()))?;
    let find = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    find("totals:")
        .or_else(|| find("summary:"))
        .ok_or_else(|| format!("{} has no totals line", dump.display()))
}

/// One function's share of a profile.
struct Entry {
    function: String,
    instructions: u64,
}

/// `callgrind_annotate`'s function lines (`1,234 (5.6%)  file:function [object]`), summed by
/// function: inlined code is reported once per source file it came from, and the source file
/// is not what a reader of the profile asks about.
fn annotate(tool: &Path, dump: &Path, inclusive: bool) -> Result<Vec<Entry>, String> {
    let out = Command::new(tool)
        .arg(format!(
            "--inclusive={}",
            if inclusive { "yes" } else { "no" }
        ))
        .arg("--threshold=100")
        .arg("--auto=no")
        .arg(dump)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running callgrind_annotate: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "callgrind_annotate failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut sums: HashMap<String, u64> = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((count, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(n) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        // "(12.34%)  file:function [object]"; the percentage may be padded: "( 7.75%)".
        let Some((_, rest)) = rest.split_once(')') else {
            continue;
        };
        let rest = rest.trim();
        if rest == "PROGRAM TOTALS" {
            continue;
        }
        let rest = match rest.rfind(" [") {
            Some(i) if rest.ends_with(']') => &rest[..i],
            _ => rest,
        };
        // The function follows the first ':' after the file (file paths have no ':').
        let function = rest.split_once(':').map_or(rest, |(_, f)| f);
        *sums.entry(function.to_string()).or_default() += n;
    }
    let mut entries: Vec<Entry> = sums
        .into_iter()
        .map(|(function, instructions)| Entry {
            function,
            instructions,
        })
        .collect();
    entries.sort_by_key(|e| std::cmp::Reverse(e.instructions));
    Ok(entries)
}

/// The profile of one run per request, inclusive and self, `top` functions each.
pub fn profile(tool: &Path, dump: &Path, requests: f64, top: usize) -> Result<String, String> {
    let mut text = String::new();
    for (inclusive, title) in [(true, "inclusive"), (false, "self")] {
        let entries = annotate(tool, dump, inclusive)?;
        let _ = writeln!(text, "## instructions per request, {title}\n");
        for e in entries.iter().take(top) {
            let _ = writeln!(
                text,
                "{:>10.1}  {}",
                e.instructions as f64 / requests,
                e.function
            );
        }
        text.push('\n');
    }
    Ok(text)
}
