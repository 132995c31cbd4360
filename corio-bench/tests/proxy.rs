//! `corio-bench proxy --quick`: the suite's proxy workload (the 64 B ping-pong, the open-loop
//! rate, bulk and idle pairs; 500 connections and 4 KiB add only time here). Every proxy this
//! machine has runs every case it takes, every byte through it checked, and its rows are the
//! suite's rows (results.json, report.md, report.html). HAProxy and nginx are skipped, with
//! the reason printed and recorded, where they are not installed; corio-proxy where it is not
//! built beside corio-bench (`cargo test --workspace` builds it).

use std::time::Duration;

mod support;
use support::run;

#[test]
fn the_proxy_shortcut_measures_every_proxy_it_has() {
    let out_dir = std::env::temp_dir().join(format!("corio-bench-proxy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = run(
        &[
            "proxy",
            "--quick",
            "--rounds",
            "1",
            "--idle-pairs",
            "50",
            "--cases",
            "64B c=50,rate,bulk,idle",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        Duration::from_secs(180),
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let text = std::fs::read_to_string(out_dir.join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = results["rows"].as_array().unwrap();
    let skipped: Vec<&str> = results["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["what"].as_str().unwrap())
        .collect();
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
        let of: Vec<&serde_json::Value> = rows.iter().filter(|r| r["server"] == proxy).collect();
        if skipped.contains(&format!("proxy/{proxy}").as_str()) {
            println!("skipped {proxy}: {stderr}");
            assert!(of.is_empty(), "{proxy}");
            continue;
        }
        measured.push(proxy);
        let cases: &[&str] = if proxy.ends_with("-splice") {
            &["proxy bulk c=2 64KiB"]
        } else {
            &[
                "proxy 64B c=50",
                "proxy rate 10k/s c=50",
                "proxy bulk c=2 64KiB",
                "proxy idle",
            ]
        };
        let ran: Vec<&str> = of.iter().map(|r| r["case"].as_str().unwrap()).collect();
        assert_eq!(ran, cases, "{proxy}");
        for r in of {
            assert!(r["error"].is_null(), "{r}");
            assert_eq!(r["workload"], "proxy", "{r}");
            if r["case"] == "proxy idle" {
                assert_eq!(r["memory"]["pairs"], 50, "{r}");
                assert!(r["memory"]["rss_after_kib"].as_u64().unwrap() > 0, "{r}");
            } else {
                assert_eq!(r["load"]["corrupt"], 0, "{r}");
                assert_eq!(r["load"]["errors"], 0, "{r}");
                // A 0.2 s window on a machine other work is loading may pass with the proxy
                // (or the load) never on a CPU: then it must have been starved, and say so.
                let window = r["load"]["secs"].as_f64().unwrap() * 1e6;
                let waited = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0) > window / 2.0;
                // The load generator barely ran (under a quarter of the window on its core).
                let idle_load = r["load"]["load_cpu_us"].as_f64().unwrap_or(0.0) < window / 4.0;
                let starved = waited(&r["window"]["run_wait_us"])
                    || waited(&r["load"]["load_wait_us"])
                    || idle_load;
                if r["load"]["requests"].as_u64().unwrap() == 0 {
                    assert!(
                        starved,
                        "no request through the proxy, and not starved: {r}"
                    );
                    println!("starved (no CPU in the window), not counted: {r}");
                } else {
                    assert!(r["cpu_us_per_unit"].as_f64().unwrap() > 0.0, "{r}");
                }
            }
        }
    }
    // The tokio proxy is built in: at least it always runs.
    assert!(measured.contains(&"tokio"), "{stderr}");
    assert!(stdout.contains("### proxy rate 10k/s c=50"), "{stdout}");
    if measured.contains(&"haproxy") && measured.contains(&"corio-uring") {
        assert!(stdout.contains("corio-uring vs haproxy"), "{stdout}");
    }
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(
        html.contains("resident memory per idle pair"),
        "the idle case is charted"
    );
    std::fs::remove_dir_all(&out_dir).unwrap();
}
