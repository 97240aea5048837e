//! The real kubectl (v1.32) against the test server, with nothing but `--kubeconfig`.

use crate::common;

use common::{kubectl, kubectl_stdin, ok};
use kube_testserver::{Options, TestServer};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const APP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  labels: {app: web}
data:
  greeting: hello
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: web:1
        ports: [{containerPort: 8080}]
"#;

fn job_manifest(name: &str, script: &str) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  backoffLimit: 1
  template:
    metadata:
      annotations:
        kubes.test/script: '{script}'
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: db-migrate:1
"#
    )
}

fn start() -> TestServer {
    TestServer::start_blocking(Options::default()).expect("server starts")
}

#[test]
fn server_side_and_client_side_apply_then_get_and_delete() {
    let srv = start();
    let out = ok(kubectl_stdin(
        &srv,
        &["apply", "--server-side", "-f", "-"],
        APP,
    ));
    assert!(
        out.contains("configmap/app-config serverside-applied"),
        "{out}"
    );
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );

    // Server-side apply again with a change; then client-side apply on a new object.
    let changed = APP.replace("greeting: hello", "greeting: hi");
    ok(kubectl_stdin(
        &srv,
        &["apply", "--server-side", "-f", "-"],
        &changed,
    ));
    let json: serde_json::Value = serde_json::from_str(&ok(kubectl(
        &srv,
        &["get", "configmap", "app-config", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(json["data"]["greeting"], "hi");
    assert_eq!(json["metadata"]["labels"]["app"], "web");

    let other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: client-side\ndata:\n  k: v1\n";
    let out = ok(kubectl_stdin(&srv, &["apply", "-f", "-"], other));
    assert!(out.contains("configmap/client-side created"), "{out}");
    let out = ok(kubectl_stdin(
        &srv,
        &["apply", "-f", "-"],
        &other.replace("k: v1", "k: v2"),
    ));
    assert!(out.contains("configmap/client-side configured"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&ok(kubectl(
        &srv,
        &["get", "cm", "client-side", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(json["data"]["k"], "v2");
    assert!(
        json["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );

    let table = ok(kubectl(&srv, &["get", "deployments,services"]));
    assert!(table.contains("deployment.apps/web"), "{table}");
    assert!(table.contains("service/web"), "{table}");

    let out = ok(kubectl(
        &srv,
        &["scale", "deployment", "web", "--replicas=3"],
    ));
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    let dep: serde_json::Value = serde_json::from_str(&ok(kubectl(
        &srv,
        &["get", "deployment", "web", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(dep["spec"]["replicas"], 3);

    let out = ok(kubectl(&srv, &["delete", "configmap", "app-config"]));
    assert!(out.contains("configmap \"app-config\" deleted"), "{out}");
    let missing = kubectl(&srv, &["get", "configmap", "app-config"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr)
        .contains("Error from server (NotFound): configmaps \"app-config\" not found"));
}

#[test]
fn immutable_job_template_is_rejected_like_a_real_cluster() {
    let srv = start();
    ok(kubectl_stdin(
        &srv,
        &["apply", "--server-side", "-f", "-"],
        &job_manifest("m", r#"{"attempts": [{"run_ms": 5000}]}"#),
    ));
    let changed = job_manifest("m", r#"{"attempts": [{"run_ms": 5000}]}"#)
        .replace("db-migrate:1", "db-migrate:2");
    let out = kubectl_stdin(&srv, &["apply", "--server-side", "-f", "-"], &changed);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("The Job \"m\" is invalid: spec.template")
            && err.contains("field is immutable"),
        "{err}"
    );
}

#[test]
fn typos_are_rejected_by_server_side_field_validation() {
    let srv = start();
    let typo = APP.replace("replicas: 2", "replica: 2");
    for args in [
        &["apply", "--server-side", "-f", "-"][..],
        &["apply", "-f", "-"][..],
    ] {
        let out = kubectl_stdin(&srv, args, &typo);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("strict decoding error: unknown field \"spec.replica\""),
            "{err}"
        );
    }
}

#[test]
fn logs_follow_and_wait_for_complete_on_a_passing_job() {
    let srv = start();
    let script = r#"{"attempts": [{"logs": [{"line": "migrating", "after_ms": 50}, {"line": "migrated 3 tables", "after_ms": 100}]}]}"#;
    ok(kubectl_stdin(
        &srv,
        &["apply", "--server-side", "-f", "-"],
        &job_manifest("migrate", script),
    ));
    let logs = ok(kubectl(&srv, &["logs", "-f", "job/migrate"]));
    assert_eq!(logs, "migrating\nmigrated 3 tables\n");
    let out = ok(kubectl(
        &srv,
        &[
            "wait",
            "--for=condition=Complete",
            "job/migrate",
            "--timeout=20s",
        ],
    ));
    assert!(out.contains("job.batch/migrate condition met"), "{out}");
}

#[test]
fn a_failing_job_reaches_the_failed_condition() {
    let srv = start();
    let script = r#"{"attempts": [{"logs": [{"line": "error: relation exists"}], "exit_code": 1, "message": "migration failed"}]}"#;
    ok(kubectl_stdin(
        &srv,
        &["apply", "-f", "-"],
        &job_manifest("bad", script),
    ));
    let out = ok(kubectl(
        &srv,
        &["wait", "--for=condition=Failed", "job/bad", "--timeout=20s"],
    ));
    assert!(out.contains("job.batch/bad condition met"), "{out}");
    let job: serde_json::Value =
        serde_json::from_str(&ok(kubectl(&srv, &["get", "job", "bad", "-o", "json"]))).unwrap();
    let failed = job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Failed")
        .unwrap()
        .clone();
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(job["status"]["failed"], 2);
    let pods = ok(kubectl(&srv, &["get", "pods", "-l", "job-name=bad"]));
    assert!(pods.contains("Error"), "{pods}");
}

#[test]
fn get_watch_sees_a_job_go_from_running_to_complete() {
    let srv = start();
    let mut watch = std::process::Command::new(common::KUBECTL)
        .arg("--kubeconfig")
        .arg(srv.kubeconfig_path())
        .args(["get", "jobs", "--watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // Let the watch establish before the job appears.
    std::thread::sleep(Duration::from_millis(500));
    // Long enough that a slow kubectl start still lists the job while it runs.
    let script = r#"{"attempts": [{"logs": [{"line": "x", "after_ms": 1500}]}]}"#;
    ok(kubectl_stdin(
        &srv,
        &["apply", "-f", "-"],
        &job_manifest("watched", script),
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    while Instant::now() < deadline && !lines.iter().any(|l: &String| l.contains("Complete")) {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            lines.push(l);
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let running = lines
        .iter()
        .position(|l| l.starts_with("watched") && l.contains("Running"));
    let complete = lines
        .iter()
        .position(|l| l.starts_with("watched") && l.contains("Complete"));
    assert!(
        matches!((running, complete), (Some(r), Some(c)) if r < c),
        "{lines:#?}"
    );
}

#[test]
fn requests_without_the_token_are_unauthorized() {
    let srv = start();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("kubeconfig");
    std::fs::write(
        &bad,
        srv.kubeconfig_yaml().replace(srv.token(), "wrong-token"),
    )
    .unwrap();
    let out = std::process::Command::new(common::KUBECTL)
        .arg("--kubeconfig")
        .arg(&bad)
        .args(["get", "ns"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Unauthorized") || err.contains("provide credentials"),
        "{err}"
    );
}

#[test]
fn generator_commands_that_send_protobuf_work_for_simple_kinds() {
    let srv = start();
    ok(kubectl(&srv, &["create", "namespace", "team-a"]));
    ok(kubectl(
        &srv,
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            "team-a",
            "--from-literal=mode=fast",
        ],
    ));
    ok(kubectl(
        &srv,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "-n",
            "team-a",
            "--from-literal=password=s3cret",
        ],
    ));
    let cm: serde_json::Value = serde_json::from_str(&ok(kubectl(
        &srv,
        &["get", "cm", "settings", "-n", "team-a", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(cm["data"]["mode"], "fast");
    let secret: serde_json::Value = serde_json::from_str(&ok(kubectl(
        &srv,
        &["get", "secret", "creds", "-n", "team-a", "-o", "json"],
    )))
    .unwrap();
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    // Deleting the namespace takes its contents with it.
    ok(kubectl(&srv, &["delete", "namespace", "team-a"]));
    let out = kubectl(&srv, &["get", "cm", "settings", "-n", "team-a"]);
    assert!(!out.status.success());
}
