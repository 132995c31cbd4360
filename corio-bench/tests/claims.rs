//! The docs' figures are the data's: every ratio the README and docs/completion-vs-readiness.md
//! quote, and the figures docs/benchmarks.md and docs/proxy.md quote from a run, is a claim in
//! docs/results/claims.toml naming the results.json it comes from, and this test checks that
//! the quoted text is in the doc and its figure lies inside what that file says: a ratio within
//! the range of its per-round ratios (a/b in the same round), a plain figure within the range
//! of its rounds. A claim that drifts from its data, or a ratio in a checked doc that no claim
//! covers, fails here.
//!
//! When the results are regenerated (docs/results/regenerate.sh), the claims that no longer
//! hold are listed with what the new data says, to be rewritten.

use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The docs in which every ratio (a figure followed by ×) must be a claim.
const FULLY_CHECKED: [&str; 2] = ["README.md", "docs/completion-vs-readiness.md"];

#[derive(Debug, Deserialize)]
struct Claims {
    claim: Vec<Claim>,
}

#[derive(Debug, Deserialize)]
struct Claim {
    /// The doc, from the repository root.
    doc: String,
    /// Its words, as they stand in the doc (line breaks and runs of spaces aside).
    quote: String,
    /// The results file, from docs/results/.
    results: String,
    /// The cases whose rounds the figure covers (all of them together).
    cases: Vec<String>,
    /// cpu, syscalls, p50, p99, kib_per_pair, syscall_ns.
    metric: String,
    /// A ratio a/b of the metric, round by round...
    ratio: Option<(String, String)>,
    /// ...or one server's own figure.
    server: Option<String>,
    #[serde(default = "none")]
    cost: String,
    #[serde(default = "one")]
    workers: u64,
}

fn none() -> String {
    "none".into()
}

