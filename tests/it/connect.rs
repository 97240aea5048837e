//! Cluster access stories: the kubeconfig's context can be chosen with `--context` or per
//! environment in the project's config, and `KUBECONFIG` is honoured.

use crate::cluster_common::{kubectl_json, Server};
use crate::common::{kubes, seed_app, write};

/// The test server's kubeconfig with a second context, `broken`, made current: it points
/// at a port nobody listens on, so only a run that picks `kube-testserver` can succeed.
fn kubeconfig_with_broken_current(srv: &Server, dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(srv.kubeconfig()).unwrap();
    let text = text
        .replace("current-context: kube-testserver", "current-context: broken")
        .replace(
            "contexts:\n",
            "contexts:\n- name: broken\n  context:\n    cluster: nowhere\n    user: kube-testserver\n",
        )
        .replace("clusters:\n", "clusters:\n- name: nowhere\n  cluster:\n    server: https://127.0.0.1:9\n");
    let parsed: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(parsed["current-context"], "broken");
    assert_eq!(parsed["contexts"].as_sequence().unwrap().len(), 2, "{text}");
    assert_eq!(parsed["clusters"].as_sequence().unwrap().len(), 2, "{text}");
    let path = dir.join("two-contexts.kubeconfig");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_context_comes_from_the_flag_or_the_env_config() {
    let srv = Server::start();
    let project = seed_app();
    let kubeconfig = kubeconfig_with_broken_current(&srv, project.path());

    // --context, with the kubeconfig from KUBECONFIG.
    kubes(project.path())
        .env("KUBECONFIG", &kubeconfig)
        .args(["--context", "kube-testserver", "apply", "shared"])
        .assert()
        .success();
    assert!(kubectl_json(srv.kubeconfig(), &["get", "namespace", "demo"]).is_some());

    // The dev env's config names the context.
    write(
        project.path(),
        ".kubes/config/env/dev.yaml",
        "context: kube-testserver\n",
    );
    kubes(project.path())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["apply", "migrate"])
        .assert()
        .success();
    assert!(kubectl_json(srv.kubeconfig(), &["get", "job", "migrate", "-n", "demo"]).is_some());

    // An unknown context is a clear error.
    let err = kubes(project.path())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--context", "nosuch", "apply"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("connecting to the cluster") && err.contains("nosuch"),
        "{err}"
    );
}
