//! Shared by the benches (included by path): when `KUBES_BENCH_SUMMARY` names a file, each
//! headline figure is appended to it as one JSON line, beside the baseline measured in the
//! same run, for `scripts/bench` to turn into `bench-results/summary.md` and `.svg`.
//! Without the variable nothing is written: a bench run alone only prints.

#![allow(dead_code)]

use std::io::Write;

/// One headline figure.
pub struct Figure<'a> {
    /// Which bench and what it measures, e.g. `a hook doing one get, per hook in kubes apply`.
    pub measure: &'a str,
    /// Unit of both values: `ms`, `s` or `MB`.
    pub unit: &'a str,
    pub kubes: f64,
    /// What it is compared with, e.g. `bash + kubectl get`.
    pub baseline_name: &'a str,
    /// `None`: no baseline (the goal alone says what is good).
    pub baseline: Option<f64>,
    /// The goal in words, e.g. `<= 0.1 ms overhead`.
    pub goal: &'a str,
    /// Whether the goal is met (`None`: not judged here).
    pub met: Option<bool>,
}

pub fn record(f: Figure<'_>) {
    let Some(path) = std::env::var_os("KUBES_BENCH_SUMMARY") else {
        return;
    };
    let line = serde_json::json!({
        "bench": std::env::args().next().and_then(|a| {
            std::path::Path::new(&a).file_stem().map(|s| s.to_string_lossy().split('-').next().unwrap_or("").to_string())
        }),
        "measure": f.measure,
        "unit": f.unit,
        "kubes": f.kubes,
        "baseline_name": f.baseline_name,
        "baseline": f.baseline,
        "goal": f.goal,
        "met": f.met,
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("KUBES_BENCH_SUMMARY {}: {e}", path.to_string_lossy()));
    writeln!(file, "{line}").expect("summary line written");
}

/// Peak resident memory of a child process, in MB: spawn it, reap it with `wait4`.
pub fn peak_rss_mb(cmd: &mut std::process::Command) -> (std::process::ExitStatus, f64) {
    use std::os::unix::process::ExitStatusExt;
    let child = cmd.spawn().expect("child starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unreaped child; the pointers are to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    // ru_maxrss is in KiB on Linux.
    (
        std::process::ExitStatus::from_raw(status),
        usage.ru_maxrss as f64 * 1024.0 / 1e6,
    )
}
