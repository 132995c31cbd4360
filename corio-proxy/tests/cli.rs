//! Bad input: every bad flag and bad config exits 2 with a message naming the flag or key, and
//! nothing starts; `--driver uring` where io_uring is refused exits 1 naming io_uring; the
//! driver and a fallback's reason go to stderr; a good config file starts the proxy.

mod support;

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use support::{ping, wait_for, Echo, Proxy, BIN};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    // Bad input must end the process at once; stop it if it started serving instead.
    let status = match wait_for(Duration::from_secs(20), || child.try_wait().unwrap()) {
        Some(status) => status,
        None => {
            child.kill().unwrap();
            child.wait().unwrap()
        }
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn config(text: &str) -> tempfile_like::Path {
    tempfile_like::write(text)
}

/// A file in the target directory that is removed on drop (no extra dependency).
mod tempfile_like {
    use std::sync::atomic::{AtomicU32, Ordering};
    pub struct Path(pub std::path::PathBuf);
    impl Drop for Path {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    pub fn write(text: &str) -> Path {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir();
        let name = format!(
            "corio-proxy-test-{}-{}.toml",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        Path(p)
    }
}

fn assert_bad(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "expected exit 2 for {needle:?}: {err}"
    );
    assert!(
        err.contains(needle),
        "message does not name {needle:?}: {err}"
    );
    assert!(!err.contains("listening on"), "started anyway: {err}");
}

#[test]
fn each_bad_flag_exits_2_naming_it() {
    let ok = ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--bogus"], "--bogus"),
        (
            vec!["--listen", "localhost", "--upstream", "127.0.0.1:1"],
            "--listen",
        ),
        (vec!["--listen", "127.0.0.1:0"], "--upstream"),
        (vec!["--upstream", "127.0.0.1:1"], "--listen"),
        (
            vec!["--listen", "127.0.0.1:0", "--upstream", "nowhere:x"],
            "--upstream",
        ),
    ];
    let with_ok: Vec<(&[&str], &str)> = vec![
        (&["--workers", "0"], "--workers"),
        (&["--workers", "many"], "--workers"),
        (&["--driver", "kqueue"], "--driver"),
        (&["--balance", "random"], "--balance"),
        (&["--copy", "sendfile"], "--copy"),
        (&["--connect-timeout", "soon"], "--connect-timeout"),
        (&["--connect-timeout", "0s"], "--connect-timeout"),
        (&["--idle-timeout", "5 parsecs"], "--idle-timeout"),
        (&["--drain-timeout", "-1s"], "--drain-timeout"),
        (&["--max-conns", "0"], "--max-conns"),
        (&["--max-conns", "-3"], "--max-conns"),
        (&["--admin", "127.0.0.1"], "--admin"),
        (&["--max-fails", "0"], "--max-fails"),
        (&["--fail-timeout", "never"], "--fail-timeout"),
        (&["--idle-timeout", "0s"], "--idle-timeout"),
        (&["--log-format", "xml"], "--log-format"),
        (&["--log-level", "loud=?="], "--log-level"),
        (&["--config", "x.toml"], "--config"),
    ];
    for (args, needle) in cases {
        assert_bad(&run(&args, &[]), needle);
    }
    for (extra, needle) in with_ok {
        let args: Vec<&str> = ok.iter().chain(extra.iter()).copied().collect();
        assert_bad(&run(&args, &[]), needle);
    }
}

#[test]
fn each_bad_config_exits_2_naming_the_key() {
    let l = "[[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"127.0.0.1:1\"]\n";
    let cases: Vec<(String, &str)> = vec![
        ("workers = \"two\"\n".to_string() + l, "workers"),
        ("worker = 2\n".to_string() + l, "worker"),
        ("driver = \"kqueue\"\n".to_string() + l, "driver"),
        (
            "drain-timeout = \"later\"\n".to_string() + l,
            "drain-timeout",
        ),
        ("admin = 9100\n".to_string() + l, "admin"),
        (
            l.to_string() + "max-conns = \"lots\"\n",
            "listener[0].max-conns",
        ),
        (
            l.to_string() + "idle-timeout = 5\n",
            "listener[0].idle-timeout",
        ),
        (l.to_string() + "copy = \"zero\"\n", "listener[0].copy"),
        (l.to_string() + "speed = 1\n", "speed"),
        (
            l.replace("[\"127.0.0.1:1\"]", "[]"),
            "listener[0].upstreams",
        ),
        (l.replace("127.0.0.1:0", "here"), "listener[0].listen"),
        (
            "[[listener]]\nlisten = \"127.0.0.1:0\"\n".to_string(),
            "upstreams",
        ),
        ("workers = 2\n".to_string(), "listener"),
        ("workers = [\n".to_string(), "--config"),
    ];
    for (text, key) in cases {
        let f = config(&text);
        let out = run(&["--config", f.0.to_str().unwrap()], &[]);
        assert_bad(&out, key);
    }
    let out = run(&["--config", "/nonexistent/corio-proxy.toml"], &[]);
    assert_bad(&out, "/nonexistent/corio-proxy.toml");
}

/// The traffic keys (issue 24): each bad value exits 2 naming its key, before anything
/// starts (no Unix socket file is made).
#[test]
fn each_bad_traffic_key_exits_2_naming_it() {
    let sock = std::env::temp_dir().join(format!("corio-proxy-cli-{}.sock", std::process::id()));
    let l = format!(
        "[[listener]]\nlisten = \"unix:{}\"\nupstreams = [\"127.0.0.1:1\"]\n",
        sock.display()
    );
    let route = "[[listener.route]]\nsni = [\"a.example.com\"]\n";
    let long = format!("unix:/{}", "x".repeat(120));
    let cases: Vec<(String, &str)> = vec![
        (
            l.clone() + "accept-proxy = true\nallow = [\"10.0.0.0/33\"]\n",
            "listener[0].allow",
        ),
        (
            l.clone() + "accept-proxy = true\ndeny = [\"ten\"]\n",
            "listener[0].deny",
        ),
        (
            l.clone() + "allow = [\"10.0.0.0/8\"]\n",
            "listener[0].allow",
        ),
        (
            l.replace(
                "[\"127.0.0.1:1\"]",
                "[{ addr = \"127.0.0.1:1\", weight = 0 }]",
            ),
            "listener[0].upstreams[0].weight",
        ),
        (
            l.replace(
                "[\"127.0.0.1:1\"]",
                "[{ addr = \"127.0.0.1:1\", backup = true }]",
            ),
            "listener[0].upstreams",
        ),
        (
            l.replace(
                "[\"127.0.0.1:1\"]",
                "[{ addr = \"127.0.0.1:1\", wieght = 2 }]",
            ),
            "listener[0].upstreams[0]",
        ),
        (l.clone() + route, "listener[0].route[0].upstreams"),
        (
            l.clone() + "[[listener.route]]\nsni = [\"*\"]\nupstreams = [\"127.0.0.1:2\"]\n",
            "listener[0].route[0].sni[0]",
        ),
        (
            l.clone() + "send-proxy = \"v3\"\n",
            "listener[0].send-proxy",
        ),
        (
            l.replace(&format!("unix:{}", sock.display()), &long),
            "listener[0].listen",
        ),
        (l.replace("127.0.0.1:1", &long), "listener[0].upstreams[0]"),
        (
            l.replace("127.0.0.1:1", "no host:1"),
            "listener[0].upstreams[0]",
        ),
        (
            l.clone() + "health-check = \"http\"\n",
            "listener[0].health-check",
        ),
        (l.clone() + "health-rise = 2\n", "listener[0].health-rise"),
        (
            l.clone() + "health-check = \"tcp\"\nhealth-fall = 0\n",
            "listener[0].health-fall",
        ),
        (
            l.clone() + "max-conns-per-source = 0\n",
            "listener[0].max-conns-per-source",
        ),
        (
            l.clone() + "unix-mode = \"0999\"\n",
            "listener[0].unix-mode",
        ),
        (
            l.clone() + "proxy-header-timeout = \"0s\"\n",
            "listener[0].proxy-header-timeout",
        ),
        (l.clone() + "balance = \"hash\"\n", "listener[0].balance"),
    ];
    for (text, key) in cases {
        let f = config(&text);
        let out = run(&["--config", f.0.to_str().unwrap()], &[]);
        assert_bad(&out, key);
        assert!(!sock.exists(), "a socket file was made for {key}");
    }
    let ok = ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"];
    for (extra, flag) in [
        (&["--send-proxy", "v3"][..], "--send-proxy"),
        (&["--upstream", "bad host:1"][..], "--upstream"),
        (&["--upstream", &long][..], "--upstream"),
    ] {
        let out = run(&[&ok[..], extra].concat(), &[]);
        assert_bad(&out, flag);
    }
}

/// io_uring asked for by name where the kernel refuses it (the test hook makes corio pretend):
/// exit 1, naming io_uring. Under auto, the fallback and its reason are printed and it serves.
#[test]
fn refused_io_uring() {
    let hook = [("CORIO_FORCE_URING_UNAVAILABLE", "EPERM (test)")];
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:1",
        "--driver",
        "uring",
    ];
    let out = run(&args, &hook);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("io_uring") && err.contains("EPERM"), "{err}");
    assert!(!err.contains("listening on"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let echo = Echo::start();
    let up = echo.addr.to_string();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        &up,
        "--driver",
        "auto",
        "--workers",
        "1",
    ];
    let p = Proxy::start_with(&args, 1, &hook);
    let mut s = support::connect(p.addr());
    ping(&mut s, b"on epoll");
    let err = p.stderr().join("\n");
    assert!(err.contains("driver epoll (io_uring unavailable"), "{err}");
}

