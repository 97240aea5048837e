//! User stories for `kubes diff`: exit 0 when nothing differs, 1 when something does,
//! like `kubectl diff`; errors exit as every command's (3: the cluster could not be reached).

use crate::cluster_common::Server;
use crate::common::{kubes, read, seed_app, write};

#[test]
fn diff_shows_new_objects_then_nothing_then_a_changed_image() {
    let srv = Server::start();
    let project = seed_app();

    let out = srv
        .kubes(project.path())
        .arg("diff")
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("+++ planned/deployment.apps/web"), "{out}");
    assert!(out.contains("+        image: demo/web:1"), "{out}");
    assert!(!out.contains("\x1b["), "no colour when not on a terminal");
    assert!(srv
        .kubes(project.path())
        .arg("diff")
        .arg("--color")
        .arg("always")
        .assert()
        .code(1)
        .get_output()
        .stdout
        .windows(2)
        .any(|w| w == b"\x1b["));

    srv.kubes(project.path()).arg("apply").assert().success();
    let out = srv
        .kubes(project.path())
        .arg("diff")
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));

    let config = read(project.path(), ".kubes/config.yaml")
        .replace("image: demo/web:1", "image: demo/web:2");
    write(project.path(), ".kubes/config.yaml", &config);
    let out = srv
        .kubes(project.path())
        .args(["diff", "web"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains("--- live/deployment.apps/web\n+++ planned/deployment.apps/web\n"),
        "{out}"
    );
    assert!(
        out.contains("-      - image: demo/web:1\n+      - image: demo/web:2\n"),
        "{out}"
    );
    assert!(
        !out.contains("resourceVersion") && !out.contains("managedFields") && !out.contains("uid:"),
        "{out}"
    );
    assert!(
        !out.contains("service/web"),
        "the service did not change: {out}"
    );
}

#[test]
fn diff_exits_3_when_the_cluster_cannot_be_reached() {
    let project = seed_app();
    let kubeconfig = project.path().join("unreachable.kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n",
    )
    .unwrap();
    let mut cmd = kubes(project.path());
    cmd.arg("--kubeconfig").arg(&kubeconfig).arg("diff");
    let err = cmd.assert().code(3).get_output().stderr.clone();
    assert!(String::from_utf8(err)
        .unwrap()
        .contains("unavailable: connection failed"));
}
