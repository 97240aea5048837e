//! Story: a team adds WASM hooks to the migration app's `.kubes/config/hooks.yaml` and
//! deploys with `kubes deploy`. Step hooks run once around the whole step, per-file hooks
//! around their file only, in declaration order; each hook's output appears prefixed with
//! its name; its config reaches it; a failing hook with `exit_on_fail: false` lets the
//! deploy go on, one with the default stops it, naming the hook and the point.

use crate::cluster_common::{kubectl_json, Server};
use crate::common::{seed_app, write};
use crate::hooks_support;

const HOOKS: &str = r#"
hooks:
  - name: announce
    before: apply
    module: hooks/probe.wasm
  - name: cleanup
    before: apply
    on: migrate/job
    module: hooks/probe.wasm
    exit_on_fail: false
    config:
      get: { apiVersion: batch/v1, kind: Job, name: migrate }
    grants:
      - { verbs: [get], resources: [jobs.batch] }
  - name: check-job
    after: apply
    on: "migrate/*"
    module: hooks/probe.wasm
    config:
      get: { apiVersion: batch/v1, kind: Job, name: migrate }
    grants:
      - { verbs: [get], resources: [jobs.batch], names: [migrate] }
  - name: web-ready
    after: apply
    on: web/deployment
    module: hooks/probe.wasm
    config: { stderr: "web is rolling" }
  - name: done
    after: apply
    module: hooks/probe.wasm
"#;

fn project_with_hooks(hooks_yaml: &str) -> tempfile::TempDir {
    let project = seed_app();
    std::fs::create_dir_all(project.path().join("hooks")).unwrap();
    std::fs::copy(
        hooks_support::guest("hook_probe"),
        project.path().join("hooks/probe.wasm"),
    )
    .unwrap();
    write(project.path(), ".kubes/config/hooks.yaml", hooks_yaml);
    project
}

#[test]
fn hooks_run_at_every_point_in_order_around_the_right_files() {
    let srv = Server::start();
    let project = project_with_hooks(HOOKS);
    let cache = tempfile::tempdir().unwrap();
    let out = srv
        .kubes(project.path())
        .env("KUBES_CACHE_DIR", cache.path())
        .arg("deploy")
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // The apply walk prints each file's block when the file's objects are done, so hook
    // lines and apply lines are compared apart. When a hook ran
    // is proven by what it saw: the before-hook found no Job, the after-hook found it.
    let hook_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            !l.contains("info: config") && !l.starts_with("=> apply") && !l.ends_with(" created")
        })
        .collect();
    let apply_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("=> apply") || l.ends_with(" created"))
        .collect();
    let uid = kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"]).unwrap()
        ["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let expected = vec![
        "Running hook: before apply".to_string(),
        "=> hook announce (hooks/probe.wasm)".into(),
        "[announce] probe announce at before apply on whole step app=demo env=dev ns=demo dry_run=false".into(),
        "Running hook: before apply on: migrate/job".into(),
        "=> hook cleanup (hooks/probe.wasm)".into(),
        "[cleanup] probe cleanup at before apply on migrate/job (1 objects) app=demo env=dev ns=demo dry_run=false".into(),
        "hook cleanup failed at before apply on migrate/job (exit_on_fail: false, continuing): returned an error: get Job/migrate failed: ClusterError::NotFound".into(),
        "Running hook: after apply on: migrate/job".into(),
        "=> hook check-job (hooks/probe.wasm)".into(),
        "[check-job] probe check-job at after apply on migrate/job (1 objects) app=demo env=dev ns=demo dry_run=false".into(),
        format!("[check-job] got Job/migrate uid={uid}"),
        "Running hook: after apply on: web/deployment".into(),
        "=> hook web-ready (hooks/probe.wasm)".into(),
        "[web-ready] probe web-ready at after apply on web/deployment (1 objects) app=demo env=dev ns=demo dry_run=false".into(),
        "Running hook: after apply".into(),
        "=> hook done (hooks/probe.wasm)".into(),
        "[done] probe done at after apply on whole step app=demo env=dev ns=demo dry_run=false".into(),
    ];
    assert_eq!(hook_lines, expected, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        apply_lines,
        [
            "=> apply .kubes/output/shared/namespace.yaml",
            "namespace/demo created",
            "=> apply .kubes/output/migrate/job.yaml",
            "job.batch/migrate created",
            "=> apply .kubes/output/web/service.yaml",
            "service/web created",
            "=> apply .kubes/output/web/deployment.yaml",
            "deployment.apps/web created"
        ]
    );
    // Config reaches the guest as JSON; stderr lines are prefixed too.
    assert!(stdout.contains(r#"[check-job] info: config {"get":{"apiVersion":"batch/v1","kind":"Job","name":"migrate"}}"#), "{stdout}");
    assert!(stderr.contains("[web-ready] web is rolling"), "{stderr}");
}

#[test]
fn a_failing_hook_stops_the_deploy_naming_hook_and_point() {
    let srv = Server::start();
    let project = project_with_hooks(
        "hooks:\n  - name: gate\n    before: apply\n    on: web/*\n    module: hooks/probe.wasm\n    config: { fail: \"migrations pending\" }\n",
    );
    let out = srv
        .kubes(project.path())
        .arg("deploy")
        .assert()
        .failure()
        .get_output()
        .clone();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("hook gate failed at before apply on web/service: returned an error: migrations pending"), "{all}");
    assert!(!all.contains("service/web created"), "{all}");
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_none());
}

