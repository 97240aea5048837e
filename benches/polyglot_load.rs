//! What a hook's language costs the host, in one run: the Rust, Python and JavaScript example
//! hooks side by side.
//!
//! - cold: a new engine with an empty cache compiles the component (first deploy on a machine);
//! - cached load: a new engine (as a new `kubes` process) loads the precompiled component
//!   from the on-disk cache;
//! - per call: the component already loaded (from the disk cache, as a deploy loads it), one
//!   run in a fresh sandboxed store: the migrate-wait hooks in dry run (instantiate, read
//!   config, print, return), and the JavaScript annotate-deployment in dry run (plus one
//!   `get` of the Job).
//!
//! Then the peak memory (RSS) of a whole `kubes deploy` of examples/migration, cached, with
//! the Rust hooks and with the Python migrate-wait in place of the Rust one.
//!
//! Run: `cargo bench --bench polyglot_load --profile dev` (builds the Rust guests and runs
//! the Python/JS build scripts first). Prints figures, asserts nothing.

#[path = "../tests/it/hooks_support/mod.rs"]
mod hooks_support;
#[path = "support/summary.rs"]
mod summary;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hooks_support::scenario::{grant, migrate_target, target};
use kube_testserver::{Options, TestServer};
use kubes::cluster::{ApplyOptions, Cluster, ConnectOptions};
use kubes::hooks::cache::CacheOutcome;
use kubes::hooks::host::{ClusterAccess, Target};
use kubes::hooks::{Grant, HookEngine, MemoryReporter, Verb};

/// Cold compiles per hook (`KUBES_BENCH_COLD_RUNS`; a Python one takes ~20 s).
fn cold_runs() -> usize {
    std::env::var("KUBES_BENCH_COLD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
        .max(1)
}
const LOAD_RUNS: usize = 5;
const CALL_RUNS: usize = 50;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

struct Subject {
    name: &'static str,
    path: PathBuf,
    hook: &'static str,
    target: Target,
    grants: Vec<Grant>,
}

fn main() -> anyhow::Result<()> {
    let rust = hooks_support::guest("migrate_wait");
    let poly = hooks_support::polyglot();
    let srv = TestServer::start_blocking(Options::default())?;
    let kubeconfig = srv.kubeconfig_path().to_path_buf();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cluster = rt.block_on(async {
        let c = Cluster::connect(&ConnectOptions {
            kubeconfig: Some(kubeconfig.clone()),
            ..Default::default()
        })
        .await?;
        for obj in [
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
            serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "demo"},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "m:1"}]}}}}),
        ] {
            c.apply_object(&obj, &ApplyOptions::default()).await?;
        }
        anyhow::Ok(c)
    })?;

    let wait_grants = || {
        vec![
            grant(&[Verb::Watch], &["jobs.batch"]),
            grant(&[Verb::Watch, Verb::Logs], &["pods"]),
        ]
    };
    let subjects = [
        Subject {
            name: "Rust migrate-wait",
            path: rust,
            hook: "migrate-wait",
            target: migrate_target(),
            grants: wait_grants(),
        },
        Subject {
            name: "Python migrate-wait",
            path: poly.python_migrate_wait.clone(),
            hook: "migrate-wait",
            target: migrate_target(),
            grants: wait_grants(),
        },
        Subject {
            name: "JS annotate-deployment (+1 get)",
            path: poly.js_annotate_deployment.clone(),
            hook: "annotate",
            target: target("web", "deployment", "apps/v1", "Deployment", "web"),
            grants: vec![grant(&[Verb::Get], &["jobs.batch"])],
        },
    ];

    println!("polyglot_load: example hooks by language (medians; per call = dry run, fresh store)");
    println!(
        "{:<32} {:>9} {:>12} {:>14} {:>12} {:>12}",
        "", "size MB", "cold ms", "cached load ms", "per call ms", "calls/s"
    );
    let mut rust: Option<(Duration, Duration)> = None;
    // KUBES_BENCH_RSS_ONLY=1: skip the (slow) language table, measure the deploys' memory.
    let rss_only = std::env::var_os("KUBES_BENCH_RSS_ONLY").is_some();
    for s in subjects.iter().filter(|_| !rss_only) {
        let size = std::fs::metadata(&s.path)?.len() as f64 / 1e6;
        let (cold, cached, cache) = load_times(&s.path)?;
        // Loaded from the disk cache, as a deploy loads it (file-backed, memory-mapped).
        let engine = HookEngine::with_cache_root(Some(cache.path().to_path_buf()))?;
        let hook = engine.load_with(&s.path, &bench_limits())?;
        let mut calls = Vec::new();
        rt.block_on(async {
            for i in 0..CALL_RUNS + 3 {
                let mut inv = hooks_support::invocation(s.hook, Arc::new(MemoryReporter::new()));
                inv.target = Some(s.target.clone());
                inv.dry_run = true;
                inv.memory = 256 << 20;
                inv.grants = s.grants.clone();
                inv.cluster = Some(ClusterAccess {
                    cluster: cluster.clone(),
                    dry_run: true,
                });
                let t = Instant::now();
                engine
                    .run(&hook, inv)
                    .await
                    .map_err(|f| anyhow::anyhow!("{}: {f}", s.name))?;
                if i >= 3 {
                    calls.push(t.elapsed());
                }
            }
            anyhow::Ok(())
        })?;
        let call = median(calls);
        match rust {
            None => rust = Some((cached, call)),
            Some((rust_load, rust_call)) => {
                let lang = s.name.split(' ').next().unwrap_or(s.name);
                summary::record(summary::Figure {
                    measure: &format!("{lang} hook, cached load"),
                    unit: "ms",
                    kubes: cached.as_secs_f64() * 1e3,
                    baseline_name: "the Rust hook, same",
                    baseline: Some(rust_load.as_secs_f64() * 1e3),
                    goal: "<= 5 ms",
                    met: Some(cached <= Duration::from_millis(5)),
                });
                summary::record(summary::Figure {
                    measure: &format!("{lang} hook, per call"),
                    unit: "ms",
                    kubes: call.as_secs_f64() * 1e3,
                    baseline_name: "the Rust hook, same",
                    baseline: Some(rust_call.as_secs_f64() * 1e3),
                    goal: "<= 1 ms",
                    met: Some(call <= Duration::from_millis(1)),
                });
            }
        }
        println!(
            "{:<32} {:>9.1} {:>12} {:>14} {:>12} {:>12.0}",
            s.name,
            size,
            ms(cold),
            ms(cached),
            ms(call),
            1.0 / call.as_secs_f64()
        );
    }

    let rust_rss = deploy_rss(None)?;
    let python_rss = deploy_rss(Some(&poly.python_migrate_wait))?;
    println!();
    println!("peak RSS of `kubes deploy` of examples/migration (cached hooks, whole process)");
    println!("{:<44} {:>8.1} MB", "Rust hooks", rust_rss);
    println!(
        "{:<44} {:>8.1} MB   goal < 64 MB: {}",
        "Python migrate-wait in place of the Rust one",
        python_rss,
        if python_rss < 64.0 { "met" } else { "NOT met" }
    );
    summary::record(summary::Figure {
        measure: "peak RSS, deploy of the migration example with the Python migrate-wait",
        unit: "MB",
        kubes: python_rss,
        baseline_name: "the same with the Rust hooks",
        baseline: Some(rust_rss),
        goal: "< 64 MB",
        met: Some(python_rss < 64.0),
    });
    Ok(())
}

