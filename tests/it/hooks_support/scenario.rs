//! Engine-level hook scenarios, shared by the stories of the example hooks in every language
//! (tests/it/example_hooks.rs, tests/it/polyglot_hooks.rs) and the hook benches: a test API
//! server with namespace `demo`, the seed's migrate Job, grants and targets, one hook run
//! against the cluster with what it printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_testserver::{Faults, Options, TestServer};
use kubes::cluster::{ApplyOptions, Cluster, ConnectOptions, RetryConfig};
use kubes::hooks::engine::HookInvocation;
use kubes::hooks::host::{ClusterAccess, ObjectRef, Target};
use kubes::hooks::{
    Grant, HookEngine, HookError, LoadedHook, MemoryReporter, RunFailure, RunReport, Verb,
};
use kubes::lifecycle::{Point, Step, When};
use serde_json::json;

/// A test API server and a client connected to it, with namespace `demo` applied.
pub async fn setup() -> (TestServer, Cluster) {
    setup_with(Options::default(), RetryConfig::default()).await
}

/// As [`setup`], with the server's options (e.g. injected faults) and the client's retries.
pub async fn setup_with(options: Options, retry: RetryConfig) -> (TestServer, Cluster) {
    let srv = TestServer::start(options).await.unwrap();
    let cluster = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(srv.kubeconfig_path().to_path_buf()),
        retry,
        ..Default::default()
    })
    .await
    .unwrap();
    apply(
        &cluster,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
    )
    .await;
    (srv, cluster)
}

/// As [`setup`], but one resource request in five answers 500 and every watch is cut after 2
/// events; the client does not retry (kubes' own retry layer would hide the faults from the
/// hook). Fault decisions are seeded per route (`kube_testserver::faults::FaultDice`), so each
/// route meets the same faults in every run: with this seed the first list of pods (a
/// follower's first) is answered 500, and so are the third and fourth pod log opens.
pub async fn setup_faulty() -> (TestServer, Cluster) {
    const FAULTY_SEED: u64 = 7;
    setup_with(
        Options {
            faults: Faults {
                rate_500: 0.2,
                drop_watch_after: Some(2),
                seed: FAULTY_SEED,
                ..Default::default()
            },
            ..Default::default()
        },
        RetryConfig {
            max_retries: 0,
            ..Default::default()
        },
    )
    .await
}

/// Apply, trying again while the server injects faults (the hooks are under test, not this).
pub async fn apply(cluster: &Cluster, obj: serde_json::Value) {
    let mut tries = 0;
    while let Err(e) = cluster.apply_object(&obj, &ApplyOptions::default()).await {
        tries += 1;
        assert!(tries < 50, "cannot apply: {e:#}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The seed's migrate Job, its pods following `script` (the test server's pod script).
pub fn migrate_job(script: &str, backoff_limit: u32) -> serde_json::Value {
    json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "demo"},
        "spec": {"backoffLimit": backoff_limit, "template": {
            "metadata": {"annotations": {"kubes.test/script": script}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "migrate", "image": "db-migrate:1", "command": ["bin/job/migrate.sh"]}]}}}})
}

/// Whether the migrate Job is in the cluster.
pub async fn job_exists(cluster: &Cluster) -> bool {
    let rk = cluster.resolve_kind("batch/v1", "Job").await.unwrap();
    cluster
        .get_object(&rk, Some("demo"), "migrate")
        .await
        .unwrap()
        .is_some()
}

/// Pod scripts of the migrate Job that the migrate-wait stories share, whatever the hook's
/// language. Each attempt logs `connecting to db`; a failed one then `lock timeout` and exits
/// 1 with a termination message.
pub const TWO_FAILED_ATTEMPTS_THEN_MIGRATED: &str = "attempts:\n\
        - logs: [{line: 'connecting to db', after_ms: 300}, {line: 'lock timeout', after_ms: 30}]\n  exit_code: 1\n  message: could not take the migration lock\n\
        - logs: [{line: 'connecting to db', after_ms: 300}, {line: 'lock timeout', after_ms: 30}]\n  exit_code: 1\n  message: could not take the migration lock\n\
        - logs: [{line: 'connecting to db', after_ms: 300}, {line: 'migrated 3 tables', after_ms: 30}]\n";
pub const ONE_FAILED_ATTEMPT_THEN_MIGRATED: &str = "attempts:\n\
        - logs: [{line: 'connecting to db', after_ms: 300}, {line: 'lock timeout', after_ms: 30}]\n  exit_code: 1\n  message: could not take the migration lock\n\
        - logs: [{line: 'connecting to db', after_ms: 300}, {line: 'migrated 3 tables', after_ms: 30}]\n";
/// One attempt that logs two lines and exits 1 (`rake aborted: ...`).
pub const FAILS_ON_A_DUPLICATE_TABLE: &str = "attempts:\n\
        - logs: [{line: '== 20201011 CreateUsers: migrating', after_ms: 10}, {line: 'PG::DuplicateTable: relation users already exists', after_ms: 10}]\n  exit_code: 1\n  message: 'rake aborted: relation users already exists'\n";

/// `verbs` on `resources`, any name, the hook's namespace.
pub fn grant(verbs: &[Verb], resources: &[&str]) -> Grant {
    Grant {
        verbs: verbs.to_vec(),
        resources: resources.iter().map(|s| s.to_string()).collect(),
        names: vec![],
        namespaces: vec![],
        cluster: false,
    }
}

