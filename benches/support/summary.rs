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

/// Peak resident memory of a command, in MB, as GNU time (`/usr/bin/time -f %M`) reports
/// it. Not `wait4` on our own child: a child forked from a bench process starts with the
/// bench's memory counted (ru_maxrss keeps the high-water mark across exec).
pub fn peak_rss_mb(cmd: &std::process::Command) -> (std::process::ExitStatus, f64) {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let mut timed = std::process::Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(out.path())
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    let status = timed
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("/usr/bin/time runs (Debian package `time`)");
    let text = std::fs::read_to_string(out.path()).unwrap_or_default();
    let kib: f64 = text
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back()
        .unwrap_or(f64::NAN);
    (status, kib * 1024.0 / 1e6)
}