fn one() -> u64 {
    1
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Line breaks and runs of spaces as one space; markdown emphasis dropped.
fn flat(s: &str) -> String {
    s.replace(['*', '`'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The figure a row gives for `metric`, per unit of work.
fn figure(row: &Value, metric: &str) -> Option<f64> {
    let unit_count = |l: &Value| -> Option<f64> {
        match row["unit"].as_str()? {
            "MB" => Some(l["bytes"].as_f64()? / 1e6),
            _ => l["requests"].as_f64(),
        }
    };
    let l = &row["load"];
    let v = match metric {
        "cpu" => row["window"]["cpu_us"].as_f64()? / unit_count(l)?,
        "syscalls" => row["window"]["syscalls"].as_f64()? / unit_count(l)?,
        "p50" => l["p50_us"].as_f64()?,
        "p99" => l["p99_us"].as_f64()?,
        "kib_per_pair" => {
            let m = &row["memory"];
            (m["rss_after_kib"].as_f64()? - m["rss_before_kib"].as_f64()?) / m["pairs"].as_f64()?
        }
        other => panic!("unknown metric {other}"),
    };
    v.is_finite().then_some(v)
}

/// The range of the claim's figure over its rounds: per-round ratios, or the server's own; or
/// the measured price of one syscall under a level.
fn range(c: &Claim, results: &Value) -> Result<(f64, f64), String> {
    if c.metric == "syscall_ns" {
        let probes = results["syscall_costs"]
            .as_array()
            .ok_or("no syscall costs")?;
        let p = probes
            .iter()
            .find(|p| p["level"] == c.cost.as_str())
            .ok_or_else(|| format!("no probe of level {} in {}", c.cost, c.results))?;
        let ns = p["mean_ns"].as_f64().ok_or("no mean_ns")?;
        return Ok((ns, ns));
    }
    let rows = results["rows"].as_array().ok_or("no rows")?;
    let of = |server: &str| -> Vec<&Value> {
        rows.iter()
            .filter(|r| {
                r["server"] == server
                    && c.cases.iter().any(|k| r["case"] == k.as_str())
                    && r["syscall_cost"] == c.cost.as_str()
                    && r["workers"] == c.workers
                    && r["error"].is_null()
            })
            .collect()
    };
    let mut values = Vec::new();
    match (&c.ratio, &c.server) {
        (Some((a, b)), None) => {
            for ra in of(a) {
                let rb = of(b)
                    .into_iter()
                    .find(|rb| rb["case"] == ra["case"] && rb["round"] == ra["round"]);
                if let (Some(x), Some(y)) = (
                    figure(ra, &c.metric),
                    rb.and_then(|rb| figure(rb, &c.metric)),
                ) {
                    values.push(x / y);
                }
            }
        }
        (None, Some(s)) => values.extend(of(s).into_iter().filter_map(|r| figure(r, &c.metric))),
        _ => return Err("a claim names a ratio or a server, not both".into()),
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.is_empty() {
        return Err(format!("no rounds of {:?} in {}", c.cases, c.results));
    }
    Ok((lo, hi))
}

/// The figures the quote gives: the number (or range "a–b") before its first "×" for a ratio,
/// else its first number (or range); and half a unit of their last digit, the rounding.
fn quoted(quote: &str, ratio: bool) -> Option<(f64, f64, f64)> {
    let text = if ratio {
        &quote[..quote.find('×')?]
    } else {
        quote
    };
    let is_num = |c: char| c.is_ascii_digit() || c == '.' || c == ',';
    let mut nums: Vec<&str> = Vec::new();
    let mut seps: Vec<char> = Vec::new();
    let mut cur = String::new();
    let mut start = None;
    for (i, ch) in text.char_indices() {
        if is_num(ch) {
            start.get_or_insert(i);
            cur.push(ch);
        } else if let Some(s) = start.take() {
            nums.push(&text[s..i]);
            seps.push(ch);
            cur.clear();
        }
    }
    if let Some(s) = start {
        nums.push(&text[s..]);
        seps.push(' ');
    }
    let parse = |s: &str| s.trim_end_matches('.').replace(',', "").parse::<f64>().ok();
    let half = |s: &str| {
        let s = s.trim_end_matches('.');
        let d = s.split_once('.').map_or(0, |(_, f)| f.len());
        0.5 * 10f64.powi(-(d as i32))
    };
    // For a ratio, the figure is the last number (or range) before "×"; else the first.
    let (i, j) = if ratio {
        let last = nums.len().checked_sub(1)?;
        if last >= 1 && seps[last - 1] == '–' {
            (last - 1, last)
        } else {
            (last, last)
        }
    } else if nums.len() >= 2 && seps[0] == '–' {
        (0, 1)
    } else {
        (0, 0)
    };
    Some((
        parse(nums[i])?,
        parse(nums[j])?,
        half(nums[j]).max(half(nums[i])),
    ))
}

fn claims() -> Vec<Claim> {
    let path = root().join("docs/results/claims.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    toml::from_str::<Claims>(&text).unwrap().claim
}

#[test]
fn every_claim_is_in_its_doc_and_inside_its_data() {
    let mut wrong = Vec::new();
    for c in claims() {
        let doc = std::fs::read_to_string(root().join(&c.doc)).unwrap();
        if !flat(&doc).contains(&flat(&c.quote)) {
            wrong.push(format!("{}: no longer says \"{}\"", c.doc, c.quote));
            continue;
        }
        let file = root().join("docs/results").join(&c.results);
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let (lo, hi) = match range(&c, &results) {
            Ok(r) => r,
            Err(e) => {
                wrong.push(format!("{}: \"{}\": {e}", c.doc, c.quote));
                continue;
            }
        };
        let Some((qlo, qhi, tol)) = quoted(&c.quote, c.ratio.is_some()) else {
            wrong.push(format!("{}: \"{}\" quotes no figure", c.doc, c.quote));
            continue;
        };
        // Half a unit of the quoted last digit, and a hair for the floating point.
        let tol = tol + 1e-9;
        if qlo < lo - tol || qhi > hi + tol || qlo > hi + tol || qhi < lo - tol {
            wrong.push(format!(
                "{}: \"{}\": the data ({}, {:?}) says {lo:.3}–{hi:.3}",
                c.doc, c.quote, c.results, c.cases
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "claims that drifted from their data:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_ratio_the_checked_docs_quote_is_a_claim() {
    let claims = claims();
    let mut loose = Vec::new();
    for doc in FULLY_CHECKED {
        let text = flat(&std::fs::read_to_string(root().join(doc)).unwrap());
        // Where each claim's quote stands in the doc.
        let covered: Vec<(usize, usize)> = claims
            .iter()
            .filter(|c| c.doc == doc)
            .flat_map(|c| {
                let q = flat(&c.quote);
                text.match_indices(&q)
                    .map(|(i, _)| (i, i + q.len()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (i, _) in text.match_indices('×') {
            let before = &text[..i];
            let is_figure = before.ends_with(|c: char| c.is_ascii_digit());
            if is_figure && !covered.iter().any(|&(a, b)| a <= i && i < b) {
                let from = before.char_indices().rev().nth(40).map_or(0, |(k, _)| k);
                loose.push(format!("{doc}: \"…{}×\"", &text[from..i]));
            }
        }
    }
    assert!(
        loose.is_empty(),
        "ratios no claim in docs/results/claims.toml covers:\n{}",
        loose.join("\n")
    );
}

#[test]
fn quotes_give_their_figures() {
    assert_eq!(
        quoted("costs 0.55–0.57× tokio's", true),
        Some((0.55, 0.57, 0.005))
    );
    assert_eq!(
        quoted("at 500 connections, 1.2× raw", true),
        Some((1.2, 1.2, 0.05))
    );
    assert_eq!(
        quoted("2.2 KiB per idle pair", false),
        Some((2.2, 2.2, 0.05))
    );
    assert_eq!(quoted("10–25× fewer", true), Some((10.0, 25.0, 0.5)));
    assert_eq!(flat("a **b**\n  c `d`"), "a b c d");
}