/// Peak RSS (MB) of `kubes deploy` of examples/migration against a fresh test API server,
/// with `migrate_wait` (a component) in place of the Rust migrate-wait when given. The hook
/// cache is filled by a first deploy; the second, measured, re-runs the migration.
fn deploy_rss(migrate_wait: Option<&Path>) -> anyhow::Result<f64> {
    let root = hooks_support::repo_root();
    let work = tempfile::tempdir()?;
    let project = work.path().join("project");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(root.join("examples/migration"))
        .arg(&project)
        .status()?;
    anyhow::ensure!(status.success(), "copying examples/migration failed");
    hooks_support::install_migration_hooks(&project)?;
    if let Some(module) = migrate_wait {
        std::fs::copy(module, project.join("hooks/migrate-wait.wasm"))?;
    }
    let srv = TestServer::start_blocking(Options::default())?;
    let deploy = || {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kubes"));
        cmd.arg("--project")
            .arg(&project)
            .arg("--kubeconfig")
            .arg(srv.kubeconfig_path())
            .args(["deploy", "-q"])
            .env("KUBES_CACHE_DIR", work.path().join("cache"))
            .env("KUBES_CONFIG_DIR", work.path().join("config"))
            .env_remove("KUBES_ENV")
            .stdin(std::process::Stdio::null());
        summary::peak_rss_mb(&cmd)
    };
    let (first, _) = deploy();
    anyhow::ensure!(first.success(), "first deploy failed: {first}");
    let (second, rss) = deploy();
    anyhow::ensure!(second.success(), "measured deploy failed: {second}");
    Ok(rss)
}

/// The default limits with a compile budget for a shared, busy machine: this measures the
/// compile, it does not judge it.
fn bench_limits() -> kubes::hooks::limits::HookLimits {
    kubes::hooks::limits::HookLimits {
        compile_time: Duration::from_secs(900),
        ..Default::default()
    }
}

/// Median cold compile (new engine, empty cache) and cached load (new engine, cache hit),
/// and the last cache (holding the component).
fn load_times(path: &Path) -> anyhow::Result<(Duration, Duration, tempfile::TempDir)> {
    let mut cold = Vec::new();
    let mut cached = Vec::new();
    let mut last = None;
    for _ in 0..cold_runs() {
        let cache = tempfile::tempdir()?;
        let e = HookEngine::with_cache_root(Some(cache.path().to_path_buf()))?;
        let t = Instant::now();
        e.load_with(path, &bench_limits())?;
        cold.push(t.elapsed());
        drop(e);
        for _ in 0..LOAD_RUNS {
            let e = HookEngine::with_cache_root(Some(cache.path().to_path_buf()))?;
            let t = Instant::now();
            let h = e.load_with(path, &bench_limits())?;
            cached.push(t.elapsed());
            anyhow::ensure!(h.cache == CacheOutcome::Hit, "expected a cache hit");
        }
        last = Some(cache);
    }
    Ok((
        median(cold),
        median(cached),
        last.expect("at least one cold run"),
    ))
}
