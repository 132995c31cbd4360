//! report.html in a real browser: Debian's Chromium, headless, driven through chromedriver
//! (WebDriver), loads the report of a `--quick` run that has every kind of chart (a workload's
//! cases, the idle memory, the syscall-cost sweep, the workers sweep), and the test checks that
//! the page logs no console error (the page forbids loading anything, so a stray request would
//! be one) and that every chart is on screen with every one of its series drawn. The same
//! checks are shown to fail on a copy of the report with a stray request and a series that is
//! not drawn. Screenshots of the page go to target/tmp/report-browser/ for a person to look at.
//!
//! Skipped, saying why, where chromium or chromedriver is missing (`.ci/run` installs both),
//! and under `CORIO_DRIVER=epoll` (./test.sh runs the program tests once per driver; the report
//! does not depend on the pass).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::*;

const CHROMIUM: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const CHROMEDRIVER: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

fn first(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.exists())
}

/// chromedriver, killed (by its pid) when dropped.
struct Driver {
    child: Child,
    base: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start(bin: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{}/status", d.base)).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = ureq::request(method, &url).timeout(Duration::from_secs(60));
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let text = match res {
            Ok(r) => r.into_string().unwrap(),
            Err(ureq::Error::Status(code, r)) => {
                panic!("{method} {path}: {code}: {}", r.into_string().unwrap())
            }
            Err(e) => panic!("{method} {path}: {e}"),
        };
        serde_json::from_str::<Value>(&text).unwrap()["value"].clone()
    }
}

/// A headless Chromium session.
struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.driver.base, self.id)).call();
    }
}

impl<'a> Session<'a> {
    fn new(driver: &'a Driver, chromium: &Path, profile: &Path) -> Session<'a> {
        // The flags this machine's Chromium needs: no sandbox as root, and no background
        // networking (the network is closed).
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1200,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"}
        }}});
        let v = driver.send("POST", "/session", Some(caps));
        Session {
            driver,
            id: v["sessionId"].as_str().unwrap().to_string(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.id);
        self.driver.send(method, &path, body)
    }

    fn open(&self, file: &Path) {
        let url = format!("file://{}", file.display());
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    fn script(&self, js: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
        )
    }

    /// The console's warnings and errors since the last call.
    fn console_errors(&self) -> Vec<String> {
        let log = self.call("POST", "/se/log", Some(json!({"type": "browser"})));
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Screenshots of the whole page, a window's height at a time, into `dir/report-N.png`;
    /// returns how many.
    fn screenshots(&self, dir: &Path) -> usize {
        use base64::Engine as _;
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": 1200, "height": 1500})),
        );
        let height = self.script("return document.documentElement.scrollHeight;");
        let view = self
            .script("return window.innerHeight;")
            .as_u64()
            .unwrap()
            .max(1);
        let shots = height.as_u64().unwrap().div_ceil(view).min(20) as usize;
        for i in 0..shots {
            self.script(&format!("window.scrollTo(0, {});", i as u64 * view));
            let png = self.call("GET", "/screenshot", None);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(png.as_str().unwrap())
                .unwrap();
            std::fs::write(dir.join(format!("report-{}.png", i + 1)), bytes).unwrap();
        }
        shots
    }
}

/// For each chart: its title, its size on screen, and per series the points it should have
/// and the elements of its colour drawn with a size on screen.
const CHARTS: &str = r#"
const out = [];
for (const f of document.querySelectorAll('figure.chart')) {
  const svg = f.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const title = svg && svg.querySelector('text') ? svg.querySelector('text').textContent.trim() : '';
  const series = [];
  for (const s of JSON.parse(f.dataset.series)) {
    let drawn = 0;
    for (const el of (svg ? svg.querySelectorAll('*') : [])) {
      const c = ((el.getAttribute('fill') || '') + ' ' + (el.getAttribute('stroke') || '')).toUpperCase();
      const b = el.getBoundingClientRect();
      if (c.includes(s.color) && (b.width > 0 || b.height > 0)) drawn++;
    }
    series.push({name: s.name, points: s.points, drawn: drawn});
  }
  out.push({title: title, width: box.width, height: box.height, series: series});
}
return out;
"#;

