//! Story: a team writes its hooks in Python and JavaScript instead of Rust, against the same
//! `wit/` contract, and they do the migration chores as well as the Rust ones.
//!
//! - The Python `migrate-wait` (examples/hooks-py, componentize-py) streams the migrate Job's
//!   pod logs prefixed with the pod name and says "Migration complete", waiting in
//!   `wasi:io/poll`, not in a busy loop. A container that restarts in place
//!   (`restartPolicy: OnFailure`) is a retry too. What it prints on retries, failures, pull
//!   errors and deadlines is the contract every language's migrate-wait holds to
//!   (`migrate_wait_contract`), so it is not told again here.
//! - The JavaScript `annotate-deployment` (examples/hooks-js, componentize-js) writes the
//!   migration's outcome on the web Deployment as an annotation (seen by the real kubectl),
//!   and cannot do so without its grant; a config mistake is named.
//! - At its own timeout the Python wait shows the last lines, woken by its timer; the host's follower rides out server errors and dropped watches for it;
//!   a config mistake is named. The wait is policy only: the Python SDK (hooks-sdk-py,
//!   `kubes_hook.follow_job`) hands on the events the host follows.
//! - `kubes hooks inspect` says both components fit the hook world (no wasi:http).
//! - `kubes deploy` of the migration app runs both, wired in hooks.yaml; when the migration
//!   fails, the deploy stops at once and the web Deployment is never applied.
//!
//! The components are built by the examples' own build scripts (pinned tools, bounded) and
//! run by the real engine against the test API server.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::cluster_common::{kubectl_json, Deploy, Server};
use crate::common::{hook_engine, kubes_bin, seed_app, write};
use crate::hooks_support::polyglot;
use crate::hooks_support::scenario::{
    self, apply, grant, migrate_job, migrate_target, named, setup, setup_faulty, target,
    wait_grants, Run, ONE_FAILED_ATTEMPT_THEN_MIGRATED,
};
use kubes::cluster::Cluster;
use kubes::hooks::host::Target;
use kubes::hooks::{Grant, HookEngine, LoadedHook, Verb};
use kubes::lifecycle::When;
use serde_json::json;

/// One engine for the whole run: each component is compiled once, not once per story, into
/// the run's hook cache, where the `kubes deploy` stories find it compiled.
fn engine() -> &'static HookEngine {
    static ENGINE: OnceLock<HookEngine> = OnceLock::new();
    ENGINE.get_or_init(hook_engine)
}

fn python_wait() -> LoadedHook {
    static HOOK: OnceLock<LoadedHook> = OnceLock::new();
    HOOK.get_or_init(|| engine().load(&polyglot().python_migrate_wait).unwrap())
        .clone()
}

fn js_annotate() -> LoadedHook {
    static HOOK: OnceLock<LoadedHook> = OnceLock::new();
    HOOK.get_or_init(|| engine().load(&polyglot().js_annotate_deployment).unwrap())
        .clone()
}

fn web_deployment() -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "demo/web:1"}]}}}})
}

/// What the JavaScript annotate-deployment needs (examples/hooks-js/README.md).
fn annotate_grants() -> Vec<Grant> {
    vec![
        named(grant(&[Verb::Get], &["jobs.batch"]), &["migrate"]),
        named(grant(&[Verb::Apply], &["deployments.apps"]), &["web"]),
    ]
}

/// Run `hook` (loaded once per run) after apply of `target` with the Python/JS
/// example's memory (256 MiB: their runtimes are bigger than a Rust guest); `objects` are
/// applied just before it runs (`scenario::run`).
async fn run_hook(
    cluster: &Cluster,
    hook: LoadedHook,
    name: &str,
    target: Target,
    config: serde_json::Value,
    grants: Vec<Grant>,
    objects: Vec<serde_json::Value>,
) -> Run {
    let mut inv =
        scenario::cluster_invocation(cluster, name, When::After, Some(target), config, grants);
    inv.memory = 256 << 20;
    scenario::run(cluster, engine(), &hook, inv, objects).await
}

