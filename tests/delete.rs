//! User stories for `kubes delete`: reverse order, absent objects, confirmation, --wait.

mod cluster_common;
mod common;

use cluster_common::{kubectl_json, Server};
use common::{copy_project, repo};

#[test]
fn delete_removes_everything_in_reverse_order_and_reports_absent_objects() {
    let srv = Server::start();
    let project = copy_project(&repo().join("examples/migration"));
    srv.kubes(project.path()).arg("apply").assert().success();

    let out = srv.kubes(project.path()).args(["delete", "-y"]).assert().success().get_output().stdout.clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "=> delete .kubes/output/web/deployment.yaml\ndeployment.apps/web deleted\n\
         => delete .kubes/output/web/service.yaml\nservice/web deleted\n\
         => delete .kubes/output/migrate/job.yaml\njob.batch/migrate deleted\n\
         => delete .kubes/output/shared/namespace.yaml\nnamespace/demo deleted\n"
    );
    assert!(kubectl_json(srv.kubeconfig(), &["get", "deployment", "web", "-n", "demo"]).is_none());
    assert!(kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"]).is_none());

    // Deleting what is already gone is not an error.
    let out = srv.kubes(project.path()).args(["delete", "-y", "web"]).assert().success().get_output().stdout.clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "=> delete .kubes/output/web/deployment.yaml\ndeployment.apps/web absent\n=> delete .kubes/output/web/service.yaml\nservice/web absent\n"
    );
}

#[test]
fn delete_asks_before_deleting_and_refuses_without_a_terminal() {
    let srv = Server::start();
    let project = copy_project(&repo().join("examples/migration"));
    srv.kubes(project.path()).arg("apply").assert().success();
    let err = srv.kubes(project.path()).arg("delete").write_stdin("y\n").assert().failure().get_output().stderr.clone();
    assert!(String::from_utf8(err).unwrap().contains("pass -y"));
    assert!(kubectl_json(srv.kubeconfig(), &["get", "deployment", "web", "-n", "demo"]).is_some(), "nothing deleted");
}

#[test]
fn delete_wait_returns_once_objects_are_gone() {
    let srv = Server::start();
    let project = copy_project(&repo().join("examples/migration"));
    srv.kubes(project.path()).arg("apply").assert().success();
    let out = srv.kubes(project.path()).args(["delete", "-y", "--wait", "--timeout", "30s", "web"]).assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("deployment.apps/web deleted\n") && out.contains("service/web deleted\n"), "{out}");
    assert!(kubectl_json(srv.kubeconfig(), &["get", "deployment", "web", "-n", "demo"]).is_none());
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_none());
}
