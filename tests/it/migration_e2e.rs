//! Story: the seed's migration flow, end to end. A team deploys `examples/migration` as it is
//! in the repository — its `.kubes/config/hooks.yaml` wiring `migrate-cleanup` before and
//! `migrate-wait` after `migrate/job` (and `rollout-wait` after `web/deployment`), each with
//! only the grants it needs — with the real `kubes` binary against the test API server,
//! whose Job controller plays the migration script of the example's `migrate/job` layers.
//!
//! - The normal run goes the seed's way: namespace, cleanup hook, Job created, the wait hook
//!   streaming the migration's log (prefixed with the pod) through a failed first attempt
//!   and its retry, "Migration complete", then the web Service and Deployment; exit 0.
//! - A migration that succeeds at once shows no retry.
//! - The failing run (`--env failing`) stops as soon as the Job fails: the reason
//!   (BackoffLimitExceeded) and the last log lines are printed, the exit code is non-zero,
//!   the summary says what was and was not applied, and the web Service and Deployment
//!   never reach the cluster.
//! - `kubes plan` shows the hooks around the Job and the Deployment; `kubes hooks list`
//!   shows each hook's few grants.
//! - Deploying again works: the cleanup hook deletes the finished Job, so the immutable Job
//!   template is created afresh instead of answered with a 422.
//!
//! Real components (examples/hooks built for wasm32-wasip2) in the real binary; the state is
//! checked with the real kubectl.

use std::time::{Duration, UNIX_EPOCH};

use crate::cluster_common::{kubectl_json, Deploy, Server};
use crate::common::{self, copy_project, repo, write};
use crate::hooks_support;

/// `examples/migration` as committed, with its hooks freshly built from examples/hooks at
/// the paths its hooks.yaml names (what scripts/build-hooks does).
fn migration_app() -> tempfile::TempDir {
    let project = copy_project(&repo().join("examples/migration"));
    hooks_support::install_migration_hooks(project.path()).unwrap();
    project
}

/// The migration's log lines of the example's normal run (`migrate/job/base.yaml`).
const FIRST_ATTEMPT: [&str; 3] = [
    "connecting to postgres://db:5432/demo",
    "waiting for the schema_migrations lock",
    "lock held by another session after 0.3s, giving up",
];
const SECOND_ATTEMPT: [&str; 6] = [
    "connecting to postgres://db:5432/demo",
    "took the schema_migrations lock",
    "== 20261120101500 CreateOrders: migrating",
    "== 20261120101500 CreateOrders: migrated (0.21s)",
    "== 20261201093000 AddIndexOnOrdersEmail: migrating",
    "== 20261201093000 AddIndexOnOrdersEmail: migrated (0.18s)",
];

/// Names of the migrate Job's pods in the order the Job controller created them, from its
/// `SuccessfulCreate` events (pod names are generated; creation timestamps have only second
/// precision, event resource versions grow with every write).
fn migrate_pods(srv: &Server) -> Vec<String> {
    let events = kubectl_json(
        srv.kubeconfig(),
        &[
            "get",
            "events",
            "-n",
            "demo",
            "--field-selector",
            "involvedObject.name=migrate,reason=SuccessfulCreate",
        ],
    )
    .unwrap();
    let mut created: Vec<(u64, String)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let version = e["metadata"]["resourceVersion"].as_str().unwrap();
            let message = e["message"].as_str().unwrap();
            let pod = message
                .strip_prefix("Created pod: ")
                .unwrap_or_else(|| panic!("{message}"));
            (version.parse().unwrap(), pod.to_string())
        })
        .collect();
    created.sort();
    created.into_iter().map(|(_, pod)| pod).collect()
}

fn job_status(srv: &Server) -> serde_json::Value {
    kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"])
        .expect("the migrate Job exists")["status"]
        .clone()
}

