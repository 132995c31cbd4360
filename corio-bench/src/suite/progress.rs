//! The suite's progress on stderr: a bar with the current run and the time left where stderr
//! is a terminal, else one line per run (for logs): `[run 3/49] pingpong c=500 · corio-uring
//! · round 1 · ~41 s left` (with the syscall-cost level and the worker count where they are
//! not the baseline's).

use super::plan::Step;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Instant;

pub struct Progress {
    bar: ProgressBar,
    total: usize,
    done: usize,
    started: Instant,
    /// Seconds one run is expected to take, until one has.
    guess: f64,
}

impl Progress {
    pub fn new(total: usize, guess: f64) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> ");
        bar.set_style(style);
        Progress {
            bar,
            total,
            done: 0,
            started: Instant::now(),
            guess,
        }
    }

    /// Seconds left: the runs so far predict the rest.
    fn left(&self) -> f64 {
        let per_run = if self.done == 0 {
            self.guess
        } else {
            self.started.elapsed().as_secs_f64() / self.done as f64
        };
        (self.total - self.done) as f64 * per_run
    }

    /// A run begins.
    pub fn start(&mut self, step: &Step) {
        let left = self.left();
        let mut what = format!(
            "{} · {} · round {}",
            step.case.name,
            step.subject.name,
            step.round + 1
        );
        if step.level != crate::seccomp::Level::None {
            what.push_str(&format!(" · {}", step.level.name()));
        }
        if step.workers != 1 {
            what.push_str(&format!(" · {} workers", step.workers));
        }
        if self.bar.is_hidden() {
            eprintln!(
                "[run {}/{}] {what} · ~{left:.0} s left",
                self.done + 1,
                self.total
            );
        } else {
            self.bar.set_message(format!("{what} · ETA ~{left:.0} s"));
        }
    }

    /// A line that stays (an error), above the bar.
    pub fn note(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// A run ended.
    pub fn done(&mut self) {
        self.done += 1;
        self.bar.inc(1);
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
        eprintln!(
            "corio-bench: {} runs in {:.0} s",
            self.done,
            self.started.elapsed().as_secs_f64()
        );
    }
}
