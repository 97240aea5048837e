//! Reliability stories: an API server answering 429 and 500 some of the time does not
//! break a deploy (requests are retried with backoff, `Retry-After` honoured); one that
//! keeps failing stops it with the API's message.

use crate::cluster_common::{kubectl_json, Server};
use crate::common::seed_app;
use kube_testserver::{Faults, Options};

#[test]
fn apply_survives_injected_429s_and_500s() {
    let srv = Server::start_with(Options {
        faults: Faults {
            rate_429: 0.15,
            rate_500: 0.15,
            seed: 7,
            ..Default::default()
        },
        ..Default::default()
    });
    let project = seed_app();
    let out = srv
        .kubes(project.path())
        .args(["apply", "--output", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report = crate::common::json_report(&out);
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["retries"].as_u64().unwrap() > 0,
        "faults were injected, so something was retried: {report}"
    );
    let actions: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["objects"][0]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "created", "created", "created"]);
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"]
    )
    .is_some());
}

#[test]
fn a_server_that_keeps_failing_stops_the_apply_with_its_message() {
    let srv = Server::start_with(Options {
        faults: Faults {
            rate_500: 1.0,
            ..Default::default()
        },
        ..Default::default()
    });
    let project = seed_app();
    let out = srv
        .kubes(project.path())
        .arg("apply")
        .assert()
        .code(3)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("unavailable: an error on the server"),
        "{stderr}"
    );
}