#[test]
fn the_migration_runs_between_the_namespace_and_the_web_streaming_its_log_through_a_retry() {
    let srv = Server::start();
    let project = migration_app();
    let run = Deploy::run(&srv, project.path(), &["deploy"]);
    assert_eq!(run.code, 0, "{}", run.show());

    // Both attempts' pods, in the order the Job controller created them (their names are
    // generated, so they are read back from the cluster).
    let pods = migrate_pods(&srv);
    assert_eq!(pods.len(), 2, "{pods:?}\n{}", run.show());
    let (first, second) = (&pods[0], &pods[1]);

    let mut flow = vec![
        "namespace/demo created".to_string(),
        "[migrate-cleanup] job.batch \"migrate\" not found: nothing to clean up".into(),
        "job.batch/migrate created".into(),
        "[migrate-wait] Waiting for Job/migrate (timeout 300s)".into(),
    ];
    flow.extend(
        FIRST_ATTEMPT
            .iter()
            .map(|l| format!("[migrate-wait] [pod/{first}] {l}")),
    );
    flow.push(format!(
        "[migrate-wait] pod {first} failed: container exited with code 1: could not take the schema_migrations lock"
    ));
    flow.push(format!(
        "[migrate-wait] retry 1: attempt 2 of 5 in pod {second}"
    ));
    flow.extend(
        SECOND_ATTEMPT
            .iter()
            .map(|l| format!("[migrate-wait] [pod/{second}] {l}")),
    );
    flow.extend([
        "[migrate-wait] Migration complete".into(),
        "service/web created".into(),
        "deployment.apps/web created".into(),
        "[rollout-wait] Deployment/web rolled out (1 replicas available)".into(),
    ]);
    // Exactly these lines, in this order: nothing else is applied, nothing printed twice.
    let wanted: Vec<&str> = flow.iter().map(String::as_str).collect();
    assert_eq!(run.flow(), wanted, "{}", run.show());
    // The apply of each file is announced before its objects.
    run.assert_in_order(&[
        "=> apply .kubes/output/shared/namespace.yaml",
        "=> hook migrate-cleanup (hooks/migrate-cleanup.wasm)",
        "=> apply .kubes/output/migrate/job.yaml",
        "=> hook migrate-wait (hooks/migrate-wait.wasm)",
        "=> apply .kubes/output/web/service.yaml",
        "=> apply .kubes/output/web/deployment.yaml",
        "=> hook rollout-wait (hooks/rollout-wait.wasm)",
    ]);
    // No hook asked for more than its grants.
    assert!(!run.stderr.contains("forbidden"), "{}", run.show());

    // The cluster, as the real kubectl sees it.
    let status = job_status(&srv);
    assert_eq!(status["succeeded"], 1, "{status}");
    assert_eq!(status["failed"], 1, "{status}");
    let conditions = status["conditions"].to_string();
    assert!(conditions.contains(r#""type":"Complete""#), "{conditions}");
    let web = kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"],
    )
    .unwrap();
    assert_eq!(web["status"]["availableReplicas"], 1, "{web}");
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_some());
}

#[test]
fn a_migration_that_succeeds_at_once_reports_no_retry() {
    let srv = Server::start();
    let project = migration_app();
    // The dev env's layer over the example's script: one attempt, and it migrates.
    write(
        project.path(),
        ".kubes/resources/migrate/job/dev.yaml",
        r#"spec:
  template:
    metadata:
      annotations:
        kubes.test/script: |
          attempts:
          - logs:
            - {line: "connecting to postgres://db:5432/demo", after_ms: 50}
            - {line: "== 20261120101500 CreateOrders: migrated (0.21s)", after_ms: 100}
"#,
    );
    let run = Deploy::run(&srv, project.path(), &["deploy"]);
    assert_eq!(run.code, 0, "{}", run.show());
    let pods = migrate_pods(&srv);
    assert_eq!(pods.len(), 1, "{pods:?}");
    run.assert_in_order(&[
        "job.batch/migrate created",
        &format!(
            "[migrate-wait] [pod/{}] connecting to postgres://db:5432/demo",
            pods[0]
        ),
        &format!(
            "[migrate-wait] [pod/{}] == 20261120101500 CreateOrders: migrated (0.21s)",
            pods[0]
        ),
        "[migrate-wait] Migration complete",
        "deployment.apps/web created",
    ]);
    assert!(!run.stdout.contains("retry"), "{}", run.show());
    assert!(!run.stdout.contains("failed"), "{}", run.show());
    assert_eq!(job_status(&srv)["failed"], serde_json::Value::Null);
}

