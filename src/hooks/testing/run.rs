//! Running one scenario: a fresh simulated cluster in-process (kube-testserver's engine,
//! no sockets) on a tokio runtime with paused time, so every wait (the hook's timeout, the
//! Job's back-off, a pod that runs for ten minutes) passes as soon as nothing else is to be
//! done; the hook run as `kubes deploy` runs it; the expectations checked.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube_testserver::sim::{SimOptions, Simulation};
use serde_json::Value;

use super::scenario::{Expect, Outcome, Scenario};
use crate::cluster::{ApplyOptions, Cluster, RetryConfig};
use crate::hooks::engine::HookInvocation;
use crate::hooks::host::{ClusterAccess, ObjectRef, Target};
use crate::hooks::{Denial, HookEngine, HookReporter, LoadedHook, OutputKind, RunFailure};

/// How a scenario went.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: String,
    pub file: std::path::PathBuf,
    /// Every expectation that failed, with what happened instead; empty when it passed.
    pub failures: Vec<String>,
    /// Wall time of the run (simulation, hook, checks).
    pub wall: Duration,
    /// Simulated time that passed.
    pub simulated: Duration,
    /// What the hook printed (as the deploy log shows it, without the `[hook] ` prefix).
    pub output: Vec<String>,
    /// `ok`, or the hook's error.
    pub outcome: Result<(), String>,
}

impl ScenarioResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Collects a run's lines: hook output (debug lines apart), audit lines, engine notes.
#[derive(Default)]
struct Capture {
    lines: Mutex<Vec<(OutputKind, String)>>,
    notes: Mutex<Vec<String>>,
}

/// Most lines kept of one run (the hook's output is bounded by its limits anyway).
const MAX_LINES: usize = 10_000;

impl Capture {
    /// The hook's output as a scenario sees it: every line but debug ones, in order.
    fn output(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .filter(|(k, _)| *k != OutputKind::Debug)
            .map(|(_, l)| l.clone())
            .collect()
    }
}

impl HookReporter for Capture {
    fn hook_line(&self, hook: &str, kind: OutputKind, line: &str) {
        let full = crate::hooks::output::format_hook_line(hook, kind, line);
        let text = full
            .strip_prefix(&format!("[{hook}] "))
            .unwrap_or(&full)
            .to_string();
        let mut l = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if l.len() < MAX_LINES {
            l.push((kind, text));
        }
    }

    fn audit(&self, denial: &Denial) {
        self.note(&crate::hooks::output::format_audit(denial));
    }

    fn note(&self, line: &str) {
        let mut n = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        if n.len() < MAX_LINES {
            n.push(line.to_string());
        }
    }
}

/// Run `scenario` with `hook` (already loaded) on a runtime of its own with paused time.
pub fn run(engine: &HookEngine, hook: &LoadedHook, scenario: &Scenario) -> ScenarioResult {
    let wall = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build();
    let mut result = ScenarioResult {
        name: scenario.name.clone(),
        file: scenario.file.clone(),
        failures: Vec::new(),
        wall: Duration::ZERO,
        simulated: Duration::ZERO,
        output: Vec::new(),
        outcome: Ok(()),
    };
    match rt {
        Ok(rt) => rt.block_on(run_on_paused_clock(engine, hook, scenario, &mut result)),
        Err(e) => result
            .failures
            .push(format!("cannot start the runtime: {e}")),
    }
    result.wall = wall.elapsed();
    result
}

/// The connection to `sim` kubes and the hook use: the simulation's handlers answer the
/// kube client's requests in-process.
pub fn connect(sim: &Simulation, namespace: &str, retry: RetryConfig) -> Cluster {
    let sim = sim.clone();
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let answer = sim.call(req);
        async move { Ok::<_, std::convert::Infallible>(answer.await) }
    });
    Cluster::over_service(service, namespace, retry)
}

