//! A well-behaved hook for tests and benchmarks: prints where it runs, logs its config,
//! and, as the config asks, gets one object, reads one file, or fails.
//!
//! Config (all optional): `{"get": {"apiVersion", "kind", "name", "namespace"?},
//! "wait": {"apiVersion"?, "kind"?, "name", "timeout_ms"?} (Job Complete or Failed),
//! "logs": {"job"} (prints the log of the Job's first pod, no container named),
//! "read": "/path", "fail": "message", "stderr": "line", "count": true} (prints how many
//! runs this instance has seen: a static, so a host that reused an instance would show it).
#[cfg(not(feature = "v01"))]
wit_bindgen::generate!({ path: "../../../wit", world: "hook", generate_all });
// Built as `hook-compat-v01` (examples/hooks/compat-v01): the same probe for the previous
// contract, kubes:hook@0.1.0, to show such components keep running.
#[cfg(feature = "v01")]
wit_bindgen::generate!({ path: "../../../wit/v0.1", world: "hook", generate_all });

struct Hook;

export!(Hook);

use kubes::hook::types::{KindRef, ObjectRef, Step, When};
use kubes::hook::{cluster, log};

/// Runs of this instance so far (see `count` above).
static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Guest for Hook {
    fn run(ctx: Context) -> Result<(), String> {
        let when = match ctx.when {
            When::Before => "before",
            When::After => "after",
        };
        let step = match ctx.step {
            Step::Compile => "compile",
            Step::Apply => "apply",
            Step::Delete => "delete",
            Step::Prune => "prune",
        };
        let on = match &ctx.target {
            Some(t) => format!("{}/{} ({} objects)", t.role, t.kind, t.objects.len()),
            None => "whole step".to_string(),
        };
        println!(
            "probe {} at {when} {step} on {on} app={} env={} ns={} dry_run={}",
            ctx.hook, ctx.app, ctx.env, ctx.namespace, ctx.dry_run
        );
        log::info(&format!("config {}", ctx.config_json));
        let config: serde_json::Value = serde_json::from_str(&ctx.config_json)
            .map_err(|e| format!("config is not JSON: {e}"))?;
        let runs = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if config.get("count").and_then(|v| v.as_bool()) == Some(true) {
            println!("probe runs in this instance: {runs}");
        }
        if let Some(line) = config.get("stderr").and_then(|v| v.as_str()) {
            eprintln!("{line}");
        }
        if let Some(g) = config.get("get") {
            let s = |k: &str| g.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let obj = ObjectRef {
                api_version: s("apiVersion").unwrap_or_else(|| "v1".into()),
                kind: s("kind").ok_or("config get.kind missing")?,
                name: s("name").ok_or("config get.name missing")?,
                namespace: s("namespace"),
            };
            match cluster::get(&obj) {
                Ok(json) => {
                    let v: serde_json::Value =
                        serde_json::from_str(&json).map_err(|e| e.to_string())?;
                    println!(
                        "got {}/{} uid={}",
                        obj.kind,
                        obj.name,
                        v["metadata"]["uid"].as_str().unwrap_or("?")
                    );
                }
                Err(e) => return Err(format!("get {}/{} failed: {e:?}", obj.kind, obj.name)),
            }
        }
        if let Some(w) = config.get("wait") {
            let s = |k: &str| w.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let obj = ObjectRef {
                api_version: s("apiVersion").unwrap_or_else(|| "batch/v1".into()),
                kind: s("kind").unwrap_or_else(|| "Job".into()),
                name: s("name").ok_or("config wait.name missing")?,
                namespace: s("namespace"),
            };
            let timeout = w
                .get("timeout_ms")
                .and_then(|v| v.as_u64())
                .unwrap_or(60_000) as u32;
            let conditions = vec!["Complete".to_string(), "Failed".to_string()];
            match cluster::wait_for(&obj, &conditions, timeout) {
                Ok(met) => println!("{}/{} is {}", obj.kind, obj.name, met.condition),
                Err(e) => return Err(format!("wait for {}/{} failed: {e:?}", obj.kind, obj.name)),
            }
        }
        if let Some(job) = config.get("logs").and_then(|l| l.get("job")).and_then(|v| v.as_str()) {
            let pods = cluster::list(
                &KindRef { api_version: "v1".into(), kind: "Pod".into() },
                None,
                Some(&format!("job-name={job}")),
            )
            .map_err(|e| format!("list pods of job {job} failed: {e:?}"))?;
            let pod: serde_json::Value =
                serde_json::from_str(pods.first().ok_or(format!("job {job} has no pod"))?)
                    .map_err(|e| e.to_string())?;
            let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
            let opts = cluster::LogOptions { container: None, follow: false, tail_lines: None };
            let stream = cluster::logs(&name, None, &opts)
                .map_err(|e| format!("logs of pod {name} failed: {e:?}"))?;
            loop {
                match stream.try_next().map_err(|e| format!("log of {name} broke: {e:?}"))? {
                    cluster::LogItem::Line(l) => println!("log {name}: {l}"),
                    cluster::LogItem::Pending => stream.subscribe().block(),
                    cluster::LogItem::End => break,
                }
            }
        }
        if let Some(path) = config.get("read").and_then(|v| v.as_str()) {
            let text = std::fs::read_to_string(path).map_err(|e| format!("read {path}: {e}"))?;
            println!("read {path}: {}", text.lines().next().unwrap_or(""));
        }
        if let Some(msg) = config.get("fail").and_then(|v| v.as_str()) {
            return Err(msg.to_string());
        }
        Ok(())
    }
}