/// Every chart has a size and at least one series, and every series as many drawn elements
/// as points (a marker and an error bar each); Err names what is missing.
fn check_charts(charts: &Value) -> Result<usize, String> {
    let charts = charts.as_array().unwrap();
    if charts.is_empty() {
        return Err("no chart".into());
    }
    for c in charts {
        let title = c["title"].as_str().unwrap_or("?");
        if c["width"].as_f64() < Some(100.0) || c["height"].as_f64() < Some(100.0) {
            return Err(format!("{title}: not on screen: {c}"));
        }
        let series = c["series"].as_array().unwrap();
        if series.is_empty() {
            return Err(format!("{title}: no series"));
        }
        for s in series {
            let (points, drawn) = (s["points"].as_u64().unwrap(), s["drawn"].as_u64().unwrap());
            if points == 0 || drawn < points {
                return Err(format!(
                    "{title}: {} has {drawn} drawn of {points}",
                    s["name"]
                ));
            }
        }
    }
    Ok(charts.len())
}

#[test]
fn the_report_renders_in_chromium_with_every_series() {
    if std::env::var("CORIO_DRIVER").is_ok_and(|d| d == "epoll") {
        println!(
            "skipped: the report does not depend on the driver pass (it runs in the uring one)"
        );
        return;
    }
    let (Some(chromium), Some(chromedriver)) = (first(CHROMIUM), first(CHROMEDRIVER)) else {
        println!(
            "skipped: chromium or chromedriver is not installed (Debian: apt-get install \
             chromium chromium-driver; .ci/run installs them)"
        );
        return;
    };
    if !uring_works() {
        println!("skipped: io_uring is refused here, and the report's completion series with it");
        return;
    }
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let dir = shots.join("run");
    // Every kind of chart, small: a workload's cases (echo, file-read, proxy), the idle memory,
    // the syscall-cost sweep and the workers sweep.
    let out = run(
        &[
            "--quick",
            "--rounds",
            "1",
            "--servers",
            "corio-uring,corio-epoll,tokio",
            "--cases",
            "pingpong c=50,file-read qd=64,proxy 64B c=50,proxy idle",
            "--syscall-cost",
            "none,seccomp",
            "--workers",
            "1,2",
            "--out",
            dir.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "{out:?}");
    let report = dir.join("report.html");

    let driver = Driver::start(&chromedriver);
    let session = Session::new(&driver, &chromium, &shots.join("profile"));
    session.open(&report);
    let errors = session.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    let charts = session.script(CHARTS);
    let n = check_charts(&charts).unwrap_or_else(|e| panic!("{e}: {charts:#}"));
    let titles: Vec<&str> = charts
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    for want in [
        "server CPU µs per request",
        "server CPU µs per op",
        "resident memory per idle pair, KiB",
        "pingpong c=50: server CPU µs per request",
    ] {
        assert!(titles.contains(&want), "{want} in {titles:?}");
    }
    assert!(n >= 12, "{titles:?}");
    let text = session.script("return document.body.innerText;");
    let text = text.as_str().unwrap();
    for section in [
        "What a syscall costs",
        "Scaling with cores",
        "mitigations",
        "seccomp",
    ] {
        assert!(text.contains(section), "{section}");
    }
    let n = session.screenshots(&shots);
    println!("{n} screenshots in {}", shots.display());

    // The checks can fail: a stray request and a series that is not drawn.
    let html = std::fs::read_to_string(&report).unwrap();
    let broken = html
        .replacen(
            "<body>",
            "<body><img src=\"https://example.invalid/x.png\" alt=\"\">",
            1,
        )
        .replacen("\"color\":\"#", "\"color\":\"#00", 1);
    let bad = shots.join("broken.html");
    std::fs::write(&bad, broken).unwrap();
    session.open(&bad);
    assert!(
        !session.console_errors().is_empty(),
        "a blocked load is an error"
    );
    assert!(check_charts(&session.script(CHARTS)).is_err());
}
