//! The proxy workload's report: one markdown table per case, then the targets, each
//! met or missed. Figures are medians over the rounds; a ratio is taken within each round
//! (both proxies measured minutes apart at most, on the same machine state) and its median
//! given.

use super::cases::{Cores, Measured, Pattern, ProxyCase};
use super::{Options, Outcome, ProxySpec};
use std::fmt::Write;

/// A run's figures on one line (progress).
pub fn one_line(case: &ProxyCase, r: &Result<Measured, String>) -> String {
    match r {
        Err(e) => format!("error: {e}"),
        Ok(m @ Measured::Timed { load, .. }) => {
            let cpu = m.cpu_per_unit(case).unwrap_or(f64::NAN);
            match case.pattern {
                Pattern::Bulk => format!(
                    "{:.0} MB/s, {cpu:.0} ms/GB, errors {}",
                    load.mbps(),
                    load.errors
                ),
                _ => format!(
                    "{:.0} req/s, {cpu:.2} us/req, p99 {:.0} us, errors {}",
                    load.rps(),
                    load.p99_us,
                    load.errors
                ),
            }
        }
        Ok(m) => format!("{:.2} KiB/pair", m.kib_per_pair().unwrap_or(f64::NAN)),
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The figures of one (case, proxy) over the rounds, and ratios against other proxies.
struct View<'a> {
    outcomes: &'a [Outcome],
    case: usize,
    spec: &'a ProxyCase,
}

impl View<'_> {
    fn runs<'s>(&'s self, proxy: &'s str) -> impl Iterator<Item = (usize, &'s Measured)> + 's {
        self.outcomes
            .iter()
            .filter(move |o| o.case == self.case && o.proxy.name == proxy)
            .filter_map(|o| o.result.as_ref().ok().map(|m| (o.round, m)))
    }

    fn median_of(&self, proxy: &str, f: impl Fn(&Measured) -> Option<f64>) -> Option<f64> {
        median(self.runs(proxy).filter_map(|(_, m)| f(m)).collect())
    }

    /// The median over rounds of f(a) / f(b), both from the same round.
    fn ratio(&self, a: &str, b: &str, f: impl Fn(&Measured) -> Option<f64>) -> Option<f64> {
        let bs: Vec<(usize, f64)> = self.runs(b).filter_map(|(r, m)| Some((r, f(m)?))).collect();
        let ratios = self.runs(a).filter_map(|(r, m)| {
            let x = f(m)?;
            let y = bs.iter().find(|(rb, _)| *rb == r)?.1;
            (y > 0.0).then_some(x / y)
        });
        median(ratios.collect())
    }

    fn cpu(&self) -> impl Fn(&Measured) -> Option<f64> + '_ {
        |m| m.cpu_per_unit(self.spec)
    }

    fn errors(&self, proxy: &str) -> (u64, Vec<String>) {
        let mut load_errors = 0;
        let mut failed = Vec::new();
        for o in self.outcomes.iter() {
            if o.case != self.case || o.proxy.name != proxy {
                continue;
            }
            match &o.result {
                Ok(Measured::Timed { load, .. }) => load_errors += load.errors,
                Ok(_) => {}
                Err(e) => failed.push(e.clone()),
            }
        }
        (load_errors, failed)
    }
}

fn fmt(x: Option<f64>, digits: usize) -> String {
    match x {
        Some(x) => format!("{x:.digits$}"),
        None => "–".into(),
    }
}

fn timed(m: &Measured) -> Option<&crate::load::LoadResult> {
    match m {
        Measured::Timed { load, .. } => Some(load),
        Measured::Idle { .. } => None,
    }
}