async fn python_migrate_wait(
    cluster: &Cluster,
    job: serde_json::Value,
    config: serde_json::Value,
) -> Run {
    let hook = python_wait();
    run_hook(
        cluster,
        hook,
        "migrate-wait",
        migrate_target(),
        config,
        wait_grants(),
        vec![job],
    )
    .await
}

/// The wake-up count the Python SDK reports (debug) when its `follow_job` ends.
fn wakeups(run: &Run) -> u32 {
    run.lines
        .iter()
        .find_map(|l| l.strip_prefix("[migrate-wait] debug: follow Job/migrate: "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no wake-up count:\n{}", run.dump()))
}

#[tokio::test(flavor = "multi_thread")]
async fn python_migrate_wait_streams_the_logs_and_reports_success_first_try() {
    let (_srv, cluster) = setup().await;
    let script = "attempts:\n- logs:\n  - {line: 'Sun Oct 11 03:22:35 UTC 2020', after_ms: 50}\n  - {line: 'migrated 3 tables', after_ms: 300}\n";
    let run =
        python_migrate_wait(&cluster, migrate_job(script, 4), json!({"timeout": "30s"})).await;
    run.assert_ok();
    let pods = run.pods_logged();
    assert_eq!(pods.len(), 1, "{}", run.dump());
    let pod = &pods[0];
    let started = run.line_index("[migrate-wait] Waiting for Job/migrate (timeout 30s)");
    let first = run.line_index(&format!(
        "[migrate-wait] [pod/{pod}] Sun Oct 11 03:22:35 UTC 2020"
    ));
    let second = run.line_index(&format!("[migrate-wait] [pod/{pod}] migrated 3 tables"));
    let done = run.line_index("[migrate-wait] Migration complete");
    assert!(
        started < first && first < second && second < done,
        "{}",
        run.dump()
    );
    assert!(
        !run.lines.iter().any(|l| l.contains("retry")),
        "{}",
        run.dump()
    );
    // It waited in poll, it did not spin: a handful of wake-ups (watch events, two log
    // lines, the end of the log) over the ~0.5 s the Job ran.
    assert!(
        wakeups(&run) < 50,
        "{} wake-ups:\n{}",
        wakeups(&run),
        run.dump()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn python_migrate_wait_follows_a_container_restarting_in_place() {
    let (_srv, cluster) = setup().await;
    let script = ONE_FAILED_ATTEMPT_THEN_MIGRATED;
    let mut job = migrate_job(script, 4);
    job["spec"]["template"]["spec"]["restartPolicy"] = json!("OnFailure");
    let run = python_migrate_wait(&cluster, job, json!({"timeout": "30s"})).await;
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
        "[migrate-wait] Waiting for Job/migrate (timeout 30s)".to_string(),
        format!("[migrate-wait] [pod/{pod}] connecting to db"),
        format!("[migrate-wait] [pod/{pod}] lock timeout"),
        format!("[migrate-wait] pod {pod} failed: container exited with code 1: could not take the migration lock"),
        // A restart in place is the next attempt, in the same pod (the contract's retry line).
        format!("[migrate-wait] retry 1: attempt 2 of 5 in pod {pod}"),
        format!("[migrate-wait] [pod/{pod}] connecting to db"),
        format!("[migrate-wait] [pod/{pod}] migrated 3 tables"),
        "[migrate-wait] Migration complete".to_string(),
    ];
    assert_eq!(run.shown(), expected, "{}", run.dump());
}

#[tokio::test(flavor = "multi_thread")]
async fn python_migrate_wait_times_out_with_the_last_lines() {
    let (_srv, cluster) = setup().await;
    let job = migrate_job(
        "attempts:\n- logs: [{line: 'waiting for the db lock', after_ms: 10}]\n  run_ms: 600000\n",
        4,
    );
    let run = python_migrate_wait(&cluster, job, json!({"timeout": "1500ms"})).await;
    let msg = run.failure();
    assert_eq!(msg, "migration Job migrate did not finish within 1.5s");
    assert!(
        run.has("[migrate-wait] Migration still running after 1.5s"),
        "{}",
        run.dump()
    );
    let pods = run.pods_logged();
    let title = run.line_index("[migrate-wait] Last log lines (1):");
    assert_eq!(
        run.lines[title + 1],
        format!("[migrate-wait]   [pod/{}] waiting for the db lock", pods[0])
    );
    // 1.5 s of waiting on a pod that prints one line: the timer, not a spin, woke it.
    assert!(
        wakeups(&run) < 50,
        "{} wake-ups:\n{}",
        wakeups(&run),
        run.dump()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn python_migrate_wait_rides_out_server_errors_and_dropped_watches() {
    // Requests answer 500 and watches are cut, and the client does not retry
    // (`setup_faulty`, its faults seeded per route): the follower's first list of pods is
    // refused, so it sees them only after a back-off, by a new list (the first attempt may
    // have ended unseen by then), or in the list it reads once the outcome is known. The
    // hook sees none of it: each attempt whole and in order.
    let (srv, cluster) = setup_faulty().await;
    let script = ONE_FAILED_ATTEMPT_THEN_MIGRATED;
    let run =
        python_migrate_wait(&cluster, migrate_job(script, 4), json!({"timeout": "30s"})).await;
    run.assert_ok();
    // The fault reached the follower: its first list of the pods (the route's first request)
    // was refused.
    let faults = srv.injected_faults();
    assert_eq!(
        faults.iter().find(|f| f.starts_with("GET /pods list")),
        Some(&"GET /pods list 500".to_string()),
        "{faults:?}\n{}",
        run.dump()
    );
    let requests = srv.requests();
    let pods = run.pods_logged();
    assert_eq!(pods.len(), 2, "{}", run.dump());
    let (first, second) = (&pods[0], &pods[1]);
    let phase = |pod: &str| {
        srv.object("", "pods", Some("demo"), pod)
            .map(|p| p["status"]["phase"].clone())
    };
    assert_eq!(phase(first), Some(json!("Failed")), "{}", run.dump());
    let expected = [
        "[migrate-wait] Waiting for Job/migrate (timeout 30s)".to_string(),
        format!("[migrate-wait] [pod/{first}] connecting to db"),
        format!("[migrate-wait] [pod/{first}] lock timeout"),
        format!("[migrate-wait] pod {first} failed: container exited with code 1: could not take the migration lock"),
        format!("[migrate-wait] retry 1: attempt 2 of 5 in pod {second}"),
        format!("[migrate-wait] [pod/{second}] connecting to db"),
        format!("[migrate-wait] [pod/{second}] migrated 3 tables"),
        "[migrate-wait] Migration complete".to_string(),
    ];
    assert_eq!(
        run.shown(),
        expected,
        "{}\nrequests:\n{}",
        run.dump(),
        requests
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn python_migrate_wait_names_a_mistake_in_its_config() {
    let (_srv, cluster) = setup().await;
    let job = migrate_job("attempts:\n- run_ms: 10\n", 4);
    let run = python_migrate_wait(&cluster, job, json!({"timeout": "5 minutes"})).await;
    assert_eq!(
        run.failure(),
        "hook migrate-wait: `config` in hooks.yaml: `timeout`: unknown unit `minutes` in `5 minutes`: use ms, s, m or h"
    );
    let run = python_migrate_wait(
        &cluster,
        migrate_job("attempts:\n- run_ms: 10\n", 4),
        json!({"tail": 5}),
    )
    .await;
    assert_eq!(
        run.failure(),
        "hook migrate-wait: `config` in hooks.yaml: unknown field `tail`, expected one of `job`, `timeout`, `tail_lines`, `container`, `pull_grace`"
    );
}

/// Wait (as a test, not a hook) until the migrate Job has finished.
async fn job_finished(cluster: &Cluster) -> serde_json::Value {
    let rk = cluster.resolve_kind("batch/v1", "Job").await.unwrap();
    let start = Instant::now();
    loop {
        let job = cluster
            .get_object(&rk, Some("demo"), "migrate")
            .await
            .unwrap();
        if let Some(job) = job {
            let job = serde_json::to_value(job).unwrap();
            let done = job["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
                })
            });
            if done {
                return job;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the Job never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn js_annotate_deployment(
    cluster: &Cluster,
    config: serde_json::Value,
    grants: Vec<Grant>,
) -> Run {
    let hook = js_annotate();
    run_hook(
        cluster,
        hook,
        "annotate",
        target("web", "deployment", "apps/v1", "Deployment", "web"),
        config,
        grants,
        vec![],
    )
    .await
}

fn annotations(kubeconfig: &Path) -> serde_json::Value {
    let dep = kubectl_json(kubeconfig, &["get", "deployment", "web", "-n", "demo"])
        .expect("the Deployment exists");
    // What kubes applied is still there: the hook's apply carried only its annotation.
    assert_eq!(dep["spec"]["replicas"], 2, "{dep}");
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"], "demo/web:1",
        "{dep}"
    );
    dep["metadata"]["annotations"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn js_annotate_deployment_records_a_complete_migration() {
    let (srv, cluster) = setup().await;
    apply(
        &cluster,
        migrate_job("attempts:\n- logs: [{line: 'migrated', after_ms: 10}]\n", 4),
    )
    .await;
    apply(&cluster, web_deployment()).await;
    let job = job_finished(&cluster).await;
    let completed = job["status"]["completionTime"]
        .as_str()
        .expect("completionTime")
        .to_string();
    let run = js_annotate_deployment(&cluster, serde_json::Value::Null, annotate_grants()).await;
    run.assert_ok();
    let value = format!("complete job/migrate {completed}");
    assert!(
        run.has(&format!(
            "[annotate] annotated Deployment/web in demo: kubes.dev/migration={value}"
        )),
        "{}",
        run.dump()
    );
    // The real kubectl sees it.
    assert_eq!(
        annotations(srv.kubeconfig_path())["kubes.dev/migration"],
        value.as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn js_annotate_deployment_records_why_a_migration_failed() {
    let (srv, cluster) = setup().await;
    let failing = "attempts:\n- logs: [{line: 'boom', after_ms: 10}]\n  exit_code: 1\n";
    apply(&cluster, migrate_job(failing, 0)).await;
    apply(&cluster, web_deployment()).await;
    job_finished(&cluster).await;
    let run = js_annotate_deployment(
        &cluster,
        json!({"job": "migrate", "deployment": "web", "annotation": "example.com/migration"}),
        annotate_grants(),
    )
    .await;
    run.assert_ok();
    let got = annotations(srv.kubeconfig_path());
    let value = got["example.com/migration"]
        .as_str()
        .unwrap_or_else(|| panic!("{got}"));
    assert!(
        value.starts_with("failed job/migrate BackoffLimitExceeded: "),
        "{value}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn js_annotate_deployment_cannot_write_without_its_grant() {
    let (srv, cluster) = setup().await;
    apply(&cluster, migrate_job("attempts:\n- run_ms: 10\n", 4)).await;
    apply(&cluster, web_deployment()).await;
    job_finished(&cluster).await;
    let run = js_annotate_deployment(
        &cluster,
        serde_json::Value::Null,
        vec![named(grant(&[Verb::Get], &["jobs.batch"]), &["migrate"])],
    )
    .await;
    assert_eq!(
        run.failure(),
        "apply Deployment/web in demo: forbidden: hook annotate has no grant to apply deployments.apps web in namespace demo: no grant covers it"
    );
    assert!(annotations(srv.kubeconfig_path())
        .get("kubes.dev/migration")
        .is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn js_annotate_deployment_names_a_mistake_in_its_config() {
    let (_srv, cluster) = setup().await;
    let run = js_annotate_deployment(&cluster, json!({"jobs": "migrate"}), annotate_grants()).await;
    assert_eq!(
        run.failure(),
        "hook annotate: `config` in hooks.yaml: unknown field `jobs`, expected one of `job`, `deployment`, `annotation`"
    );
    let run = js_annotate_deployment(&cluster, json!({"job": 7}), annotate_grants()).await;
    assert_eq!(
        run.failure(),
        "hook annotate: `config` in hooks.yaml: `job`: expected a name, got 7"
    );
    // No Job yet: said plainly, nothing annotated.
    let run = js_annotate_deployment(&cluster, serde_json::Value::Null, annotate_grants()).await;
    assert_eq!(
        run.failure(),
        "Job/migrate in demo not found: no migration to report (run this hook after the migration)"
    );
}

/// The migration app's hooks, in Python and JavaScript (written over any hooks.yaml the
/// example ships, so this story stays about these two).
const POLYGLOT_HOOKS: &str = r#"
hooks:
  - name: migrate-wait
    after: apply
    on: migrate/job
    module: hooks/migrate_wait_py.wasm
    timeout: 120s
    config: { timeout: 100s, tail_lines: 10 }
    grants:
      - { verbs: [watch], resources: [jobs.batch], names: [migrate] }
      - { verbs: [watch, logs], resources: [pods] }
  - name: annotate
    after: apply
    on: web/deployment
    module: hooks/annotate_deployment.wasm
    config: { job: migrate }
    grants:
      - { verbs: [get], resources: [jobs.batch], names: [migrate] }
      - { verbs: [apply], resources: [deployments.apps], names: [web] }
"#;

const SCRIPTED_JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
spec:
  template:
    metadata:
      annotations:
        kubes.test/script: |
          attempts:
          - logs:
            - {line: "== 20201011 CreateUsers: migrating", after_ms: 100}
            - {line: "== 20201011 CreateUsers: migrated (0.0021s)", after_ms: 200}
    spec:
      containers:
      - name: migrate
        image: <%= docker_image %>
        command: ["bin/job/migrate.sh"]
      restartPolicy: Never
  backoffLimit: 4
"#;

/// `examples/migration` (as `seed_app()`: without its hooks or its migration-script layers,
/// which would replace the script each story writes) with the Python wait and the JavaScript annotation built and wired
/// in (`POLYGLOT_HOOKS`); each story writes its own migrate Job
/// (`.kubes/resources/migrate/job.yaml`).
fn polyglot_migration_app() -> tempfile::TempDir {
    let hooks = polyglot();
    let project = seed_app();
    let dir = project.path();
    std::fs::create_dir_all(dir.join("hooks")).unwrap();
    std::fs::copy(
        &hooks.python_migrate_wait,
        dir.join("hooks/migrate_wait_py.wasm"),
    )
    .unwrap();
    std::fs::copy(
        &hooks.js_annotate_deployment,
        dir.join("hooks/annotate_deployment.wasm"),
    )
    .unwrap();
    write(dir, ".kubes/config/hooks.yaml", POLYGLOT_HOOKS);
    project
}

#[test]
fn kubes_deploy_runs_the_python_wait_and_the_javascript_annotation() {
    let srv = Server::start();
    let project = polyglot_migration_app();
    let dir = project.path();
    write(dir, ".kubes/resources/migrate/job.yaml", SCRIPTED_JOB);
    let run = Deploy::run(&srv, dir, &["deploy"]);
    assert_eq!(run.code, 0, "{}", run.show());
    let (stdout, all) = (&run.stdout, run.show());
    let line = |text: &str| {
        stdout
            .lines()
            .position(|l| l == text)
            .unwrap_or_else(|| panic!("no line {text:?} in:\n{all}"))
    };
    let starts = |prefix: &str, suffix: &str| {
        stdout
            .lines()
            .position(|l| l.starts_with(prefix) && l.ends_with(suffix))
            .unwrap_or_else(|| panic!("no line {prefix}...{suffix} in:\n{all}"))
    };
    // The Python wait streams the migration's log, then says it is complete; only then is
    // the web Deployment applied, and the JavaScript hook annotates it.
    let migrating = starts(
        "[migrate-wait] [pod/migrate-",
        "] == 20201011 CreateUsers: migrating",
    );
    let migrated = starts(
        "[migrate-wait] [pod/migrate-",
        "] == 20201011 CreateUsers: migrated (0.0021s)",
    );
    let complete = line("[migrate-wait] Migration complete");
    let deployment = line("deployment.apps/web created");
    let annotated = starts(
        "[annotate] annotated Deployment/web in demo: kubes.dev/migration=complete job/migrate ",
        "Z",
    );
    assert!(
        migrating < migrated && migrated < complete && complete < deployment,
        "{all}"
    );
    assert!(deployment < annotated, "{all}");
    let job = kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"]).unwrap();
    let dep = kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"],
    )
    .unwrap();
    assert_eq!(
        dep["metadata"]["annotations"]["kubes.dev/migration"],
        format!(
            "complete job/migrate {}",
            job["status"]["completionTime"].as_str().unwrap()
        )
        .as_str(),
        "{dep}"
    );
}

#[test]
fn kubes_hooks_inspect_says_both_components_fit_the_hook_world() {
    let hooks = polyglot();
    for (wasm, own_world_extra) in [
        // The Python hook's world adds the monotonic clock (its wait's timer).
        (
            &hooks.python_migrate_wait,
            Some("wasi:clocks/monotonic-clock@0.2.12"),
        ),
        (&hooks.js_annotate_deployment, None),
    ] {
        let out = kubes_bin()
            .args(["hooks", "inspect"])
            .arg(wasm)
            .assert()
            .success()
            .get_output()
            .clone();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            stdout.contains("hook world: yes (kubes:hook/hook@0.2.0)"),
            "{stdout}"
        );
        assert!(stdout.contains("  func run\n"), "{stdout}");
        for import in ["kubes:hook/cluster@0.2.0", "kubes:hook/log@0.2.0"] {
            assert!(
                stdout.contains(&format!("  instance {import}\n")),
                "{stdout}"
            );
        }
        if let Some(extra) = own_world_extra {
            assert!(
                stdout.contains(&format!("  instance {extra}\n")),
                "{stdout}"
            );
        }
        // Nothing a hook host must not provide: no wasi:http (componentize-js `-d http
        // fetch-event`), and only WASI 0.2.x, which the host links.
        let imports: Vec<&str> = stdout
            .lines()
            .skip_while(|l| *l != "imports:")
            .take_while(|l| *l != "exports:")
            .filter_map(|l| l.strip_prefix("  instance "))
            .collect();
        assert!(imports.len() > 3, "{stdout}");
        for import in &imports {
            assert!(
                import.starts_with("kubes:hook/")
                    || (import.starts_with("wasi:") && import.contains("@0.2.")),
                "{import} in\n{stdout}"
            );
            assert!(!import.starts_with("wasi:http/"), "{stdout}");
        }
    }
}

#[test]
fn kubes_deploy_stops_when_the_python_wait_sees_the_migration_fail() {
    let srv = Server::start();
    let project = polyglot_migration_app();
    let dir = project.path();
    let failing = SCRIPTED_JOB
        .replace(
            "            - {line: \"== 20201011 CreateUsers: migrated (0.0021s)\", after_ms: 200}\n",
            "            - {line: \"PG::DuplicateTable: relation users already exists\", after_ms: 50}\n            exit_code: 1\n",
        )
        .replace("backoffLimit: 4", "backoffLimit: 1");
    assert_ne!(failing, SCRIPTED_JOB);
    write(dir, ".kubes/resources/migrate/job.yaml", &failing);
    let run = Deploy::run(&srv, dir, &["deploy"]);
    assert_ne!(run.code, 0, "{}", run.show());
    let took = run.elapsed;
    if std::env::var_os("SHOW_HOOK_OUTPUT").is_some() {
        eprintln!("--- kubes deploy failed after {took:?}\n{}", run.stdout);
    }
    let all = run.show();
    // Two short attempts, then the deploy stops on the Job's failure, not at the hook's
    // 100 s timeout (no timed assertion: a first run also compiles the component, 15-20 s).
    assert!(
        !all.contains("deadline exceeded") && !all.contains("timed out after"),
        "took {took:?}\n{all}"
    );
    assert!(
        all.contains("hook migrate-wait failed at after apply on migrate/job: returned an error: migration Job migrate failed: BackoffLimitExceeded"),
        "{all}"
    );
    assert!(
        all.contains("[migrate-wait] retry 1: attempt 2 of 2 in pod migrate-"),
        "{all}"
    );
    assert!(all.contains("[migrate-wait] Last log lines (2):"), "{all}");
    assert!(
        all.contains("] PG::DuplicateTable: relation users already exists"),
        "{all}"
    );
    // The web tier never rolls onto a failed migration, and nothing annotated it.
    assert!(!all.contains("deployment.apps/web created"), "{all}");
    assert!(!all.contains("[annotate]"), "{all}");
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"]
    )
    .is_none());
}