/// The example's failing migration (`migrate/job/failing.yaml`): every attempt logs three
/// lines and exits 1; `backoffLimit: 4` allows five attempts.
const FAILING_LINES: [&str; 3] = [
    "connecting to postgres://db:5432/demo",
    "== 20261201093000 AddIndexOnOrdersEmail: migrating",
    "PG::UndefinedColumn: ERROR: column \"email\" does not exist",
];

#[test]
fn a_failing_migration_stops_the_deploy_when_the_job_fails_and_the_web_is_never_applied() {
    let srv = Server::start();
    let project = migration_app();
    let run = Deploy::run(&srv, project.path(), &["--env", "failing", "deploy"]);
    assert_ne!(run.code, 0, "{}", run.show());
    assert_eq!(run.code, 1, "{}", run.show());

    let pods = migrate_pods(&srv);
    assert_eq!(pods.len(), 5, "backoffLimit 4: five attempts; {pods:?}");
    let last = pods.last().unwrap();
    let mut wanted: Vec<String> = vec![
        "namespace/demo created".into(),
        "[migrate-cleanup] job.batch \"migrate\" not found: nothing to clean up".into(),
        "job.batch/migrate created".into(),
    ];
    // Every attempt's log streams, each failure and retry reported.
    for (i, pod) in pods.iter().enumerate() {
        if i > 0 {
            wanted.push(format!(
                "[migrate-wait] retry {i}: attempt {} of 5 in pod {pod}",
                i + 1
            ));
        }
        wanted.extend(
            FAILING_LINES
                .iter()
                .map(|l| format!("[migrate-wait] [pod/{pod}] {l}")),
        );
        wanted.push(format!(
            "[migrate-wait] pod {pod} failed: container exited with code 1"
        ));
    }
    wanted.push("[migrate-wait] Migration failed: BackoffLimitExceeded".into());
    wanted.push("[migrate-wait] Termination message: migration 20261201093000 failed: column \"email\" does not exist".into());
    wanted.push("[migrate-wait] Last log lines".into());
    wanted.extend(
        FAILING_LINES
            .iter()
            .map(|l| format!("[migrate-wait]   [pod/{last}] {l}")),
    );
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    run.assert_in_order(&wanted);
    // The report is about the last attempt, whose own update may arrive after the Job's.
    assert!(
        run.stdout.contains(&format!(
            "Migration failed: BackoffLimitExceeded: Job has reached the specified backoff limit (pod {last}, exit code 1)"
        )),
        "{}",
        run.show()
    );
    // The last lines are the last pod's.
    assert!(
        run.stdout
            .contains(&format!("[pod/{last}] PG::UndefinedColumn")),
        "{}",
        run.show()
    );

    // Nothing of the web role was applied, or even attempted.
    for never in [
        "service/web",
        "deployment.apps/web",
        "rollout-wait",
        "Migration complete",
    ] {
        assert!(!run.stdout.contains(never), "{never} in:\n{}", run.show());
    }
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"]
    )
    .is_none());
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_none());

    // The error names the hook and the reason; the summary says what was and was not applied.
    assert!(
        run.stderr.contains("hook migrate-wait failed at after apply on migrate/job: returned an error: migration Job migrate failed: BackoffLimitExceeded"),
        "{}",
        run.show()
    );
    let summary = &run.stderr[run.stderr.find("apply stopped").expect("a summary")..];
    assert_eq!(
        summary,
        "apply stopped at .kubes/output/migrate/job.yaml\n\
         \x20 done (2):\n\
         \x20   namespace/demo created\n\
         \x20   job.batch/migrate created\n\
         \x20 failed: hook migrate-wait failed at after apply on migrate/job: returned an error: migration Job migrate failed: BackoffLimitExceeded\n\
         \x20 not attempted (2):\n\
         \x20   .kubes/output/web/service.yaml\n\
         \x20   .kubes/output/web/deployment.yaml\n",
        "{}",
        run.show()
    );

    // It ended when the Job failed, not at migrate-wait's 300 s timeout. The Job's Failed
    // condition has second precision; the margin is generous so a loaded machine passes.
    let status = job_status(&srv);
    assert_eq!(status["failed"], 5, "{status}");
    let failed_at = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failed")
        .unwrap_or_else(|| panic!("no Failed condition: {status}"));
    assert_eq!(failed_at["reason"], "BackoffLimitExceeded");
    let failed_at = unix_seconds(failed_at["lastTransitionTime"].as_str().unwrap());
    let ended = run.ended.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let after_failure = ended - failed_at;
    assert!(
        after_failure < 10.0,
        "kubes exited {after_failure:.1} s after the Job's Failed condition\n{}",
        run.show()
    );
    assert!(run.elapsed < Duration::from_secs(60), "{}", run.show());
}

