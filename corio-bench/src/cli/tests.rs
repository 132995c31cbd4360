use super::*;
use crate::load::Mode;
use crate::seccomp::Level;
use std::net::SocketAddr;

fn parse(line: &str) -> Result<Cli, clap::Error> {
    // Splits on spaces; a `_` inside a word stands for a space ("pingpong_c=50").
    let args = line.split_whitespace().map(|w| w.replace('_', " "));
    Cli::try_parse_from(std::iter::once("corio-bench".to_string()).chain(args))
}

fn load(line: &str) -> LoadArgs {
    match parse(&format!("load {line}")).unwrap().cmd {
        Some(Cmd::Load(l)) => l,
        other => panic!("{other:?}"),
    }
}

fn suite(line: &str) -> Options {
    let cli = parse(line).unwrap();
    let args = match cli.cmd {
        None => cli.suite,
        Some(Cmd::Suite(a)) => a,
        other => panic!("{other:?}"),
    };
    suite_options(args, line.into())
}

fn localhost() -> SocketAddr {
    ([127, 0, 0, 1], 9).into()
}

#[test]
fn load_defaults_and_every_flag() {
    let a = load("--addr 127.0.0.1:9");
    let cfg = load_config(&a, localhost()).unwrap();
    assert_eq!(
        (cfg.conns, cfg.size, cfg.depth, cfg.mode, a.json),
        (50, 64, 1, Mode::PingPong, false)
    );
    assert_eq!(
        (cfg.secs, cfg.warmup, cfg.driver),
        (2.0, 0.2, corio::DriverChoice::IoUring)
    );
    let a = load(
        "--addr 127.0.0.1:9 --conns 7 --size 100 --depth 3 --secs 0.5 --warmup 0 \
         --mode rate --rate 1000 --driver epoll --json",
    );
    let cfg = load_config(&a, localhost()).unwrap();
    assert_eq!((cfg.conns, cfg.size, cfg.depth), (7, 100, 3));
    assert_eq!((cfg.secs, cfg.warmup), (0.5, 0.0));
    assert_eq!(cfg.mode, Mode::Rate(1000.0));
    assert_eq!(cfg.driver, corio::DriverChoice::Epoll);
    assert!(a.json);
    // A flag given twice: the last one counts, as before clap.
    let a = load("--addr 127.0.0.1:9 --conns 20 --conns 2");
    assert_eq!(load_config(&a, localhost()).unwrap().conns, 2);
}

#[test]
fn addr_takes_host_names() {
    let a = load("--addr localhost:9000");
    assert!(!a.addr.list.is_empty());
    assert!(a
        .addr
        .list
        .iter()
        .all(|s| s.ip().is_loopback() && s.port() == 9000));
    let a = load("--addr [::1]:9");
    assert_eq!(
        a.addr.list,
        [SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 9))]
    );
}

#[test]
fn load_refusals_name_the_flag() {
    for (line, needle) in [
        ("--conns 5", "--addr"),
        ("--addr nowhere", "--addr"),
        ("--addr 127.0.0.1:9 --conns 0", "--conns"),
        ("--addr 127.0.0.1:9 --conns x", "--conns"),
        ("--addr 127.0.0.1:9 --secs -1", "--secs"),
        ("--addr 127.0.0.1:9 --secs NaN", "--secs"),
        ("--addr 127.0.0.1:9 --mode rate", "--rate"),
        ("--addr 127.0.0.1:9 --mode sprint", "--mode"),
        ("--addr 127.0.0.1:9 --driver kqueue", "--driver"),
        ("--addr 127.0.0.1:9 --depth", "--depth"),
        ("--addr 127.0.0.1:9 --frob 1", "--frob"),
    ] {
        let err = parse(&format!("load {line}")).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{line}");
        let text = err.to_string();
        assert!(text.contains(needle), "{line}: {text}");
    }
    // Found after parsing: --rate without --mode rate.
    let a = load("--addr 127.0.0.1:9 --rate 5");
    assert!(load_config(&a, localhost()).unwrap_err().contains("--rate"));
}

#[test]
fn help_anywhere_is_not_an_error() {
    for line in [
        "--help",
        "load --conns 5 --help",
        "serve --help",
        "serve echo --help",
        "suite -h",
    ] {
        let err = parse(line).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{line}");
        assert_eq!(err.exit_code(), 0, "{line}");
    }
}