/// The whole report, markdown.
pub fn render(
    all: &[ProxyCase],
    picked: &[usize],
    live: &[&'static ProxySpec],
    skipped: &[(&str, String)],
    outcomes: &[Outcome],
    opts: &Options,
    cores: &Cores,
) -> String {
    let mut out = String::new();
    let cmd: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(
        out,
        "\n## corio-bench proxy\n\n`corio-bench {}`: {} round(s), {} s measured after {} s of \
         warm-up per run; load generator and echo upstream (raw-epoll) on core {}, the proxy \
         alone on core {}; proxy CPU from /proc/PID/task/*/schedstat over the window. Figures \
         are medians over rounds; ratios are per-round ratios' medians.\n",
        cmd.join(" "),
        opts.rounds,
        opts.timing.secs,
        opts.timing.warmup,
        cores.load,
        cores.proxy
    );
    for (name, why) in skipped {
        let _ = writeln!(out, "- skipped {name}: {why}");
    }
    let mut problems = Vec::new();
    for &c in picked {
        let case = &all[c];
        let v = View {
            outcomes,
            case: c,
            spec: case,
        };
        let names: Vec<&str> = live
            .iter()
            .filter(|p| super::cases::runs(case, p))
            .map(|p| p.name)
            .collect();
        match case.pattern {
            Pattern::PingPong => {
                let _ = writeln!(
                    out,
                    "\n### {} ({} B ping-pong, {} connections)\n\n\
                     | proxy | req/s | proxy CPU µs/req | ×haproxy | ×nginx | ×tokio | p50 µs | p99 µs | p99 ×haproxy | errors |\n\
                     |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                    case.name, case.size, case.conns
                );
                for &p in &names {
                    let (errors, _) = v.errors(p);
                    let _ = writeln!(
                        out,
                        "| {p} | {} | {} | {} | {} | {} | {} | {} | {} | {errors} |",
                        fmt(v.median_of(p, |m| timed(m).map(|l| l.rps())), 0),
                        fmt(v.median_of(p, v.cpu()), 2),
                        fmt(v.ratio(p, "haproxy", v.cpu()), 2),
                        fmt(v.ratio(p, "nginx", v.cpu()), 2),
                        fmt(v.ratio(p, "tokio", v.cpu()), 2),
                        fmt(v.median_of(p, |m| timed(m).map(|l| l.p50_us)), 0),
                        fmt(v.median_of(p, |m| timed(m).map(|l| l.p99_us)), 0),
                        fmt(v.ratio(p, "haproxy", |m| timed(m).map(|l| l.p99_us)), 2),
                    );
                }
            }
            Pattern::Bulk => {
                let _ = writeln!(
                    out,
                    "\n### {} (full duplex, {} connections, {} KiB writes)\n\n\
                     Bytes are counted once, as echoed back to the load generator (each \
                     crosses the proxy both ways).\n\n\
                     | proxy | MB/s | proxy CPU ms/GB | ×buffered | ×haproxy | errors |\n\
                     |---|---:|---:|---:|---:|---:|",
                    case.name,
                    case.conns,
                    case.size / 1024
                );
                for &p in &names {
                    let twin = super::find(p).and_then(|s| s.buffered_twin());
                    let (errors, _) = v.errors(p);
                    let _ = writeln!(
                        out,
                        "| {p} | {} | {} | {} | {} | {errors} |",
                        fmt(v.median_of(p, |m| timed(m).map(|l| l.mbps())), 0),
                        fmt(v.median_of(p, v.cpu()), 0),
                        fmt(twin.and_then(|t| v.ratio(p, t, v.cpu())), 2),
                        fmt(v.ratio(p, "haproxy", v.cpu()), 2),
                    );
                }
            }
            Pattern::Idle => {
                let kib = |m: &Measured| m.kib_per_pair();
                let rss = |after: bool| {
                    move |m: &Measured| match *m {
                        Measured::Idle {
                            rss_before_kib,
                            rss_after_kib,
                            ..
                        } => {
                            Some(if after { rss_after_kib } else { rss_before_kib } as f64 / 1024.0)
                        }
                        _ => None,
                    }
                };
                let _ = writeln!(
                    out,
                    "\n### {} ({} idle pairs, each proven by one echoed byte)\n\n\
                     | proxy | RSS before MiB | RSS with the pairs MiB | KiB per pair | ×haproxy |\n\
                     |---|---:|---:|---:|---:|",
                    case.name, case.conns
                );
                for &p in &names {
                    let _ = writeln!(
                        out,
                        "| {p} | {} | {} | {} | {} |",
                        fmt(v.median_of(p, rss(false)), 1),
                        fmt(v.median_of(p, rss(true)), 1),
                        fmt(v.median_of(p, kib), 2),
                        fmt(v.ratio(p, "haproxy", kib), 2),
                    );
                }
            }
        }
        for &p in &names {
            for e in v.errors(p).1 {
                problems.push(format!("{} {p}: {e}", case.name));
            }
        }
    }
    if !problems.is_empty() {
        let _ = writeln!(out, "\nFailed runs:\n");
        for p in &problems {
            let _ = writeln!(out, "- {p}");
        }
    }
    out.push_str(&targets(all, picked, outcomes));
    out
}

/// The targets for corio-proxy, each met or missed (or not measured in this run).
fn targets(all: &[ProxyCase], picked: &[usize], outcomes: &[Outcome]) -> String {
    let mut lines = Vec::new();
    let mut check = |what: String, x: Option<f64>, bound: f64, strict: bool| {
        let verdict = match x {
            None => "not measured".to_string(),
            Some(x) if x < bound || (!strict && x == bound) => format!("{x:.2}: met"),
            Some(x) => format!("{x:.2}: missed"),
        };
        lines.push(format!("- {what}: {verdict}"));
    };
    for &c in picked {
        let case = &all[c];
        let v = View {
            outcomes,
            case: c,
            spec: case,
        };
        let p99 = |m: &Measured| timed(m).map(|l| l.p99_us);
        for p in ["corio-uring", "corio-epoll"] {
            match case.pattern {
                Pattern::PingPong if case.size == 64 => {
                    let n = case.name;
                    check(
                        format!("{p} {n}: CPU/req ≤ 0.67× haproxy"),
                        v.ratio(p, "haproxy", v.cpu()),
                        0.67,
                        false,
                    );
                    check(
                        format!("{p} {n}: CPU/req < nginx"),
                        v.ratio(p, "nginx", v.cpu()),
                        1.0,
                        true,
                    );
                    check(
                        format!("{p} {n}: CPU/req < tokio"),
                        v.ratio(p, "tokio", v.cpu()),
                        1.0,
                        true,
                    );
                    check(
                        format!("{p} {n}: p99 ≤ haproxy"),
                        v.ratio(p, "haproxy", p99),
                        1.0,
                        false,
                    );
                }
                Pattern::Bulk => {
                    let s = format!("{p}-splice");
                    check(
                        format!("{s}: CPU/GB ≤ 0.6× {p}"),
                        v.ratio(&s, p, v.cpu()),
                        0.6,
                        false,
                    );
                }
                Pattern::Idle => {
                    check(
                        format!("{p}: KiB per idle pair ≤ 8"),
                        v.median_of(p, |m| m.kib_per_pair()),
                        8.0,
                        false,
                    );
                }
                _ => {}
            }
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "\n### Targets (ratios as in the tables)\n\n{}\n",
        lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_skip_what_is_not_a_number() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, f64::NAN, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![f64::INFINITY]), None);
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn ratios_pair_runs_of_the_same_round() {
        let case = &crate::proxy::cases::cases(10)[0];
        let run = |round, proxy, cpu| Outcome {
            round,
            case: 0,
            proxy: crate::proxy::find(proxy).unwrap(),
            result: Ok(Measured::Timed {
                load: crate::load::LoadResult {
                    requests: 1000,
                    ..Default::default()
                },
                proxy_cpu_us: cpu,
            }),
        };
        let outcomes = [
            run(0, "corio-uring", 10_000),
            run(0, "haproxy", 20_000),
            run(1, "corio-uring", 30_000),
            run(1, "haproxy", 30_000),
            // A round haproxy failed in gives no ratio.
            run(2, "corio-uring", 1_000),
        ];
        let v = View {
            outcomes: &outcomes,
            case: 0,
            spec: case,
        };
        // Per-round ratios 0.5 and 1.0: median 0.75 (not 20/25, the medians' ratio).
        assert_eq!(v.ratio("corio-uring", "haproxy", v.cpu()), Some(0.75));
        assert_eq!(v.median_of("corio-uring", v.cpu()), Some(10.0));
        assert_eq!(v.ratio("corio-uring", "nginx", v.cpu()), None);
    }
}