async fn run_on_paused_clock(
    engine: &HookEngine,
    hook: &LoadedHook,
    sc: &Scenario,
    result: &mut ScenarioResult,
) {
    let start = tokio::time::Instant::now();
    let c = &sc.cluster;
    let sim = Simulation::start(SimOptions {
        faults: kube_testserver::Faults {
            latency: c.faults.latency.map_or(Duration::ZERO, |d| d.0),
            rate_429: c.faults.rate_429,
            rate_500: c.faults.rate_500,
            rate_503: c.faults.rate_503,
            drop_watch_after: c.faults.drop_watch_after,
            drop_logs_after: c.faults.drop_logs_after,
            compact_on_watch_drop: c.faults.compact_on_watch_drop,
            log_lag: c.faults.log_lag.map_or(Duration::ZERO, |d| d.0),
            seed: c.faults.seed,
        },
        seed: c.seed.unwrap_or(42),
        timing: c.timing.timing(),
        ..Default::default()
    });
    let retry = RetryConfig {
        max_retries: c
            .client_retries
            .unwrap_or(RetryConfig::default().max_retries),
        ..Default::default()
    };
    let cluster = connect(&sim, &sc.namespace, retry);
    let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": sc.namespace}});
    // The cluster as it is before the deploy; a moment for its controllers; then the
    // objects the hook runs after.
    let setup = [
        (vec![&namespace], None),
        (c.objects.iter().collect(), c.settle),
        (sc.apply.iter().collect(), None),
    ];
    for (objects, then) in setup {
        for obj in objects {
            if let Err(e) = apply(&cluster, obj, &sc.namespace).await {
                result.failures.push(format!(
                    "setting up: cannot apply {} {}: {e:#}",
                    obj["kind"].as_str().unwrap_or("?"),
                    obj["metadata"]["name"].as_str().unwrap_or("?")
                ));
                return;
            }
        }
        if let Some(d) = then {
            tokio::time::sleep(d.0).await;
        }
    }
    let capture = Arc::new(Capture::default());
    let spec = &sc.hook;
    let inv = HookInvocation {
        name: spec.name.clone(),
        point: spec.point,
        target: sc
            .target
            .as_ref()
            .map(|(file, objects)| target(file, objects, &sc.namespace)),
        app: "demo".into(),
        env: "test".into(),
        namespace: sc.namespace.clone(),
        dry_run: false,
        config_json: spec.config_json.clone(),
        timeout: spec.timeout,
        memory: spec.memory,
        read_output: None,
        grants: spec.grants.clone(),
        limits: spec.limits.clone(),
        cluster: Some(ClusterAccess {
            cluster: cluster.clone(),
            dry_run: false,
        }),
        reporter: capture.clone(),
    };
    let outcome = engine.run(hook, inv).await;
    result.simulated = start.elapsed();
    let (denials, calls) = match &outcome {
        Ok(r) => (&r.denials, &r.calls),
        Err(RunFailure { denials, calls, .. }) => (denials, calls),
    };
    let denied: Vec<String> = denials
        .iter()
        .map(|d| {
            let mut s = format!("{} {}", d.verb, d.resource);
            if let Some(n) = &d.name {
                s.push(' ');
                s.push_str(n);
            }
            s
        })
        .collect();
    result.output = capture.output();
    result.outcome = match &outcome {
        Ok(_) => Ok(()),
        Err(RunFailure {
            error: crate::hooks::HookError::Failed(m),
            ..
        }) => Err(m.clone()),
        Err(f) => Err(f.error.to_string()),
    };
    let mut failures = check(&sc.expect, result, calls, &denied);
    failures.extend(check_objects(&sc.expect, &cluster, &sc.namespace).await);
    if !failures.is_empty() {
        let notes = capture.notes.lock().unwrap_or_else(|e| e.into_inner());
        if !notes.is_empty() {
            failures.push(format!("kubes said:\n    {}", notes.join("\n    ")));
        }
    }
    result.failures = failures;
}

/// Apply, the namespace defaulted to the app's.
async fn apply(
    cluster: &Cluster,
    obj: &Value,
    namespace: &str,
) -> Result<(), crate::cluster::ClusterError> {
    let mut obj = obj.clone();
    let rk = cluster
        .resolve_kind(
            obj["apiVersion"].as_str().unwrap_or_default(),
            obj["kind"].as_str().unwrap_or_default(),
        )
        .await?;
    if rk.namespaced && obj["metadata"]["namespace"].is_null() {
        obj["metadata"]["namespace"] = Value::String(namespace.into());
    }
    cluster.apply_object(&obj, &ApplyOptions::default()).await?;
    Ok(())
}