#[test]
fn serve_picks_corio_auto_unless_told() {
    let echo = |line: &str| match parse(&format!("serve echo {line}")).unwrap().cmd {
        Some(Cmd::Serve(ServeArgs { service })) => serve_config(service),
        other => panic!("{other:?}"),
    };
    let c = echo("--addr 127.0.0.1:0");
    assert_eq!((c.spec.name, c.workers), ("corio", 1));
    assert_eq!(
        echo("--addr 127.0.0.1:0 --driver uring").spec.name,
        "corio-uring"
    );
    assert_eq!(
        echo("--addr 127.0.0.1:0 --driver epoll").spec.name,
        "corio-epoll"
    );
    let c = echo("--addr localhost:0 --server compio --workers 3");
    assert_eq!((c.spec.name, c.workers), ("compio", 3));
    for bad in [
        "--addr 127.0.0.1:0 --server nginx",
        "--addr 127.0.0.1:0 --server tokio --driver epoll",
        "--addr 127.0.0.1:0 --workers 0",
        "--driver uring",
    ] {
        let err = parse(&format!("serve echo {bad}")).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{bad}");
    }
    assert_eq!(
        parse("serve chat --addr 127.0.0.1:0")
            .unwrap_err()
            .exit_code(),
        2
    );
}

#[test]
fn suite_flags() {
    let o = suite("");
    assert!(o.servers.is_empty(), "every server");
    let default = workloads::select(&[], &CaseParams { idle_pairs: 1000 });
    assert_eq!(o.cases.len(), default.len());
    assert_eq!((o.secs, o.warmup, o.rounds), (0.3, 0.1, 3));
    assert_eq!(
        (o.levels.as_slice(), o.workers.as_slice()),
        (&[Level::None][..], &[1][..])
    );
    let o = suite(
        "suite --secs 3 --quick --servers tokio,raw-epoll,tokio,haproxy --cases pingpong,churn \
         --out d --rounds 5 --syscall-cost none,seccomp,none --workers 1,2",
    );
    assert_eq!((o.secs, o.warmup, o.rounds), (3.0, 0.05, 5));
    assert_eq!(o.servers, ["tokio", "raw-epoll", "haproxy"]);
    assert_eq!(o.levels, [Level::None, Level::Seccomp]);
    assert_eq!(o.workers, [1, 2]);
    assert!(o
        .cases
        .iter()
        .all(|c| c.name.starts_with("pingpong") || c.name.starts_with("churn")));
    assert_eq!(o.out.as_deref(), Some(std::path::Path::new("d")));
    assert_eq!(suite("--cases pingpong,pipe").cases.len(), 4);
    let names: Vec<String> = suite("--cases pingpong_c=50,churn")
        .cases
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["pingpong c=50", "churn c=8"]);
    let idle = suite("--quick --cases proxy_idle");
    assert_eq!((idle.cases.len(), idle.cases[0].conns), (1, 100));
    for bad in [
        "--servers apache",
        "--cases nothing",
        "--secs 0",
        "--rounds 0",
        "--syscall-cost docker",
        "--workers 0",
        "--bogus",
        "--quick load",
    ] {
        let err = parse(bad).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{bad}");
    }
}

#[test]
fn the_proxy_shortcut_is_the_suite_s_proxy_workload() {
    let o = match parse("proxy").unwrap().cmd {
        Some(Cmd::Proxy(a)) => proxy_options(a, "x".into()),
        other => panic!("{other:?}"),
    };
    assert_eq!((o.secs, o.warmup, o.rounds), (3.0, 1.0, 3));
    assert_eq!(o.cases.len(), workloads::proxy_case_names().len());
    assert!(o.cases.iter().all(|c| c.workload.name == "proxy"));
    let o = match parse("proxy --quick --cases 64B,idle --proxies haproxy --idle-pairs 50")
        .unwrap()
        .cmd
    {
        Some(Cmd::Proxy(a)) => proxy_options(a, "x".into()),
        other => panic!("{other:?}"),
    };
    let names: Vec<&str> = o.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["proxy 64B c=50", "proxy 64B c=500", "proxy idle"]);
    assert_eq!(
        (o.servers.as_slice(), o.cases[2].conns),
        (&["haproxy".to_string()][..], 50)
    );
    for bad in [
        "proxy --proxies apache",
        "proxy --cases nothing",
        "proxy --rounds 0",
    ] {
        assert_eq!(parse(bad).unwrap_err().exit_code(), 2, "{bad}");
    }
}
