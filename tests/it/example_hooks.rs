//! Story: the example hooks written with the Rust SDK do the seed's migration chores against
//! a cluster whose Job and Deployment controllers follow a script.
//!
//! - `migrate-wait`: what it prints on success, retries, failures (BackoffLimitExceeded,
//!   DeadlineExceeded, pull errors) and timeouts is the contract every language holds to
//!   (tests/it/migrate_wait_contract.rs, against this server) and the example's scenario
//!   files (examples/hooks/migrate-wait/tests, run by `kubes hooks test` in
//!   tests/it/hook_scenarios.rs). Told here: it follows containers restarting in place
//!   (`OnFailure`), reads the container asked for beside a sidecar, says why it cannot read
//!   a log, and (the host's follower does) rides out server errors and dropped watches.
//! - `migrate-cleanup` deletes the previous Job with its pods (absent is fine) and cannot
//!   delete without its grant.
//! - `rollout-wait` returns when the Deployment is ready and fails fast on
//!   ProgressDeadlineExceeded or a pod that cannot pull its image.
//!
//! Real components (examples/hooks, built for wasm32-wasip2) run by the real engine against
//! the test API server.

use std::time::{Duration, Instant};

use crate::hooks_support::guest;
use crate::hooks_support::scenario::{
    self, apply, grant, job_exists, migrate_job, migrate_target, named, setup, setup_faulty,
    target, wait_grants, Run, ONE_FAILED_ATTEMPT_THEN_MIGRATED,
};
use kube::api::ListParams;
use kubes::cluster::Cluster;
use kubes::hooks::host::Target;
use kubes::hooks::{Grant, HookEngine, Verb};
use kubes::lifecycle::When;
use serde_json::json;

/// Run an example hook (a fresh engine, the component built from examples/hooks) around
/// `target` with `config` and `grants`; `objects` are applied just before it runs
/// (`scenario::run`). A cleanup hook runs before apply, the others after.
async fn run_hook(
    cluster: &Cluster,
    component: &str,
    name: &str,
    target: Option<Target>,
    config: serde_json::Value,
    grants: Vec<Grant>,
    objects: Vec<serde_json::Value>,
) -> Run {
    let engine = HookEngine::with_cache_root(None).unwrap();
    let when = if name.ends_with("cleanup") {
        When::Before
    } else {
        When::After
    };
    let inv = scenario::cluster_invocation(cluster, name, when, target, config, grants);
    let hook = engine.load(&guest(component)).unwrap();
    scenario::run(cluster, &engine, &hook, inv, objects).await
}

