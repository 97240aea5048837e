//! Story: a locked-down CI runner. An admin creates the runner's ServiceAccount and applies
//! once what `kubes rbac` prints for it; the runner then deploys `examples/migration`, hooks
//! and all, with a token of that ServiceAccount, and the test API server enforces RBAC on
//! every call (as Kubernetes does).
//!
//! - The deploy succeeds, twice (the second one deletes and recreates the migration Job).
//! - The runner holds nothing more: reading Secrets in the app's namespace is forbidden.
//! - Every printed rule is needed: with any one of them taken away, a first deploy fails
//!   with the API server's forbidden error naming the ServiceAccount (each variant on its
//!   own server, a few at a time, so the loop takes the time of a few deploys).

use std::path::Path;

use serde_json::{json, Value};

use crate::cluster_common::{kubectl, Server};
use crate::common::{copy_project, kubes, repo};
use crate::hooks_support;

const SA: &str = "deployer";
const SA_NS: &str = "ci";
const USER: &str = "User \"system:serviceaccount:ci:deployer\" cannot";

/// What `kubes rbac` prints for the runner, as objects (`--output json`: a `v1` List).
fn printed_policy(project: &Path) -> Vec<Value> {
    let out = kubes(project)
        .args([
            "rbac",
            "--service-account",
            SA,
            "--service-account-namespace",
            SA_NS,
        ])
        .args(["--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    list["items"].as_array().unwrap().clone()
}

/// A server where an admin made the runner's ServiceAccount and applied `objects`; a
/// kubeconfig holding a token of that ServiceAccount.
fn cluster_for_runner(objects: &[Value]) -> (Server, tempfile::TempDir) {
    let srv = Server::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let admin = srv.cluster().await;
        let setup = [
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SA_NS}}),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": SA, "namespace": SA_NS}}),
        ];
        for o in setup.iter().chain(objects) {
            admin
                .apply_object(o, &Default::default())
                .await
                .unwrap_or_else(|e| panic!("applying {o}: {e}"));
        }
    });
    let token = srv.srv.service_account_token(SA_NS, SA).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        srv.srv.kubeconfig_for_token(&token),
    )
    .unwrap();
    (srv, dir)
}

/// `kubes deploy` as the runner: exit code and everything it printed.
fn deploy_as_runner(project: &Path, kubeconfig_dir: &Path) -> (i32, String) {
    let out = kubes(project)
        .arg("--kubeconfig")
        .arg(kubeconfig_dir.join("kubeconfig"))
        .args(["deploy", "--image", "demo/web:2", "--no-wait"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn migration_app() -> tempfile::TempDir {
    let project = copy_project(&repo().join("examples/migration"));
    hooks_support::install_migration_hooks(project.path()).unwrap();
    project
}

#[test]
fn a_runner_bound_to_what_kubes_rbac_prints_deploys_and_every_rule_is_needed() {
    let project = migration_app();
    let policy = printed_policy(project.path());
    let kinds: Vec<&str> = policy.iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding"
        ]
    );

    // With all of it: the deploy succeeds, and again (cleanup deletes the finished Job).
    let (srv, runner) = cluster_for_runner(&policy);
    for round in 1..=2 {
        let started = std::time::Instant::now();
        let (code, out) = deploy_as_runner(project.path(), runner.path());
        eprintln!(
            "deploy {round} as the runner: exit {code} after {:.1?}",
            started.elapsed()
        );
        assert_eq!(code, 0, "deploy {round} as the runner:\n{out}");
        assert!(out.contains("[migrate-wait] Migration complete"), "{out}");
        assert!(out.contains("deployment.apps/web"), "{out}");
    }
    // Nothing more: Secrets in the app's namespace are not the runner's to read.
    let denied = kubectl(&runner.path().join("kubeconfig"))
        .args(["get", "secrets", "-n", "demo"])
        .output()
        .unwrap();
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains(&format!(
            "secrets is forbidden: {USER} list resource \"secrets\" in API group \"\" in the namespace \"demo\""
        )),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    drop(srv);

    // Every rule is needed: the policy without rule r of role item i.
    let mut variants = Vec::new();
    for (i, item) in policy.iter().enumerate() {
        if let Some(rules) = item["rules"].as_array() {
            for r in 0..rules.len() {
                let mut objects = policy.clone();
                let removed = objects[i]["rules"].as_array_mut().unwrap().remove(r);
                variants.push((format!("{} rule {r}: {removed}", item["kind"]), objects));
            }
        }
    }
    assert!(variants.len() >= 10, "{} rules", variants.len());
    let results: Vec<(String, i32, String)> = std::thread::scope(|s| {
        let chunks: Vec<_> = variants.chunks(variants.len().div_ceil(4)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let project = project.path();
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(what, objects)| {
                            let started = std::time::Instant::now();
                            let (_srv, runner) = cluster_for_runner(objects);
                            let (code, out) = deploy_as_runner(project, runner.path());
                            eprintln!(
                                "without {what}: exit {code} after {:.1?}",
                                started.elapsed()
                            );
                            (what.clone(), code, out)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    for (what, code, out) in results {
        assert_ne!(code, 0, "without {what} the deploy succeeded:\n{out}");
        assert!(
            out.contains(" is forbidden: ") && out.contains(USER),
            "without {what} the deploy failed, but not with a forbidden error naming the runner:\n{out}"
        );
    }
}
