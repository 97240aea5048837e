//! The `kube-testserver` binary: announces its URL, writes a kubeconfig kubectl can use,
//! and rejects bad flags with a clear message.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn the_binary_prints_its_url_first_and_serves_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("kube-testserver"))
        .args(["--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut first).unwrap();
    let result = std::panic::catch_unwind(|| {
        assert!(
            first.starts_with("listening on https://127.0.0.1:"),
            "{first:?}"
        );
        let config = std::fs::read_to_string(&kubeconfig).unwrap();
        assert!(
            config.contains(first.trim().trim_start_matches("listening on ")),
            "{config}"
        );
        assert!(
            config.contains("token: ") && config.contains("namespace: default"),
            "{config}"
        );
        let out = Command::new(common::KUBECTL)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["get", "namespaces", "-o", "name"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
    });
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap();
}

#[test]
fn bad_fault_rates_are_rejected_with_what_was_expected() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("kube-testserver"))
        .args(["--kubeconfig", "/dev/null", "--rate-429", "1.5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--rate-429") && err.contains("expected a fraction between 0 and 1"),
        "{err}"
    );
}

#[test]
fn a_negative_backoff_scale_is_rejected() {
    let out = Command::new(assert_cmd::cargo::cargo_bin("kube-testserver"))
        .args(["--kubeconfig", "/dev/null", "--backoff-scale=-1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--backoff-scale") && err.contains("expected a non-negative number"),
        "{err}"
    );
}
