//! Workloads: what the suite measures. `REGISTRY` is the table of them; the suite and
//! `--cases` read it and nothing else. What a workload is, is `spec.rs`; each workload is one
//! file (or folder) here: echo, file-read, file-serve, http, and the proxy comparison.
//!
//! Adding a workload is one file that defines a `Workload` and one line in `REGISTRY`. Case
//! names are unique across workloads; `--cases` picks them by name, by prefix, or by workload
//! name.

pub mod spec;

mod echo;
mod file_read;
mod file_serve;
mod fixture;
mod http;
mod proxy;

pub use proxy::{case_names as proxy_case_names, fit_idle_pairs};
pub use spec::{Case, CaseParams, RunEnv, Subject, Workload};

/// Every workload, in the order the suite runs them.
pub static REGISTRY: &[&Workload] = &[
    &echo::ECHO,
    &file_read::FILE_READ,
    &file_serve::FILE_SERVE,
    &http::HTTP,
    &proxy::PROXY,
];

/// Calls every workload's `finish`.
pub fn finish_all() {
    for w in REGISTRY {
        (w.finish)();
    }
}

/// The name of every server and proxy some workload drives, each once, in order.
pub fn subject_names() -> Vec<&'static str> {
    let mut out = Vec::new();
    for w in REGISTRY {
        for s in (w.subjects)() {
            if !out.contains(&s.name) {
                out.push(s.name);
            }
        }
    }
    out
}

/// Every case of every workload, in suite order.
pub fn all_cases(p: &CaseParams) -> Vec<Case> {
    REGISTRY.iter().flat_map(|w| (w.cases)(p)).collect()
}

/// Whether a `--cases` word picks anything: a workload's name, a case's name, or the start of
/// one.
pub fn known_word(word: &str) -> bool {
    let all = all_cases(&CaseParams { idle_pairs: 1 });
    all.iter().any(|c| picks(c, word, &all))
}

/// The word picks the case of that exact name, else every case of the workload of that name,
/// else every case whose name it begins.
fn picks(c: &Case, word: &str, all: &[Case]) -> bool {
    if all.iter().any(|c| c.name == word) {
        c.name == word
    } else if REGISTRY.iter().any(|w| w.name == word) {
        c.workload.name == word
    } else {
        c.name.starts_with(word)
    }
}

/// The cases any of `words` picks, in suite order; the default suite's for no words.
pub fn select(words: &[String], p: &CaseParams) -> Vec<Case> {
    let all = all_cases(p);
    if words.is_empty() {
        return all.into_iter().filter(|c| c.in_default).collect();
    }
    all.iter()
        .filter(|c| words.iter().any(|w| picks(c, w, &all)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(words: &[&str]) -> Vec<String> {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        select(&words, &CaseParams { idle_pairs: 10 })
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn words_pick_by_name_prefix_or_workload() {
        assert_eq!(
            names(&["pingpong c=50", "churn"]),
            ["pingpong c=50", "churn c=8"]
        );
        assert_eq!(names(&["pingpong", "pipe"]).len(), 4);
        assert_eq!(names(&["echo"]).len(), 7);
        assert_eq!(
            names(&["file"]),
            ["file-read qd=1", "file-read qd=64", "file-serve c=50"]
        );
        assert_eq!(names(&["file-read"]).len(), 2);
        assert_eq!(names(&["http"]), ["http c=50"]);
        assert_eq!(names(&["proxy"]).len(), 6);
        assert_eq!(names(&["proxy idle"]), ["proxy idle"]);
        assert!(names(&["nothing"]).is_empty());
        assert!(known_word("bulk") && known_word("echo") && !known_word("nothing"));
        let p = CaseParams { idle_pairs: 1 };
        let mut seen: Vec<String> = all_cases(&p).into_iter().map(|c| c.name).collect();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n, "case names are unique");
        // The default suite: every workload, the proxy's lighter cases.
        let default = names(&[]);
        for w in [
            "pingpong c=1",
            "file-read qd=64",
            "file-serve c=50",
            "http c=50",
        ] {
            assert!(default.iter().any(|c| c == w), "{default:?}");
        }
        assert!(
            default.iter().any(|c| c.starts_with("proxy ")),
            "{default:?}"
        );
        assert!(
            !default.iter().any(|c| c == "proxy 64B c=500"),
            "{default:?}"
        );
    }
}
