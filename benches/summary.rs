//! Not a benchmark: the last step of `scripts/bench`. Reads the figures the benches appended
//! to `KUBES_BENCH_SUMMARY` (JSON lines, see `support/summary.rs`) and writes, into
//! `KUBES_BENCH_OUT` (default `bench-results/`), `summary.md` (a table: each figure beside
//! its baseline from the same run, the goal, and the machine) and `summary.svg` (a bar chart
//! of kubes vs the baseline per measure, each row scaled to its larger bar). The SVG is
//! written by hand: a chart library would be the heaviest dependency of the project for
//! forty lines of rectangles.

use std::fmt::Write as _;
use std::path::PathBuf;

struct Row {
    bench: String,
    measure: String,
    unit: String,
    kubes: f64,
    baseline_name: String,
    baseline: Option<f64>,
    goal: String,
    met: Option<bool>,
}

fn main() -> anyhow::Result<()> {
    let Some(input) = std::env::var_os("KUBES_BENCH_SUMMARY") else {
        println!("summary: nothing to do (run scripts/bench, which sets KUBES_BENCH_SUMMARY)");
        return Ok(());
    };
    let out_dir = std::env::var_os("KUBES_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench-results"));
    let text = std::fs::read_to_string(&input)?;
    let mut rows = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{}:{}: {e}", PathBuf::from(&input).display(), i + 1))?;
        let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
        rows.push(Row {
            bench: s("bench"),
            measure: s("measure"),
            unit: s("unit"),
            kubes: v["kubes"].as_f64().unwrap_or(f64::NAN),
            baseline_name: s("baseline_name"),
            baseline: v["baseline"].as_f64(),
            goal: s("goal"),
            met: v["met"].as_bool(),
        });
    }
    std::fs::create_dir_all(&out_dir)?;
    let machine = machine();
    std::fs::write(out_dir.join("summary.md"), markdown(&rows, &machine))?;
    std::fs::write(out_dir.join("summary.svg"), svg(&rows, &machine))?;
    println!(
        "summary: {} figures -> {}/summary.{{md,svg}}",
        rows.len(),
        out_dir.display()
    );
    Ok(())
}

/// `2 CPUs, Intel(R) Xeon(R) ..., 23.5 GiB, load 3.1 (profile dev)`.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb: f64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string();
    let profile = std::env::var("KUBES_BENCH_PROFILE").unwrap_or_else(|_| "dev".into());
    format!(
        "{cpus} CPUs ({model}), {:.1} GiB memory, load average {load} at the end; cargo profile `{profile}`",
        mem_kb / 1024.0 / 1024.0
    )
}

fn num(v: f64, unit: &str) -> String {
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else if v >= 1.0 {
        2
    } else {
        3
    };
    format!("{v:.digits$} {unit}")
}

fn markdown(rows: &[Row], machine: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmark summary\n");
    let _ = writeln!(
        s,
        "Written by `scripts/bench`; every baseline was measured in the same run as the figure beside it. Machine: {machine}.\n"
    );
    let _ = writeln!(
        s,
        "| bench | measure | kubes | baseline | baseline is | ratio | goal | met |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for r in rows {
        let (base, ratio) = match r.baseline {
            Some(b) => (
                num(b, &r.unit),
                if r.kubes > 0.0 {
                    format!("{:.1}x", b / r.kubes)
                } else {
                    "-".into()
                },
            ),
            None => ("-".into(), "-".into()),
        };
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.bench,
            r.measure,
            num(r.kubes, &r.unit),
            base,
            r.baseline_name,
            ratio,
            r.goal,
            met
        );
    }
    let _ = writeln!(
        s,
        "\nratio: baseline / kubes (above 1: kubes is faster or smaller). The machine is shared: treat single figures as noisy and re-run before relying on one."
    );
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn svg(rows: &[Row], machine: &str) -> String {
    const W: f64 = 1000.0;
    const LABEL: f64 = 430.0;
    const BAR: f64 = 440.0;
    const ROW: f64 = 50.0;
    const TOP: f64 = 60.0;
    let height = TOP + ROW * rows.len() as f64 + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="16" font-weight="bold">kubes (blue) vs baseline (grey), each row scaled to its larger bar</text>"#
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="42" fill="#555">{}</text>"##,
        esc(machine)
    );
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let max = r
            .baseline
            .unwrap_or(0.0)
            .max(r.kubes)
            .max(f64::MIN_POSITIVE);
        let _ = writeln!(
            s,
            r#"<text x="10" y="{}">{}</text>"#,
            y + 14.0,
            esc(&format!("{}: {}", r.bench, r.measure))
        );
        let _ = writeln!(
            s,
            r##"<text x="10" y="{}" fill="#555">{}</text>"##,
            y + 32.0,
            esc(&format!("vs {} · goal {}", r.baseline_name, r.goal))
        );
        let bar = |s: &mut String, yy: f64, v: f64, color: &str| {
            let w = (v / max * BAR).max(1.0);
            let _ = writeln!(
                s,
                r#"<rect x="{LABEL}" y="{yy}" width="{w:.1}" height="16" fill="{color}"/><text x="{:.1}" y="{}">{}</text>"#,
                LABEL + w + 4.0,
                yy + 12.0,
                esc(&num(v, &r.unit))
            );
        };
        bar(&mut s, y + 2.0, r.kubes, "#2b6cb0");
        if let Some(b) = r.baseline {
            bar(&mut s, y + 20.0, b, "#a0aec0");
        }
    }
    let _ = writeln!(s, "</svg>");
    s
}
