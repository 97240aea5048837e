//! What a hook's language costs the host, in one run: the Rust, Python and JavaScript example
//! hooks side by side.
//!
//! - cold: a new engine with an empty cache compiles the component (first deploy on a machine);
//! - cached load: a new engine (as a new `kubes` process) loads the precompiled component
//!   from the on-disk cache;
//! - per call: the component already loaded, one run in a fresh sandboxed store: the
//!   migrate-wait hooks in dry run (instantiate, read config, print, return), and the
//!   JavaScript annotate-deployment in dry run (plus one `get` of the Job).
//!
//! Run: `cargo bench --bench polyglot_load --profile dev` (builds the Rust guests and runs
//! the Python/JS build scripts first). Prints figures, asserts nothing.

#[path = "../tests/it/hooks_support/mod.rs"]
mod hooks_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hooks_support::scenario::{grant, migrate_target, target};
use kube_testserver::{Options, TestServer};
use kubes::cluster::{ApplyOptions, Cluster, ConnectOptions};
use kubes::hooks::cache::CacheOutcome;
use kubes::hooks::host::{ClusterAccess, Target};
use kubes::hooks::{Grant, HookEngine, MemoryReporter, Verb};

const COLD_RUNS: usize = 2;
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
    for s in &subjects {
        let size = std::fs::metadata(&s.path)?.len() as f64 / 1e6;
        let (cold, cached) = load_times(&s.path)?;
        let engine = HookEngine::with_cache_root(None)?;
        let hook = engine.load(&s.path)?;
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
    Ok(())
}

/// Median cold compile (new engine, empty cache) and cached load (new engine, cache hit).
fn load_times(path: &Path) -> anyhow::Result<(Duration, Duration)> {
    let mut cold = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..COLD_RUNS {
        let cache = tempfile::tempdir()?;
        let e = HookEngine::with_cache_root(Some(cache.path().to_path_buf()))?;
        let t = Instant::now();
        e.load(path)?;
        cold.push(t.elapsed());
        drop(e);
        for _ in 0..LOAD_RUNS {
            let e = HookEngine::with_cache_root(Some(cache.path().to_path_buf()))?;
            let t = Instant::now();
            let h = e.load(path)?;
            cached.push(t.elapsed());
            anyhow::ensure!(h.cache == CacheOutcome::Hit, "expected a cache hit");
        }
    }
    Ok((median(cold), median(cached)))
}
