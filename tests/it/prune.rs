//! User stories for pruning: objects removed from the project are deleted by
//! `kubes apply --prune` or `kubes prune`, found through the inventory ConfigMap; and
//! `suffix_hash` ConfigMaps, whose old versions are always pruned.

use crate::cluster_common::{kubectl, kubectl_json, Server};
use crate::common::{seed_app, write};

#[test]
fn apply_prune_deletes_what_the_project_no_longer_has() {
    let srv = Server::start();
    let project = seed_app();
    srv.kubes(project.path()).arg("apply").assert().success();
    let inv = kubectl_json(
        srv.kubeconfig(),
        &["get", "configmap", "kubes-inventory-demo-dev", "-n", "demo"],
    )
    .expect("inventory recorded");
    assert!(inv["data"]["objects"]
        .as_str()
        .unwrap()
        .contains("\"kind\": \"Service\""));

    std::fs::remove_file(project.path().join(".kubes/resources/web/service.yaml")).unwrap();
    // Without --prune the service stays (and stays recorded).
    srv.kubes(project.path()).arg("apply").assert().success();
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_some());

    let out = srv
        .kubes(project.path())
        .args(["apply", "--prune"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.ends_with("pruned service/web deleted\n"), "{out}");
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_none());
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"]
    )
    .is_some());
    let inv = kubectl_json(
        srv.kubeconfig(),
        &["get", "configmap", "kubes-inventory-demo-dev", "-n", "demo"],
    )
    .unwrap();
    assert!(!inv["data"]["objects"]
        .as_str()
        .unwrap()
        .contains("\"kind\": \"Service\""));
}

#[test]
fn prune_alone_honours_dry_run_and_spares_objects_taken_over_by_others() {
    let srv = Server::start();
    let project = seed_app();
    srv.kubes(project.path()).arg("apply").assert().success();
    std::fs::remove_file(project.path().join(".kubes/resources/web/service.yaml")).unwrap();
    std::fs::remove_file(project.path().join(".kubes/resources/migrate/job.yaml")).unwrap();
    // Someone else now manages the Job: prune must leave it alone.
    let out = kubectl(srv.kubeconfig())
        .args([
            "label",
            "job",
            "migrate",
            "-n",
            "demo",
            "--overwrite",
            "app.kubernetes.io/managed-by=someone-else",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = srv
        .kubes(project.path())
        .args(["prune", "--dry-run"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(out).unwrap(), "pruned service/web deleted (server dry run)\npruned job.batch/migrate skipped (not managed by kubes) (server dry run)\n");
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_some());

    let out = srv
        .kubes(project.path())
        .arg("prune")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "pruned service/web deleted\npruned job.batch/migrate skipped (not managed by kubes)\n"
    );
    assert!(kubectl_json(srv.kubeconfig(), &["get", "service", "web", "-n", "demo"]).is_none());
    assert!(kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"]).is_some());
    // Nothing left to prune.
    let out = srv
        .kubes(project.path())
        .arg("prune")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
}

#[test]
fn suffix_hash_renames_config_rewrites_references_and_prunes_old_versions() {
    let srv = Server::start();
    let project = seed_app();
    let config = |greeting: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  GREETING: {greeting}\n")
    };
    write(
        project.path(),
        ".kubes/resources/web/configmap.yaml",
        &config("hello"),
    );
    write(
        project.path(),
        ".kubes/resources/web/deployment.yaml",
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: <%= docker_image %>
        envFrom:
        - configMapRef: {name: web-config}
      volumes:
      - name: config
        configMap: {name: web-config}
",
    );
    let out = srv
        .kubes(project.path())
        .args(["apply", "shared", "web"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let first = hashed_name(&out);
    let dep = kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"],
    )
    .unwrap();
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        first.as_str()
    );
    assert_eq!(pod["volumes"][0]["configMap"]["name"], first.as_str());
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "configmap", &first, "-n", "demo"]
    )
    .is_some());

    // New content: a new name, the deployment follows it, the old version goes.
    write(
        project.path(),
        ".kubes/resources/web/configmap.yaml",
        &config("bonjour"),
    );
    let out = srv
        .kubes(project.path())
        .args(["apply", "shared", "web"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let second = hashed_name(&out);
    assert_ne!(first, second);
    assert!(out.contains("deployment.apps/web configured\n"), "{out}");
    assert!(
        out.contains(&format!("pruned configmap/{first} deleted\n")),
        "{out}"
    );
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "configmap", &first, "-n", "demo"]
    )
    .is_none());
    let dep = kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"],
    )
    .unwrap();
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        second.as_str()
    );
}

/// `configmap/web-config-0123456789 created` -> `web-config-0123456789`.
fn hashed_name(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with("configmap/web-config-") && !l.starts_with("pruned"))
        .unwrap_or_else(|| panic!("{out}"));
    let name = line
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("configmap/")
        .to_string();
    assert_eq!(name.len(), "web-config-".len() + 10, "{name}");
    name
}