async fn migrate_wait(cluster: &Cluster, job: serde_json::Value, config: serde_json::Value) -> Run {
    run_hook(
        cluster,
        "migrate_wait",
        "migrate-wait",
        Some(migrate_target()),
        config,
        wait_grants(),
        vec![job],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_wait_follows_containers_restarting_in_place() {
    let (_srv, cluster) = setup().await;
    let script = ONE_FAILED_ATTEMPT_THEN_MIGRATED;
    let mut job = migrate_job(script, 4);
    job["spec"]["template"]["spec"]["restartPolicy"] = json!("OnFailure");
    let run = migrate_wait(&cluster, job, json!({"timeout": "30s"})).await;
    run.assert_ok();
    let pods = run.pods_logged();
    assert_eq!(
        pods.len(),
        1,
        "one pod, restarted in place:\n{}",
        run.dump()
    );
    let pod = &pods[0];
    let expected = [
        format!("[migrate-wait] [pod/{pod}] connecting to db"),
        format!("[migrate-wait] [pod/{pod}] lock timeout"),
        format!("[migrate-wait] pod {pod} failed: container exited with code 1: could not take the migration lock"),
        format!("[migrate-wait] retry 1: attempt 2 of 5 in pod {pod}"),
        format!("[migrate-wait] [pod/{pod}] connecting to db"),
        format!("[migrate-wait] [pod/{pod}] migrated 3 tables"),
        "[migrate-wait] Migration complete".to_string(),
    ];
    assert_eq!(run.shown()[1..], expected, "{}", run.dump());
}

/// The migrate Job with a database proxy sidecar listed before the migration container.
fn migrate_job_with_sidecar(script: &str) -> serde_json::Value {
    let mut job = migrate_job(script, 4);
    job["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "db-proxy", "image": "cloud-sql-proxy:2"},
        {"name": "migrate", "image": "db-migrate:1"},
    ]);
    job
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_wait_reads_the_log_of_the_container_asked_for_beside_a_sidecar() {
    let (_srv, cluster) = setup().await;
    let script = "attempts:\n- logs: [{line: 'migrated 3 tables', after_ms: 200}]\n";
    // The API server wants a container name for a pod with two; the default is the first.
    for config in [json!({}), json!({"container": "migrate"})] {
        let run = migrate_wait(&cluster, migrate_job_with_sidecar(script), config.clone()).await;
        run.assert_ok();
        let pods = run.pods_logged();
        assert_eq!(pods.len(), 1, "{config}: {}", run.dump());
        assert!(
            run.has(&format!(
                "[migrate-wait] [pod/{}] migrated 3 tables",
                pods[0]
            )),
            "{config}: {}",
            run.dump()
        );
        let rk = cluster.resolve_kind("batch/v1", "Job").await.unwrap();
        cluster
            .delete_object(&rk, Some("demo"), "migrate", &Default::default())
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_wait_says_why_it_cannot_read_a_log_and_carries_on() {
    let (_srv, cluster) = setup().await;
    let script = "attempts:\n- logs: [{line: 'migrating', after_ms: 10}]\n  run_ms: 4500\n";
    let run = migrate_wait(
        &cluster,
        migrate_job_with_sidecar(script),
        json!({"container": "nope"}),
    )
    .await;
    run.assert_ok();
    assert!(
        run.lines.iter().any(|l| l
            .starts_with("[migrate-wait] cannot read the log of pod migrate-")
            && l.contains("nope")),
        "{}",
        run.dump()
    );
    assert_eq!(
        run.shown().last().map(String::as_str),
        Some("[migrate-wait] Migration complete")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_wait_rides_out_server_errors_and_dropped_watches() {
    // Requests answer 500 and watches are cut, and the client does not retry: the faults
    // reach the host's follower (`setup_faulty`), which watches again.
    let (srv, cluster) = setup_faulty().await;
    let script = ONE_FAILED_ATTEMPT_THEN_MIGRATED;
    let run = migrate_wait(&cluster, migrate_job(script, 4), json!({"timeout": "30s"})).await;
    run.assert_ok();
    // A fault reached the follower: its first list of the pods was refused (seeded per
    // route: the same in every run).
    let faults = srv.injected_faults();
    assert!(
        faults.iter().any(|f| f == "GET /pods list 500"),
        "{faults:?}\n{}",
        run.dump()
    );
    // Both attempts' logs, whatever order the host read them in after a relist (the retry
    // line names the second attempt).
    let pods = run.pods_logged();
    assert_eq!(pods.len(), 2, "{}", run.dump());
    let second = run
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("[migrate-wait] retry 1: attempt 2 of 5 in pod "))
        .unwrap_or_else(|| panic!("no retry line:\n{}", run.dump()));
    let first = pods.iter().find(|p| *p != second).unwrap();
    assert!(
        run.has(&format!("[migrate-wait] [pod/{first}] lock timeout")),
        "{}",
        run.dump()
    );
    assert!(
        run.has(&format!("[migrate-wait] [pod/{second}] migrated 3 tables")),
        "{}",
        run.dump()
    );
    assert_eq!(
        run.shown().last().map(String::as_str),
        Some("[migrate-wait] Migration complete"),
        "{}",
        run.dump()
    );
}

async fn pods_of_job(cluster: &Cluster) -> Vec<String> {
    let rk = cluster.resolve_kind("v1", "Pod").await.unwrap();
    cluster
        .api(&rk, Some("demo"))
        .list(&ListParams::default().labels("job-name=migrate"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect()
}

async fn migrate_cleanup(cluster: &Cluster, grants: Vec<Grant>) -> Run {
    run_hook(
        cluster,
        "migrate_cleanup",
        "migrate-cleanup",
        Some(migrate_target()),
        serde_json::Value::Null,
        grants,
        vec![],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_cleanup_deletes_the_previous_job_with_its_pods() {
    let (_srv, cluster) = setup().await;
    apply(
        &cluster,
        migrate_job(
            "attempts:\n- logs: [{line: 'still running', after_ms: 1}]\n  run_ms: 600000\n",
            4,
        ),
    )
    .await;
    // Wait for the Job controller to start its pod.
    let start = Instant::now();
    while pods_of_job(&cluster).await.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "no pod started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let run = migrate_cleanup(
        &cluster,
        vec![named(grant(&[Verb::Delete], &["jobs.batch"]), &["migrate"])],
    )
    .await;
    run.assert_ok();
    assert!(
        run.has("[migrate-cleanup] job.batch \"migrate\" deleted"),
        "{}",
        run.dump()
    );
    assert!(!job_exists(&cluster).await, "the Job is still there");
    assert_eq!(
        pods_of_job(&cluster).await,
        Vec::<String>::new(),
        "its pods are still there"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_cleanup_is_fine_when_there_is_no_job() {
    let (_srv, cluster) = setup().await;
    let run = migrate_cleanup(&cluster, vec![grant(&[Verb::Delete], &["jobs.batch"])]).await;
    run.assert_ok();
    assert!(
        run.has("[migrate-cleanup] job.batch \"migrate\" not found: nothing to clean up"),
        "{}",
        run.dump()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_cleanup_cannot_delete_without_its_grant() {
    let (_srv, cluster) = setup().await;
    apply(&cluster, migrate_job("attempts:\n- run_ms: 600000\n", 4)).await;
    let run = migrate_cleanup(&cluster, vec![grant(&[Verb::Get], &["jobs.batch"])]).await;
    let msg = run.failure();
    assert_eq!(
        msg,
        "delete Job/migrate in demo: forbidden: hook migrate-cleanup has no grant to delete jobs.batch migrate in namespace demo: no grant covers it"
    );
    assert!(job_exists(&cluster).await, "the Job was deleted");
}

async fn rollout_wait(cluster: &Cluster, annotations: serde_json::Value) -> Run {
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}, "annotations": annotations},
                    "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}});
    run_hook(
        cluster,
        "rollout_wait",
        "rollout-wait",
        Some(target("web", "deployment", "apps/v1", "Deployment", "web")),
        json!({"timeout": "30s"}),
        vec![
            named(grant(&[Verb::Watch], &["deployments.apps"]), &["web"]),
            grant(&[Verb::Watch], &["pods"]),
        ],
        vec![deployment],
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn rollout_wait_returns_when_the_deployment_is_ready() {
    let (_srv, cluster) = setup().await;
    let run = rollout_wait(&cluster, json!({"kubes.test/ready-after-ms": "200"})).await;
    run.assert_ok();
    assert!(
        run.has("[rollout-wait] Deployment/web in demo rolled out (2 replicas available)"),
        "{}",
        run.dump()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollout_wait_fails_fast_on_progress_deadline_exceeded() {
    let (_srv, cluster) = setup().await;
    let run = rollout_wait(
        &cluster,
        json!({"kubes.test/never-ready": "true", "kubes.test/progress-deadline-ms": "300"}),
    )
    .await;
    assert_eq!(
        run.failure(),
        "Deployment/web in demo rollout failed: ProgressDeadlineExceeded"
    );
    assert!(
        run.elapsed < Duration::from_secs(30),
        "took {:?}",
        run.elapsed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollout_wait_fails_fast_when_a_pod_of_the_rollout_cannot_start() {
    let (_srv, cluster) = setup().await;
    // A pod of the Deployment (its labels) that cannot pull its image; the rollout itself
    // never becomes ready, and its progress deadline is far off.
    apply(
        &cluster,
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-stuck", "namespace": "demo", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:404"}]}}),
    )
    .await;
    let rk = cluster.resolve_kind("v1", "Pod").await.unwrap();
    let waiting = json!({"status": {"phase": "Pending", "containerStatuses": [{"name": "web", "image": "web:404",
        "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"web:404\""}}}]}});
    cluster
        .api(&rk, Some("demo"))
        .patch_status(
            "web-stuck",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&waiting),
        )
        .await
        .unwrap();
    let run = rollout_wait(
        &cluster,
        json!({"kubes.test/never-ready": "true", "kubes.test/progress-deadline-ms": "600000"}),
    )
    .await;
    assert_eq!(
        run.failure(),
        "Deployment/web in demo rollout failed: ImagePullBackOff"
    );
    assert!(
        run.has("[rollout-wait] pod web-stuck cannot start: ImagePullBackOff: Back-off pulling image \"web:404\""),
        "{}",
        run.dump()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_wait_needs_no_events_grant_to_report_its_timeout() {
    let (_srv, cluster) = setup().await;
    let job = migrate_job(
        "attempts:\n- logs: [{line: 'waiting for the db lock', after_ms: 10}]\n  run_ms: 600000\n",
        4,
    );
    let mut grants = wait_grants();
    grants.retain(|g| g.resources != ["events"]);
    let run = run_hook(
        &cluster,
        "migrate_wait",
        "migrate-wait",
        Some(migrate_target()),
        json!({"timeout": "1s"}),
        grants,
        vec![job],
    )
    .await;
    assert_eq!(
        run.failure(),
        "migration Job migrate did not finish within 1s"
    );
    let denials = &run.result.as_ref().unwrap_err().denials;
    assert!(denials.is_empty(), "{denials:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mistake_in_the_hook_config_is_named() {
    let (_srv, cluster) = setup().await;
    let job = migrate_job("attempts:\n- run_ms: 10\n", 4);
    let run = migrate_wait(&cluster, job, json!({"timeout": "5 minutes"})).await;
    let msg = run.failure();
    assert!(
        msg.starts_with(
            "hook migrate-wait: `config` in hooks.yaml: unknown unit `minutes` in `5 minutes`"
        ),
        "{msg}"
    );
    let job = migrate_job("attempts:\n- run_ms: 10\n", 4);
    let run = migrate_wait(&cluster, job, json!({"tail": 5})).await;
    assert!(
        run.failure()
            .contains("unknown field `tail`, expected one of `job`, `timeout`, `tail_lines`"),
        "{}",
        run.failure()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_cleanup_as_a_whole_step_hook_needs_the_job_named() {
    let (_srv, cluster) = setup().await;
    let grants = || vec![named(grant(&[Verb::Delete], &["jobs.batch"]), &["migrate"])];
    let cleanup = |config: serde_json::Value| {
        run_hook(
            &cluster,
            "migrate_cleanup",
            "migrate-cleanup",
            None,
            config,
            grants(),
            vec![],
        )
    };
    let run = cleanup(serde_json::Value::Null).await;
    assert_eq!(
        run.failure(),
        "hook migrate-cleanup has no Job to work on: it is a whole-step hook (no `on:`); name one in its config"
    );
    let run = cleanup(json!({"job": "migrate"})).await;
    run.assert_ok();
    assert!(
        run.has("[migrate-cleanup] job.batch \"migrate\" not found: nothing to clean up"),
        "{}",
        run.dump()
    );
}
