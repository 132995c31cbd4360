//! What the harness asks the kernel about processes and threads: CPU affinity, CPU time
//! (getrusage, /proc/PID/stat, schedstat), run-queue wait, resident memory, bytes read from
//! storage, and the open-file limit. A leaf: it knows nothing of servers, loads or reports.
//! Every function that reads /proc answers None where the file is unreadable (a process gone).

use std::io;

/// The CPUs this process may run on, lowest first.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data, valid when zeroed.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getaffinity(0, ..) fills the set we pass, of the size we pass.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET reads inside the set, for indices below CPU_SETSIZE.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Pins the calling thread (and the threads it spawns later) to `cores`. Only makes the
/// sched_setaffinity syscall on stack data, so it may run between fork and exec.
pub fn pin_current_thread(cores: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data, valid when zeroed.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &core in cores {
        if core >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: CPU_SET writes inside the set, for an index below CPU_SETSIZE (checked).
        unsafe { libc::CPU_SET(core, &mut set) };
    }
    // SAFETY: sched_setaffinity(0, ..) reads the set we pass and applies to this thread only.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn micros(t: libc::timeval) -> u64 {
    t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64
}

/// getrusage(`who`) user + system time, µs.
fn rusage_us(who: i32) -> u64 {
    // SAFETY: rusage is plain data, valid when zeroed.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid `who` and out pointer; on failure `ru` stays zero.
    unsafe { libc::getrusage(who, &mut ru) };
    micros(ru.ru_utime) + micros(ru.ru_stime)
}

/// This process's CPU time (user + system, every thread), µs.
pub fn process_cpu_us() -> u64 {
    rusage_us(libc::RUSAGE_SELF)
}

/// The calling thread's CPU time (user + system), µs.
pub fn thread_cpu_us() -> u64 {
    rusage_us(libc::RUSAGE_THREAD)
}

/// The CPU time of this process's reaped children, µs.
pub fn children_cpu_us() -> u64 {
    rusage_us(libc::RUSAGE_CHILDREN)
}

/// How long the calling thread has waited on a run queue (schedstat run_delay), µs.
pub fn thread_wait_us() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(s.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1000)
}

/// A process's CPU time (utime + stime over all its threads) from /proc/PID/stat, µs
/// (clock-tick resolution).
pub fn proc_cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    // After it: field 3 (state) at index 0, so utime (14) and stime (15) at 11 and 12.
    let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
    let utime: u64 = rest.nth(11)?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    // SAFETY: sysconf only reads a system value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| (utime + stime) * 1_000_000 / hz as u64)
}

/// Field `field` of every thread's schedstat of `pid`, summed: 0 is the time on a CPU, 1 the
/// time runnable but waiting (ns).
fn schedstat_sum(pid: u32, field: usize) -> Option<u64> {
    let mut ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        // A thread that ended during the walk (a blocking-pool thread retiring, a test thread
        // of this process) is gone with its time: skipped, not the whole sum.
        let Some(s) = task
            .ok()
            .and_then(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        else {
            continue;
        };
        ns += s.split_whitespace().nth(field)?.parse::<u64>().ok()?;
    }
    Some(ns)
}

/// A process's CPU time from its threads' schedstat (ns resolution; any program, no help from
/// it), µs.
pub fn proc_schedstat_cpu_us(pid: u32) -> Option<u64> {
    Some(schedstat_sum(pid, 0)? / 1000)
}

/// How long a process's threads have waited on a run queue (schedstat run_delay), µs.
pub fn proc_run_wait_us(pid: u32) -> Option<u64> {
    Some(schedstat_sum(pid, 1)? / 1000)
}

/// A process's resident memory (VmRSS), KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether process `pid` holds the socket listening on TCP port `port` (of any local address):
/// the inode of the LISTEN entry in /proc/net/tcp(6) among the process's open fds. So a port
/// another program took can be told from our own child's.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st ... inode (column 9); LISTEN is state 0A.
            let local_port = f.get(1).and_then(|a| a.rsplit(':').next());
            let listening = f.get(3) == Some(&"0A");
            if listening && local_port.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port) {
                inodes.extend(f.get(9).map(|i| format!("socket:[{i}]")));
            }
        }
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|l| inodes.iter().any(|i| l.to_string_lossy() == *i))
    })
}

/// /proc/self/io's `read_bytes`: bytes this process made the kernel fetch from storage.
pub fn disk_read_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    let line = io.lines().find_map(|l| l.strip_prefix("read_bytes:"))?;
    line.trim().parse().ok()
}

/// The soft open-file limit (children inherit it).
pub fn fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass; on failure it stays zero.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur
}

/// Raises the soft open-file limit to the hard one: thousands of connections need thousands of
/// fds, on both ends (a server child inherits the limit). Failure only leaves the old limit.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 && lim.rlim_cur < lim.rlim_max
    {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads the struct we pass.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
}

/// Raises both open-file limits to `want` where this process may (CAP_SYS_RESOURCE), else the
/// soft one to the hard one. Returns the soft limit it ends with.
pub fn raise_fd_limit_to(want: u64) -> u64 {
    if fd_limit() < want {
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        // SAFETY: setrlimit reads the struct we pass; a refusal leaves the old limits.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            raise_fd_limit();
        }
    }
    fd_limit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn own_figures_are_readable_and_cpu_time_grows() {
        let me = std::process::id();
        let (a, b) = (proc_cpu_us(me).unwrap(), proc_schedstat_cpu_us(me).unwrap());
        // Spin until this thread has had 50 ms of CPU (bounded: the machine may be busy).
        let (t, start) = (Instant::now(), thread_cpu_us());
        let mut x = 0u64;
        while thread_cpu_us() < start + 50_000 && t.elapsed() < Duration::from_secs(10) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        assert!(proc_cpu_us(me).unwrap() > a);
        assert!(proc_schedstat_cpu_us(me).unwrap() > b + 20_000);
        assert!(proc_run_wait_us(me).is_some() && thread_wait_us().is_some());
        assert!(rss_kib(me).unwrap() > 0);
        assert!(!allowed_cpus().is_empty());
        assert!(fd_limit() > 0);
        assert!(proc_cpu_us(u32::MAX).is_none());
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(listens_on(me, port));
        drop(l);
        assert!(!listens_on(me, port));
    }
}