fn target(file: &str, objects: &[Value], namespace: &str) -> Target {
    let (role, kind) = file.split_once('/').unwrap_or((file, ""));
    Target {
        role: role.into(),
        kind: kind.into(),
        objects: objects
            .iter()
            .map(|o| ObjectRef {
                api_version: o["apiVersion"].as_str().unwrap_or_default().into(),
                kind: o["kind"].as_str().unwrap_or_default().into(),
                name: o["metadata"]["name"].as_str().unwrap_or_default().into(),
                namespace: Some(
                    o["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or(namespace)
                        .into(),
                ),
            })
            .collect(),
    }
}

/// The expectations on outcome, output and calls; each failure says what happened.
fn check(e: &Expect, r: &ScenarioResult, calls: &[String], denied: &[String]) -> Vec<String> {
    let mut f = Vec::new();
    let shown = || format!("the hook printed:\n    {}", r.output.join("\n    "));
    let wanted = e.outcome.unwrap_or(if e.error.is_some() {
        Outcome::Error
    } else {
        Outcome::Ok
    });
    match (&r.outcome, wanted) {
        (Ok(()), Outcome::Error) => f.push(format!(
            "expected the hook to fail, it succeeded; {}",
            shown()
        )),
        (Err(m), Outcome::Ok) => f.push(format!(
            "expected the hook to succeed, it failed: {m}; {}",
            shown()
        )),
        (Err(m), Outcome::Error) => {
            if let Some(p) = &e.error {
                if !p.0.is_match(m) {
                    f.push(format!(
                        "the hook's error {m:?} does not match /{}/",
                        p.0.as_str()
                    ));
                }
            }
        }
        (Ok(()), Outcome::Ok) => {}
    }
    let mut from = 0;
    for want in &e.output {
        match r.output[from..].iter().position(|l| want.matches(l)) {
            Some(i) => from += i + 1,
            None => {
                f.push(format!(
                    "output line {want} is missing or out of order (looked from line {}); {}",
                    from + 1,
                    shown()
                ));
                break;
            }
        }
    }
    if e.output_ends && f.is_empty() && from < r.output.len() {
        f.push(format!(
            "the hook printed more after the last expected line: {:?}",
            &r.output[from..]
        ));
    }
    for never in &e.never {
        if let Some(l) = r.output.iter().find(|l| l.contains(never.as_str())) {
            f.push(format!("{never:?} was printed: {l:?}"));
        }
    }
    for call in &e.calls {
        if !calls.iter().any(|c| c == call) {
            f.push(format!("call `{call}` was not made; calls made: {calls:?}"));
        }
    }
    match &e.denied {
        None if !denied.is_empty() => f.push(format!("calls were denied: {denied:?}")),
        None => {}
        Some(want) => {
            for d in want {
                if !denied.iter().any(|x| x == d) {
                    f.push(format!("call `{d}` was not denied; denied: {denied:?}"));
                }
            }
            for d in denied {
                if !want.contains(d) {
                    f.push(format!("call `{d}` was denied unexpectedly"));
                }
            }
        }
    }
    f
}

async fn check_objects(e: &Expect, cluster: &Cluster, namespace: &str) -> Vec<String> {
    let mut f = Vec::new();
    for o in &e.objects {
        let what = format!("{} {}", o.kind, o.name);
        let rk = match cluster.resolve_kind(&o.api_version, &o.kind).await {
            Ok(rk) => rk,
            Err(err) => {
                f.push(format!("{what}: {err}"));
                continue;
            }
        };
        let ns = o.namespace.as_deref().unwrap_or(namespace);
        match cluster.get_object(&rk, Some(ns), &o.name).await {
            Err(err) => f.push(format!("{what}: {err}")),
            Ok(None) if !o.absent => f.push(format!("{what} does not exist at the end")),
            Ok(Some(_)) if o.absent => f.push(format!("{what} still exists at the end")),
            Ok(None) => {}
            Ok(Some(obj)) => {
                if let Some(has) = &o.has {
                    let actual = serde_json::to_value(&obj).unwrap_or_default();
                    if let Some(path) = mismatch(has, &actual, String::new()) {
                        f.push(format!(
                            "{what}: {path} differs: wanted {}, found {}",
                            pointer(has, &path),
                            pointer(&actual, &path)
                        ));
                    }
                }
            }
        }
    }
    f
}

fn pointer(v: &Value, path: &str) -> String {
    v.pointer(path).map_or("nothing".into(), |x| x.to_string())
}

/// The JSON pointer of the first place `actual` does not have `want` (maps are compared
/// key by key, so `want` may leave keys out).
fn mismatch(want: &Value, actual: &Value, at: String) -> Option<String> {
    match (want, actual) {
        (Value::Object(w), Value::Object(a)) => w.iter().find_map(|(k, wv)| {
            let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            match a.get(k) {
                Some(av) => mismatch(wv, av, p),
                None => Some(p),
            }
        }),
        _ if want == actual => None,
        _ => Some(if at.is_empty() { "/".into() } else { at }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_subset_matches_and_the_first_difference_is_named() {
        let actual =
            json!({"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}}, "spec": {"n": 1}});
        assert_eq!(
            mismatch(
                &json!({"metadata": {"labels": {"x": "1"}}}),
                &actual,
                String::new()
            ),
            None
        );
        assert_eq!(
            mismatch(
                &json!({"metadata": {"labels": {"x": "2"}}}),
                &actual,
                String::new()
            )
            .as_deref(),
            Some("/metadata/labels/x")
        );
        assert_eq!(
            mismatch(&json!({"status": {}}), &actual, String::new()).as_deref(),
            Some("/status")
        );
    }
}

/// Replay one recorded hook run: the same invocation, every request answered from the
/// recording on paused time. Fails when the outcome differs from the recorded one or the
/// hook asked for something the recording does not have (each such request is named with
/// the recorded request nearest to it).
pub fn replay(
    engine: &HookEngine,
    hook: &LoadedHook,
    rec: &super::record::HookRecording,
    name: &str,
) -> ScenarioResult {
    let wall = Instant::now();
    let mut result = ScenarioResult {
        name: name.to_string(),
        file: std::path::PathBuf::new(),
        failures: Vec::new(),
        wall: Duration::ZERO,
        simulated: Duration::ZERO,
        output: Vec::new(),
        outcome: Ok(()),
    };
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt.block_on(replay_on_paused_clock(engine, hook, rec, &mut result)),
        Err(e) => result
            .failures
            .push(format!("cannot start the runtime: {e}")),
    }
    result.wall = wall.elapsed();
    result
}

async fn replay_on_paused_clock(
    engine: &HookEngine,
    hook: &LoadedHook,
    rec: &super::record::HookRecording,
    result: &mut ScenarioResult,
) {
    let start = tokio::time::Instant::now();
    let replayer = super::record::Replayer::new(rec.exchanges.clone());
    let cluster = replayer.connect(&rec.namespace);
    let capture = Arc::new(Capture::default());
    let inv = HookInvocation {
        name: rec.hook.clone(),
        point: rec.point(),
        target: rec.target.as_ref().map(|t| Target {
            role: t.role.clone(),
            kind: t.kind.clone(),
            objects: t
                .objects
                .iter()
                .map(|[api_version, kind, name, ns]| ObjectRef {
                    api_version: api_version.clone(),
                    kind: kind.clone(),
                    name: name.clone(),
                    namespace: (!ns.is_empty()).then(|| ns.clone()),
                })
                .collect(),
        }),
        app: rec.app.clone(),
        env: rec.env.clone(),
        namespace: rec.namespace.clone(),
        dry_run: rec.dry_run,
        config_json: rec.config_json.clone(),
        timeout: Duration::from_millis(rec.timeout_ms),
        memory: rec.memory,
        read_output: None,
        grants: rec.grants.clone(),
        limits: Default::default(),
        cluster: Some(ClusterAccess {
            cluster,
            dry_run: rec.dry_run,
        }),
        reporter: capture.clone(),
    };
    let outcome = engine.run(hook, inv).await;
    result.simulated = start.elapsed();
    result.output = capture.output();
    let replayed = match &outcome {
        Ok(_) => "ok".to_string(),
        Err(f) => f.error.to_string(),
    };
    result.outcome = match &outcome {
        Ok(_) => Ok(()),
        Err(_) => Err(replayed.clone()),
    };
    if replayed != rec.outcome {
        result.failures.push(format!(
            "the outcome differs: recorded {:?}, replayed {replayed:?}; the hook printed:\n    {}",
            rec.outcome,
            result.output.join("\n    ")
        ));
    }
    for d in replayer.differences().iter().take(10) {
        result.failures.push(d.to_string());
    }
    if rec.truncated {
        result
            .failures
            .push("the recording was cut at its size bound: the replay may lack answers".into());
    }
}
