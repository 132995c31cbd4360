//! The run's outputs, all from one [`Results`]: the tables and verdicts on stdout, and a folder
//! with report.md (`markdown.rs`), results.json (the data, `Results::to_json`) and report.html
//! (`html.rs`, its charts `charts.rs`). One exporter per format; the verdicts (`verdict.rs`)
//! and the sweeps' findings (`sweeps.rs`) are shared by both reports. `corio-bench report
//! FILE` runs the same exporters on a results.json read back.

mod charts;
mod html;
mod markdown;
mod sweeps;
mod verdict;

use crate::results::instr::InstrFigure;
use crate::results::Results;
use std::io;
use std::path::{Path, PathBuf};

/// Writes report.md, results.json and report.html into `dir` (made if needed).
pub fn write(r: &Results, dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.md"), markdown::report(r))?;
    std::fs::write(dir.join("results.json"), r.to_json())?;
    std::fs::write(dir.join("report.html"), html::report(r))?;
    Ok(())
}

/// The folder a run writes to when none is named: `./corio-bench-report-<unix time>`.
fn default_dir(r: &Results) -> PathBuf {
    PathBuf::from(format!("corio-bench-report-{}", r.started_unix))
}

/// Prints the tables, the verdicts and the sweeps, writes the folder (`out`, or the default),
/// says where; the exit code.
pub fn write_and_print(r: &Results, out: Option<&Path>) -> i32 {
    println!(
        "{}{}{}",
        markdown::tables(r),
        markdown::cost_sweep(r),
        markdown::workers_sweep(r)
    );
    let dir = out.map_or_else(|| default_dir(r), Path::to_path_buf);
    match write(r, &dir) {
        Ok(()) => {
            println!("report: {}", dir.display());
            0
        }
        Err(e) => {
            eprintln!(
                "corio-bench: writing the report into {}: {e}",
                dir.display()
            );
            1
        }
    }
}

/// `corio-bench report FILE [--out DIR] [--instr INSTR]`: the reports again from a
/// results.json (into the file's own folder by default); with `--instr`, the instructions per
/// request of a `corio-bench instr --json` run go into the rows first, and results.json is
/// written again with them.
pub fn report_cmd(file: &Path, out: Option<&Path>, instr: Option<&Path>) -> i32 {
    let mut r = match Results::read(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("corio-bench report: {e}");
            return 1;
        }
    };
    if let Some(instr) = instr {
        let figures = std::fs::read_to_string(instr)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Vec<InstrFigure>>(&t).map_err(|e| e.to_string()));
        match figures {
            Ok(figures) => {
                for what in crate::results::instr::attach(&mut r, &figures) {
                    eprintln!("corio-bench report: no row for the instructions of {what}");
                }
            }
            Err(e) => {
                eprintln!("corio-bench report: {}: {e}", instr.display());
                return 1;
            }
        }
    }
    let dir = out
        .map(Path::to_path_buf)
        .or_else(|| file.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let md = dir.join("report.md");
    let html = dir.join("report.html");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&md, markdown::report(&r)))
        .and_then(|()| std::fs::write(&html, html::report(&r)))
        .and_then(|()| match instr {
            Some(_) => std::fs::write(dir.join("results.json"), r.to_json()),
            None => Ok(()),
        });
    match written {
        Ok(()) => {
            println!("report: {} and {}", md.display(), html.display());
            0
        }
        Err(e) => {
            eprintln!("corio-bench report: writing into {}: {e}", dir.display());
            1
        }
    }
}