/// The driver in use goes to stderr; a config file with every key starts the proxy.
#[test]
fn good_config_starts() {
    let echo = Echo::start();
    let text = format!(
        "workers = 2\nadmin = \"127.0.0.1:0\"\ndrain-timeout = \"5s\"\naccept = \"reuseport\"\n\
         [[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"{}\"]\nbalance = \"least-conn\"\n\
         connect-timeout = \"1s\"\nidle-timeout = \"1m\"\nmax-conns = 100\ncopy = \"splice\"\n\
         max-fails = 2\nfail-timeout = \"3s\"\n\
         [[listener]]\nlisten = \"127.0.0.1:0\"\nupstreams = [\"{}\"]\n",
        echo.addr, echo.addr
    );
    let f = config(&text);
    let p = Proxy::start_with(&["--config", f.0.to_str().unwrap()], 2, &[]);
    assert_eq!(p.listen.len(), 2);
    for &addr in &p.listen {
        let mut s = support::connect(addr);
        ping(&mut s, b"configured");
    }
    let err = p.stderr().join("\n");
    assert!(err.contains("INFO driver "), "{err}");
    assert!(p.admin.is_some());
}

#[test]
fn help_exits_zero() {
    let out = run(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--upstream",
        "--workers",
        "--driver",
        "--balance",
        "--connect-timeout",
        "--idle-timeout",
        "--max-conns",
        "--drain-timeout",
        "--copy",
        "--admin",
        "--config",
        "--access-log",
        "--log-format",
        "--log-level",
        "--control",
        "--takeover",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
    assert!(
        text.contains("[default: 10m]"),
        "the idle timeout's default: {text}"
    );
    assert!(text.contains("fd limit"), "max-conns's default: {text}");
}

/// --control and --takeover go with --config; the other flags do not.
#[test]
fn process_flags_with_config() {
    let echo = Echo::start();
    let text = format!(
        "workers = 1
[[listener]]
listen = \"127.0.0.1:0\"
upstreams = [\"{}\"]
",
        echo.addr
    );
    let f = config(&text);
    let file = f.0.to_str().unwrap();
    let out = run(&["--config", file, "--log-level", "debug"], &[]);
    assert_bad(&out, "--log-level");
    let sock = std::env::temp_dir().join(format!("corio-proxy-cli-{}.sock", std::process::id()));
    let sock = sock.to_str().unwrap();
    let p = Proxy::start_with(&["--config", file, "--control", sock], 1, &[]);
    let mut s = support::connect(p.addr());
    ping(&mut s, b"with --control");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sock).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the control socket is the owner's only"
    );
    // A second proxy may not bind a control socket a live one holds.
    let out = run(&["--config", file, "--control", sock], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(sock) && err.contains("--takeover"), "{err}");
}

/// `--log-format json`: one JSON object per line, with a time and a level; `--log-level warn`,
/// or `RUST_LOG=warn` without it, keeps the warnings (an idle timeout turned off) and drops the
/// rest.
#[test]
fn log_format_and_level() {
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "127.0.0.1:1",
        "--log-format",
        "json",
    ];
    let p = Proxy::start(&args);
    let lines = p.stderr();
    assert!(!lines.is_empty());
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{l}");
        assert!(v["message"].is_string(), "{l}");
    }
    drop(p);
    // The filter from --log-level, or else from RUST_LOG.
    for (flags, env) in [
        (&["--log-level", "warn"][..], None),
        (&[][..], Some("warn")),
    ] {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"])
            .args(["--idle-timeout", "off"])
            .args(flags)
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped());
        if let Some(filter) = env {
            cmd.env("RUST_LOG", filter);
        }
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("WARN") && err.contains("idle-timeout is off"),
            "{flags:?} RUST_LOG={env:?}: {err}"
        );
        assert!(!err.contains("INFO"), "{flags:?} RUST_LOG={env:?}: {err}");
    }
}
