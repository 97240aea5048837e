//! User stories for `kubes delete`: reverse order, absent objects, confirmation, --wait.

use crate::cluster_common::{kubectl_json, Server};
use crate::common::seed_app;

#[test]
fn delete_removes_everything_in_reverse_order_and_reports_absent_objects() {
    let srv = Server::start();
    let project = seed_app();
    srv.kubes(project.path()).arg("apply").assert().success();

    let out = srv
        .kubes(project.path())
        .args(["delete", "-y"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "=> delete .kubes/output/web/deployment.yaml\ndeployment.apps/web deleted\n\
         => delete .kubes/output/web/service.yaml\nservice/web deleted\n\
         => delete .kubes/output/migrate/job.yaml\njob.batch/migrate deleted\n\
         => delete .kubes/output/shared/namespace.yaml\nnamespace/demo deleted\n"
    );
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"]
    )
    .is_none());
    assert!(kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"]).is_none());
    assert!(
        kubectl_json(
            srv.kubeconfig(),
            &["get", "configmap", "kubes-inventory-demo-dev", "-n", "demo"]
        )
        .is_none(),
        "inventory gone too"
    );

    // Deleting what is already gone is not an error.
    let out = srv
        .kubes(project.path())
        .args(["delete", "-y", "web"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "=> delete .kubes/output/web/deployment.yaml\ndeployment.apps/web absent\n=> delete .kubes/output/web/service.yaml\nservice/web absent\n"
    );
}

#[test]
fn delete_asks_before_deleting_and_refuses_without_a_terminal() {
    let srv = Server::start();
    let project = seed_app();
    srv.kubes(project.path()).arg("apply").assert().success();
    let err = srv
        .kubes(project.path())
        .arg("delete")
        .write_stdin("y\n")
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8(err).unwrap().contains("pass -y"));
    assert!(
        kubectl_json(
            srv.kubeconfig(),
            &["get", "deployment", "web", "-n", "demo"]
        )
        .is_some(),
        "nothing deleted"
    );
}

#[test]
fn delete_wait_returns_once_objects_are_gone() {
    let srv = Server::start();
    let project = seed_app();
    srv.kubes(project.path()).arg("apply").assert().success();
    let out = srv
        .kubes(project.path())
        .args(["delete", "-y", "--wait", "--timeout", "30s", "web"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("deployment.apps/web deleted\n") && out.contains("service/web deleted\n"),
        "{out}"
    );
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"]
    )
    .is_none());
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_none());
}

#[test]
fn delete_reports_as_json_for_ci() {
    let srv = Server::start();
    let project = seed_app();
    srv.kubes(project.path())
        .args(["apply", "shared", "web"])
        .assert()
        .success();
    let out = srv
        .kubes(project.path())
        .args(["delete", "-y", "--output", "json", "migrate", "web"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report = crate::common::json_report(&out);
    assert_eq!(report["step"], "delete");
    assert_eq!(report["ok"], true);
    let actions: Vec<(String, String)> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["objects"].as_array().unwrap().iter())
        .map(|o| {
            (
                o["display"].as_str().unwrap().to_string(),
                o["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("deployment.apps/web".to_string(), "deleted".to_string()),
            ("service/web".to_string(), "deleted".to_string()),
            ("job.batch/migrate".to_string(), "absent".to_string()),
        ]
    );
}

#[test]
fn deleting_the_whole_project_also_deletes_what_it_applied_before_and_no_longer_has() {
    let srv = Server::start();
    let project = seed_app();
    srv.kubes(project.path()).arg("apply").assert().success();
    std::fs::remove_file(project.path().join(".kubes/resources/web/service.yaml")).unwrap();
    let out = srv
        .kubes(project.path())
        .args(["delete", "-y", "--wait"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with(
            "pruned service/web deleted\n=> delete .kubes/output/web/deployment.yaml\n"
        ),
        "{out}"
    );
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_none());
}
