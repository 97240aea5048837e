//! Story: the app's namespace is not there yet, or is going away.
//!
//! - `kubes delete -y` and at once `kubes deploy`: the namespace is still Terminating (the
//!   API server refuses new content in it with 403 Forbidden); the deploy says it waits for
//!   the namespace to go, then creates it afresh and succeeds. With `--no-wait` it fails at
//!   once, naming the namespace, before applying anything.
//! - `kubes apply --dry-run` on a cluster without the app's namespace: the Namespace is
//!   reported as it would be created, and the objects inside it as they would be created
//!   once it exists, instead of failing at the first of them.
//!
//! The seed's app (no hooks) with the real `kubes` binary against the test API server; a
//! finalizer on the namespace (`kubectl patch`) keeps it Terminating as long as the story
//! needs.

use crate::cluster_common::{kubectl, kubectl_json, Deploy, Server};
use crate::common::seed_app;

fn patch_namespace(srv: &Server, patch: &str) {
    let out = kubectl(srv.kubeconfig())
        .args(["patch", "namespace", "demo", "--type=merge", "-p", patch])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_deploy_right_after_a_delete_waits_for_the_terminating_namespace_then_succeeds() {
    let srv = Server::start();
    let project = seed_app();
    let p = project.path();
    let first = Deploy::run(&srv, p, &["deploy"]);
    assert_eq!(first.code, 0, "{}", first.show());

    // As it comes: delete, and deploy at once (the namespace goes ~200 ms after the delete).
    let delete = Deploy::run(&srv, p, &["delete", "-y"]);
    assert_eq!(delete.code, 0, "{}", delete.show());
    let again = Deploy::run(&srv, p, &["deploy"]);
    assert_eq!(again.code, 0, "{}", again.show());
    again.assert_in_order(&["namespace/demo created", "deployment.apps/web created"]);

    // Held Terminating by a finalizer, so the deploy surely finds it so.
    patch_namespace(&srv, r#"{"metadata":{"finalizers":["kubes.test/hold"]}}"#);
    let delete = Deploy::run(&srv, p, &["delete", "-y"]);
    assert_eq!(delete.code, 0, "{}", delete.show());
    let ns = kubectl_json(srv.kubeconfig(), &["get", "namespace", "demo"]).unwrap();
    assert_eq!(ns["status"]["phase"], "Terminating", "{ns}");
    // The API server refuses new content in it, as Kubernetes does.
    let refused = kubectl(srv.kubeconfig())
        .args(["create", "configmap", "late", "-n", "demo"])
        .output()
        .unwrap();
    let refused = String::from_utf8_lossy(&refused.stderr);
    assert!(
        refused.contains("configmaps \"late\" is forbidden: unable to create new content in namespace demo because it is being terminated"),
        "{refused}"
    );

    // --no-wait: fails at once, nothing applied.
    let no_wait = Deploy::run(&srv, p, &["deploy", "--no-wait"]);
    assert_eq!(no_wait.code, 3, "a cluster error: {}", no_wait.show());
    assert!(
        no_wait
            .stderr
            .contains("error: namespace demo is being deleted (Terminating)"),
        "{}",
        no_wait.show()
    );
    assert!(!no_wait.stdout.contains("created"), "{}", no_wait.show());

    // Waiting: the deploy says so, and goes on once the namespace is gone.
    let srv_ref = &srv;
    let waiting = std::thread::scope(|s| {
        let deploy = s.spawn(move || Deploy::run(srv_ref, p, &["deploy"]));
        std::thread::sleep(std::time::Duration::from_millis(1500));
        patch_namespace(srv_ref, r#"{"metadata":{"finalizers":null}}"#);
        deploy.join().unwrap()
    });
    assert_eq!(waiting.code, 0, "{}", waiting.show());
    waiting.assert_in_order(&[
        "Namespace demo is being deleted (Terminating): waiting for it to go (up to 10m, --lock-timeout)",
        "namespace/demo created",
        "service/web created",
        "deployment.apps/web created",
    ]);
    let ns = kubectl_json(srv.kubeconfig(), &["get", "namespace", "demo"]).unwrap();
    assert_eq!(ns["status"]["phase"], "Active", "{ns}");
}

#[test]
fn a_dry_run_without_the_namespace_reports_what_it_would_create() {
    let srv = Server::start();
    let project = seed_app();
    let run = Deploy::run(&srv, project.path(), &["apply", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.show());
    run.assert_in_order(&[
        "namespace/demo created (server dry run)",
        "job.batch/migrate would be created (dry run; namespace demo does not exist yet)",
        "service/web would be created (dry run; namespace demo does not exist yet)",
        "deployment.apps/web would be created (dry run; namespace demo does not exist yet)",
    ]);
    assert!(!run.stdout.contains("does not exist yet) (server dry run)"));
    // Nothing was created, and no lease taken.
    assert!(kubectl_json(srv.kubeconfig(), &["get", "namespace", "demo"]).is_none());

    // JSON lines say the same.
    let out = srv
        .kubes(project.path())
        .args(["--output", "json", "apply", "--dry-run"])
        .output()
        .unwrap();
    let report = crate::common::json_report(&out.stdout);
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        report["files"][1]["objects"][0]["action"],
        "would be created (dry run; namespace demo does not exist yet)"
    );
}
