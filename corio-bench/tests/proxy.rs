//! `corio-bench proxy --quick`: every proxy this machine has runs every case it takes, every
//! byte through it checked, and the tables and targets come out with figures in them. HAProxy
//! and nginx are skipped, with the reason printed, where they are not installed; corio-proxy
//! where it is not built beside corio-bench (`cargo test --workspace` builds it).

use std::time::Duration;

mod support;
use support::run;

/// The table row of `proxy` under the heading that starts with `case`.
fn row<'a>(out: &'a str, case: &str, proxy: &str) -> Option<&'a str> {
    let section = out.split("\n### ").find(|s| s.starts_with(case))?;
    section
        .lines()
        .find(|l| l.starts_with(&format!("| {proxy} |")))
}

#[test]
fn the_proxy_workload_measures_every_proxy_it_has() {
    let out = run(
        &["proxy", "--quick", "--secs", "0.2", "--idle-pairs", "100"],
        Duration::from_secs(240),
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(!stdout.contains("Failed runs"), "{stdout}\n{stderr}");
    let mut measured = Vec::new();
    for proxy in [
        "corio-uring",
        "corio-epoll",
        "corio-uring-splice",
        "corio-epoll-splice",
        "haproxy",
        "nginx",
        "tokio",
    ] {
        if stderr.contains(&format!("skipping {proxy}: ")) {
            println!("skipped {proxy}: {stderr}");
            assert!(row(&stdout, "64B c=50", proxy).is_none(), "{stdout}");
            continue;
        }
        measured.push(proxy);
        let cases: &[&str] = if proxy.ends_with("-splice") {
            &["bulk"]
        } else {
            &["64B c=50", "64B c=500", "4KiB c=50", "bulk", "idle"]
        };
        for case in cases {
            let r = row(&stdout, case, proxy).unwrap_or_else(|| panic!("{case} {proxy}: {stdout}"));
            // The second column is a measured figure (req/s, MB/s or RSS), never a dash.
            let first = r.split('|').nth(2).unwrap().trim();
            assert!(
                first.parse::<f64>().is_ok_and(|x| x > 0.0),
                "{case} {proxy}: {r}"
            );
        }
    }
    // The tokio proxy is built in: at least it always runs.
    assert!(measured.contains(&"tokio"), "{stderr}");
    if measured.contains(&"corio-uring") {
        assert!(stdout.contains("### Targets"), "{stdout}");
        assert!(stdout.contains("KiB per idle pair ≤ 8: "), "{stdout}");
    }
}
