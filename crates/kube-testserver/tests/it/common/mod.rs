//! Helpers shared by the integration tests: a kube-rs client for a server, and running
//! the real kubectl against it.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_testserver::TestServer;
use std::process::Output;

pub async fn client(srv: &TestServer) -> kube::Client {
    client_with_retry(srv, true).await
}

/// `retry: false` turns off kube-rs's own retrying of 429/503/504, so tests see them.
pub async fn client_with_retry(srv: &TestServer, retry: bool) -> kube::Client {
    let kc = Kubeconfig::read_from(srv.kubeconfig_path()).expect("kubeconfig parses");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is usable");
    cfg.default_retry = retry;
    kube::Client::try_from(cfg).expect("client builds")
}

pub const KUBECTL: &str = "/usr/bin/kubectl";

/// Run kubectl with only `--kubeconfig` plus the given arguments.
pub fn kubectl(srv: &TestServer, args: &[&str]) -> Output {
    std::process::Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(srv.kubeconfig_path())
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("kubectl runs")
}

pub fn kubectl_stdin(srv: &TestServer, args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(srv.kubeconfig_path())
        .args(args)
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("stdin accepts the manifest");
    child.wait_with_output().expect("kubectl finishes")
}

/// Assert success and return stdout.
pub fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "kubectl failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    stdout
}