#[test]
fn a_missing_module_stops_the_deploy_before_anything_is_applied() {
    let srv = Server::start();
    let project = project_with_hooks("hooks:\n  - name: wait\n    after: apply\n    on: migrate/job\n    module: hooks/migrate_wait.wasm\n");
    let out = srv
        .kubes(project.path())
        .arg("deploy")
        .assert()
        .failure()
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hook wait (after apply on migrate/job): module"),
        "{err}"
    );
    assert!(
        err.contains("hooks/migrate_wait.wasm does not exist"),
        "{err}"
    );
    assert!(kubectl_json(srv.kubeconfig(), &["get", "namespace", "demo"]).is_none());
}

#[test]
fn a_hook_that_loops_forever_is_stopped_at_its_timeout_and_the_deploy_says_so() {
    let srv = Server::start();
    let project = project_with_hooks(
        "hooks:\n  - name: stuck\n    after: apply\n    on: migrate/job\n    module: hooks/spin.wasm\n    timeout: 1s\n",
    );
    std::fs::copy(
        hooks_support::guest("hostile_spin"),
        project.path().join("hooks/spin.wasm"),
    )
    .unwrap();
    let out = srv
        .kubes(project.path())
        .arg("deploy")
        .assert()
        .failure()
        .get_output()
        .clone();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("hook stuck failed at after apply on migrate/job: deadline exceeded: stopped after its timeout of 1s"),
        "{all}"
    );
    // What ran before the hook is reported applied; what follows it was never attempted.
    assert!(all.contains("job.batch/migrate created"), "{all}");
    assert!(!all.contains("deployment.apps/web created"), "{all}");
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"]
    )
    .is_none());
}

#[test]
fn a_stuck_hook_with_exit_on_fail_false_lets_the_deploy_finish() {
    let srv = Server::start();
    let project = project_with_hooks(
        "hooks:\n  - name: stuck\n    after: apply\n    on: migrate/job\n    module: hooks/spin.wasm\n    timeout: 500ms\n    exit_on_fail: false\n",
    );
    std::fs::copy(
        hooks_support::guest("hostile_spin"),
        project.path().join("hooks/spin.wasm"),
    )
    .unwrap();
    let out = srv
        .kubes(project.path())
        .arg("deploy")
        .assert()
        .success()
        .get_output()
        .clone();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("hook stuck failed at after apply on migrate/job (exit_on_fail: false, continuing): deadline exceeded"), "{all}");
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"]
    )
    .is_some());
}