/// `g` narrowed to `names`.
pub fn named(mut g: Grant, names: &[&str]) -> Grant {
    g.names = names.iter().map(|s| s.to_string()).collect();
    g
}

/// The least a migrate-wait hook needs, in any language (hooks-sdk/README.md and
/// examples/hooks-py/README.md document the same): watch its Job, watch and read the Job's
/// pods, list events.
pub fn wait_grants() -> Vec<Grant> {
    vec![
        named(grant(&[Verb::Watch], &["jobs.batch"]), &["migrate"]),
        grant(&[Verb::Watch, Verb::Logs], &["pods"]),
        grant(&[Verb::List], &["events"]),
    ]
}

/// A hook's target: the file `role/kind` holding one object `k/name` in namespace `demo`.
pub fn target(role: &str, kind: &str, api_version: &str, k: &str, name: &str) -> Target {
    Target {
        role: role.into(),
        kind: kind.into(),
        objects: vec![ObjectRef {
            api_version: api_version.into(),
            kind: k.into(),
            name: name.into(),
            namespace: Some("demo".into()),
        }],
    }
}

/// The seed's migrate Job as a hook target (`migrate/job`).
pub fn migrate_target() -> Target {
    target("migrate", "job", "batch/v1", "Job", "migrate")
}

/// An invocation of hook `name` at `when` apply of `target`, with `config` and `grants`,
/// reaching `cluster` for real (not a dry run), with a 60 s timeout. [`run`] records its output.
pub fn cluster_invocation(
    cluster: &Cluster,
    name: &str,
    when: When,
    target: Option<Target>,
    config: serde_json::Value,
    grants: Vec<Grant>,
) -> HookInvocation {
    let mut inv = super::invocation(name, Arc::new(MemoryReporter::new()));
    inv.point = Point {
        when,
        step: Step::Apply,
    };
    inv.target = target;
    inv.config_json = config.to_string();
    inv.grants = grants;
    inv.timeout = Duration::from_secs(60);
    inv.cluster = Some(ClusterAccess {
        cluster: cluster.clone(),
        dry_run: false,
    });
    inv
}

/// Run the loaded `hook` as `inv` says and record what it printed. `objects` are applied
/// after the component is loaded and just before the hook runs, as `kubes deploy` does, so
/// the hook sees the Job's pods live rather than after the fact.
pub async fn run(
    cluster: &Cluster,
    engine: &HookEngine,
    hook: &LoadedHook,
    mut inv: HookInvocation,
    objects: Vec<serde_json::Value>,
) -> Run {
    let mem = MemoryReporter::new();
    inv.reporter = Arc::new(mem.clone());
    let name = inv.name.clone();
    for obj in objects {
        apply(cluster, obj).await;
    }
    let start = Instant::now();
    let result = engine.run(hook, inv).await;
    let elapsed = start.elapsed();
    // `SHOW_HOOK_OUTPUT=1 cargo test --test it STORY:: -- --nocapture` shows what a user sees.
    if std::env::var_os("SHOW_HOOK_OUTPUT").is_some() {
        eprintln!(
            "--- {name}: {:?} after {elapsed:?}\n{}",
            result.as_ref().map(|_| ()).map_err(|e| e.to_string()),
            mem.lines().join("\n")
        );
    }
    Run {
        result,
        lines: mem.lines(),
        elapsed,
    }
}

/// One hook run: how it ended, every line it printed, how long it took.
pub struct Run {
    pub result: Result<RunReport, RunFailure>,
    pub lines: Vec<String>,
    pub elapsed: Duration,
}

impl Run {
    /// The message of the hook's own error; panics if it succeeded or broke otherwise.
    pub fn failure(&self) -> String {
        match &self.result {
            Err(RunFailure {
                error: HookError::Failed(m),
                ..
            }) => m.clone(),
            Err(e) => panic!("expected the hook to fail, it broke: {e}\n{}", self.dump()),
            Ok(_) => panic!("expected the hook to fail, it succeeded\n{}", self.dump()),
        }
    }

    /// Succeeded, and never asked for more than its grants.
    pub fn assert_ok(&self) {
        match &self.result {
            Err(e) => panic!("hook failed: {e}\n{}", self.dump()),
            Ok(r) => assert!(r.denials.is_empty(), "denied: {:?}", r.denials),
        }
    }

    /// The lines a user sees without `--verbose` (no debug messages).
    pub fn shown(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| !l.contains("] debug: "))
            .cloned()
            .collect()
    }

    pub fn has(&self, line: &str) -> bool {
        self.lines.iter().any(|l| l == line)
    }

    pub fn position(&self, pred: impl Fn(&str) -> bool) -> Option<usize> {
        self.lines.iter().position(|l| pred(l))
    }

    /// Where `line` is; panics showing every line when it is not there.
    pub fn line_index(&self, line: &str) -> usize {
        self.position(|l| l == line)
            .unwrap_or_else(|| panic!("no line {line:?} in:\n{}", self.dump()))
    }

    pub fn dump(&self) -> String {
        self.lines.join("\n")
    }

    /// Distinct pods in `[migrate-wait] [pod/NAME] ...` lines, in order of first appearance.
    pub fn pods_logged(&self) -> Vec<String> {
        let mut pods: Vec<String> = Vec::new();
        for l in &self.lines {
            if let Some(rest) = l.strip_prefix("[migrate-wait] [pod/") {
                let pod = rest.split(']').next().unwrap().to_string();
                if !pods.contains(&pod) {
                    pods.push(pod);
                }
            }
        }
        pods
    }
}
