//! User stories for `kubes apply` and `kubes deploy` against the test API server, with
//! the resulting state checked by the real kubectl.

use crate::cluster_common::{kubectl_json, Server};
use crate::common::{seed_app, write};

#[test]
fn deploying_the_migration_app_creates_then_leaves_unchanged_then_configures() {
    let srv = Server::start();
    let project = seed_app();

    let out = srv
        .kubes(project.path())
        .arg("deploy")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "=> apply .kubes/output/shared/namespace.yaml\nnamespace/demo created\n\
         => apply .kubes/output/migrate/job.yaml\njob.batch/migrate created\n\
         => apply .kubes/output/web/service.yaml\nservice/web created\n\
         => apply .kubes/output/web/deployment.yaml\ndeployment.apps/web created\n"
    );
    let dep = kubectl_json(
        srv.kubeconfig(),
        &[
            "get",
            "deployment",
            "web",
            "-n",
            "demo",
            "--show-managed-fields",
        ],
    )
    .expect("kubectl sees the deployment");
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "demo/web:1"
    );
    assert_eq!(
        dep["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "kubes"
    );
    assert_eq!(dep["metadata"]["labels"]["kubes/app"], "demo");
    assert!(dep["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["manager"] == "kubes" && m["operation"] == "Apply"));
    assert!(kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"]).is_some());

    // Re-applying changes nothing.
    let out = srv
        .kubes(project.path())
        .arg("apply")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let results: Vec<&str> = out.lines().filter(|l| !l.starts_with("=> ")).collect();
    assert_eq!(
        results,
        [
            "namespace/demo unchanged",
            "job.batch/migrate unchanged",
            "service/web unchanged",
            "deployment.apps/web unchanged"
        ]
    );

    // A new image, for the web role only (the migration Job's template is immutable; the
    // seed deletes the Job in a hook before re-applying it).
    let out = srv
        .kubes(project.path())
        .args(["deploy", "--image", "demo/web:2", "web"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "=> apply .kubes/output/web/service.yaml\nservice/web unchanged\n=> apply .kubes/output/web/deployment.yaml\ndeployment.apps/web configured\n"
    );
    let dep = kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"],
    )
    .unwrap();
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "demo/web:2"
    );
}

#[test]
fn reapplying_after_controllers_wrote_status_is_unchanged() {
    let srv = Server::start();
    let project = seed_app();
    srv.kubes(project.path()).arg("apply").assert().success();
    // Wait for the Job and Deployment controllers to write status (another field manager).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let job = kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"]).unwrap();
        let dep = kubectl_json(
            srv.kubeconfig(),
            &["get", "deployment", "web", "-n", "demo"],
        )
        .unwrap();
        if job["status"]["succeeded"] == 1 && dep["status"]["readyReplicas"] == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "controllers did not finish: {job} {dep}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    srv.srv.clear_requests();
    let out = srv
        .kubes(project.path())
        .arg("apply")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let results: Vec<&str> = out.lines().filter(|l| !l.starts_with("=> ")).collect();
    assert_eq!(
        results,
        [
            "namespace/demo unchanged",
            "job.batch/migrate unchanged",
            "service/web unchanged",
            "deployment.apps/web unchanged"
        ]
    );
    // Status written by others changes no field kubes applies: nothing is sent again.
    assert_eq!(app_patches(&srv), Vec::<String>::new());
}

/// The PATCH requests (server-side applies) a run sent to the app's own objects (not the
/// deploy lease or the inventory).
fn app_patches(srv: &Server) -> Vec<String> {
    srv.srv
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .filter(|r| !r.path.contains("/leases/") && !r.path.contains("kubes-inventory"))
        .map(|r| r.path)
        .collect()
}

fn applied_lines(project: &std::path::Path, srv: &Server, args: &[&str]) -> Vec<String> {
    let out = srv
        .kubes(project)
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("=> "))
        .map(str::to_string)
        .collect()
}

#[test]
fn an_unchanged_deploy_sends_nothing_but_what_others_changed_is_applied_again() {
    let srv = Server::start();
    let project = seed_app();
    let project = project.path();
    srv.kubes(project).arg("apply").assert().success();

    // Nothing changed: every object is listed, none is applied again.
    srv.srv.clear_requests();
    let unchanged = [
        "namespace/demo unchanged",
        "job.batch/migrate unchanged",
        "service/web unchanged",
        "deployment.apps/web unchanged",
    ];
    assert_eq!(applied_lines(project, &srv, &["apply"]), unchanged);
    assert_eq!(app_patches(&srv), Vec::<String>::new());

    // Someone else changes a field kubes applies (an update by another field manager takes
    // it over): that object, and only it, is applied again, and the value is kubes' again.
    let patched = crate::cluster_common::kubectl(srv.kubeconfig())
        .args(["patch", "service", "web", "-n", "demo", "--type", "merge"])
        .args(["-p", r#"{"metadata":{"labels":{"kubes/app":"hijacked"}}}"#])
        .output()
        .unwrap();
    assert!(patched.status.success(), "{patched:?}");
    // And someone adds a label of their own to the Deployment: not kubes' to undo.
    let labelled = crate::cluster_common::kubectl(srv.kubeconfig())
        .args(["label", "deployment", "web", "-n", "demo", "team=payments"])
        .output()
        .unwrap();
    assert!(labelled.status.success(), "{labelled:?}");
    srv.srv.clear_requests();
    assert_eq!(
        applied_lines(project, &srv, &["apply"]),
        [
            "namespace/demo unchanged",
            "job.batch/migrate unchanged",
            "service/web configured",
            "deployment.apps/web unchanged"
        ]
    );
    assert_eq!(app_patches(&srv), ["/api/v1/namespaces/demo/services/web"]);
    let svc = kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).unwrap();
    assert_eq!(svc["metadata"]["labels"]["kubes/app"], "demo");
    let dep = kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"],
    )
    .unwrap();
    assert_eq!(dep["metadata"]["labels"]["team"], "payments");

    // Deleted and created again by someone else (another uid): applied again.
    let deleted = crate::cluster_common::kubectl(srv.kubeconfig())
        .args(["delete", "service", "web", "-n", "demo"])
        .output()
        .unwrap();
    assert!(deleted.status.success(), "{deleted:?}");
    assert!(applied_lines(project, &srv, &["apply"]).contains(&"service/web created".to_string()));

    // A changed configuration is applied, the rest is not (the web role only: the Job's
    // template is immutable).
    srv.srv.clear_requests();
    assert_eq!(
        applied_lines(project, &srv, &["deploy", "--image", "demo/web:2", "web"]),
        ["service/web unchanged", "deployment.apps/web configured"]
    );
    assert_eq!(
        app_patches(&srv),
        ["/apis/apps/v1/namespaces/demo/deployments/web"]
    );

    // --force-apply sends every object, unchanged or not.
    srv.srv.clear_requests();
    assert_eq!(
        applied_lines(
            project,
            &srv,
            &["deploy", "--image", "demo/web:2", "--force-apply", "web"]
        ),
        ["service/web unchanged", "deployment.apps/web unchanged"]
    );
    assert_eq!(app_patches(&srv).len(), 2, "{:?}", app_patches(&srv));
}

#[test]
fn a_failing_resource_stops_the_apply_and_says_what_was_and_was_not_applied() {
    let srv = Server::start();
    let project = seed_app();
    // A resource of a kind the server does not know, between the Job and the web role.
    write(
        project.path(),
        ".kubes/resources/migrate/widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n",
    );
    let out = srv
        .kubes(project.path())
        .arg("apply")
        .assert()
        .code(3)
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stdout.contains("namespace/demo created\n")
            && stdout.contains("job.batch/migrate created\n"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("service/web") && !stdout.contains("deployment.apps/web"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "error: widget.example.com/w: not found: the server has no apiVersion example.com/v1"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("apply stopped at .kubes/output/migrate/widget.yaml"),
        "{stderr}"
    );
    assert!(
        stderr.contains("  done (2):\n    namespace/demo created\n    job.batch/migrate created\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("  not attempted (2):\n    .kubes/output/web/service.yaml\n    .kubes/output/web/deployment.yaml\n"),
        "{stderr}"
    );
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_none());

    // The same as JSON lines for CI, the report last.
    let out = srv
        .kubes(project.path())
        .args(["apply", "--output", "json"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let report = crate::common::json_report(&out);
    assert_eq!(report["ok"], false);
    assert_eq!(report["failure"]["object"], "widget.example.com/w");
    assert_eq!(report["failure"]["kind"], "not-found");
    assert_eq!(
        report["not_attempted"],
        serde_json::json!([
            ".kubes/output/web/service.yaml",
            ".kubes/output/web/deployment.yaml"
        ])
    );
    assert_eq!(report["files"][0]["objects"][0]["action"], "unchanged");
}

#[test]
fn quiet_prints_nothing_on_success() {
    let srv = Server::start();
    let project = seed_app();
    let out = srv
        .kubes(project.path())
        .args(["apply", "-q"])
        .assert()
        .success()
        .get_output()
        .clone();
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_some());
}

#[test]
fn a_role_argument_applies_only_that_role() {
    let srv = Server::start();
    let project = seed_app();
    srv.kubes(project.path())
        .args(["apply", "shared"])
        .assert()
        .success();
    let out = srv
        .kubes(project.path())
        .args(["apply", "migrate"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "=> apply .kubes/output/migrate/job.yaml\njob.batch/migrate created\n"
    );
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"]
    )
    .is_none());
    let err = srv
        .kubes(project.path())
        .args(["apply", "nosuch"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(err)
        .unwrap()
        .contains("no role \"nosuch\" in the plan (roles: migrate, shared, web)"));
}

#[test]
fn a_dry_run_says_what_would_change_and_changes_nothing() {
    let srv = Server::start();
    let project = seed_app();
    srv.kubes(project.path()).arg("apply").assert().success();
    let out = srv
        .kubes(project.path())
        .args(["deploy", "--dry-run", "--image", "demo/web:3", "web"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "=> apply .kubes/output/web/service.yaml\nservice/web unchanged (server dry run)\n\
         => apply .kubes/output/web/deployment.yaml\ndeployment.apps/web configured (server dry run)\n"
    );
    let dep = kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"],
    )
    .unwrap();
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["image"],
        "demo/web:1"
    );
}