#[test]
fn deploying_again_replaces_the_finished_migration_job_instead_of_a_422() {
    let srv = Server::start();
    let project = migration_app();
    let first = Deploy::run(&srv, project.path(), &["deploy"]);
    assert_eq!(first.code, 0, "{}", first.show());
    let uid_before = kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"])
        .unwrap()["metadata"]["uid"]
        .clone();

    // A new image changes the Job's pod template, which Kubernetes never updates in place.
    let again = Deploy::run(&srv, project.path(), &["deploy", "--image", "demo/web:2"]);
    assert_eq!(again.code, 0, "{}", again.show());
    again.assert_in_order(&[
        "namespace/demo unchanged",
        "[migrate-cleanup] job.batch \"migrate\" deleted",
        "job.batch/migrate created",
        "[migrate-wait] Migration complete",
        "service/web unchanged",
        "deployment.apps/web configured",
        "[rollout-wait] Deployment/web rolled out (1 replicas available)",
    ]);
    assert!(
        !again.stderr.contains("422") && !again.stderr.contains("immutable"),
        "{}",
        again.show()
    );
    let job = kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"]).unwrap();
    assert_ne!(job["metadata"]["uid"], uid_before, "a new Job");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["image"],
        "demo/web:2"
    );
    // Only the new Job's pods are left: the old ones went with their Job.
    let pods = kubectl_json(
        srv.kubeconfig(),
        &["get", "pods", "-n", "demo", "-l", "job-name=migrate"],
    )
    .unwrap();
    let owners: Vec<&serde_json::Value> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["metadata"]["ownerReferences"][0]["uid"])
        .collect();
    assert_eq!(
        owners, [&job["metadata"]["uid"]; 2],
        "the new Job's two attempts"
    );
}

#[test]
fn the_plan_shows_the_seeds_hooks_around_the_migration_job() {
    let project = migration_app();
    let out = common::stdout(common::kubes(project.path()).arg("plan"));
    assert_eq!(
        out,
        "shared/namespace  Namespace/demo\n\
         migrate/job       hook migrate-cleanup (before apply, hooks/migrate-cleanup.wasm)\n\
         migrate/job       Job/migrate  (namespace demo)\n\
         \x20                 hook migrate-wait (after apply, hooks/migrate-wait.wasm)\n\
         web/service       Service/web  (namespace demo)\n\
         web/deployment    Deployment/web  (namespace demo)\n\
         \x20                 hook rollout-wait (after apply, hooks/rollout-wait.wasm)\n"
    );
    // Each hook holds only the grants it uses.
    let list = common::stdout(common::kubes(project.path()).args(["hooks", "list"]));
    let grants: Vec<&str> = list
        .lines()
        .filter(|l| l.contains("grants:") || l.starts_with("           "))
        .map(str::trim)
        .collect();
    assert_eq!(
        grants,
        [
            "grants:  delete jobs.batch names=migrate",
            "grants:  watch jobs.batch names=migrate",
            "watch,logs pods",
            "grants:  watch deployments.apps names=web",
            "watch pods",
        ],
        "{list}"
    );
}

/// `YYYY-MM-DDTHH:MM:SSZ` as seconds since the epoch.
fn unix_seconds(ts: &str) -> f64 {
    let n = |r: std::ops::Range<usize>| ts[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (hh, mm, ss) = (n(11..13), n(14..16), n(17..19));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + hh * 3600 + mm * 60 + ss) as f64
}
