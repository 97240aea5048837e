//! Story: a hook author tests a hook without a cluster. The example hooks' scenario files
//! (examples/hooks/*/tests/*.scenario.yaml: success at once and after retries, failure,
//! deadline, image pull failure, timeout, logs unavailable, missing grants...) pass under
//! `kubes hooks test`, against the Rust hooks and, with `--component`, the Python and
//! JavaScript migrate-wait hooks. Then an operator records a failing deploy on a cluster
//! (`kubes deploy --record`) and replays it on a laptop (`kubes hooks test --replay`): same
//! outcome; a recording that does not match what the hook asks is reported call by call.
//!
//! No timing is asserted; the wall times are printed (`--nocapture`) for the notes.

use std::path::Path;

use crate::cluster_common::{Deploy, Server};
use crate::common::{copy_project, kubes_bin, repo};
use crate::hooks_support::{guest, install_migration_hooks, polyglot};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `kubes hooks test ARGS...`: the table it printed, asserting it passed `n` scenarios.
fn hooks_test(args: &[&str], n: usize) -> String {
    let started = std::time::Instant::now();
    let out = kubes_bin()
        .args(["hooks", "test"])
        .args(args)
        .output()
        .unwrap();
    let table = text(&out.stdout);
    assert!(
        out.status.success(),
        "kubes hooks test {args:?} failed:\n{table}\n{}",
        text(&out.stderr)
    );
    assert!(
        table.contains(&format!("{n} scenarios, {n} passed, 0 failed")),
        "{table}"
    );
    eprintln!(
        "--- kubes hooks test {args:?} ({:.2?} with the process)\n{table}",
        started.elapsed()
    );
    table
}

fn example(hook: &str) -> String {
    repo()
        .join("examples/hooks")
        .join(hook)
        .display()
        .to_string()
}

#[test]
fn the_example_hooks_scenarios_pass() {
    guest("migrate_wait"); // builds examples/hooks once for the run
    let junit = tempfile::NamedTempFile::new().unwrap();
    let table = hooks_test(
        &[
            &example("migrate-wait"),
            "--junit",
            junit.path().to_str().unwrap(),
        ],
        10,
    );
    let timeout = table.lines().find(|l| l.starts_with("timeout ")).unwrap();
    assert!(timeout.ends_with(" 5m"), "simulated 300 s: {timeout}");
    let xml = std::fs::read_to_string(junit.path()).unwrap();
    assert!(
        xml.contains("<testsuite name=\"migrate-wait\" tests=\"10\" failures=\"0\""),
        "{xml}"
    );
    hooks_test(&[&example("rollout-wait")], 3);
    hooks_test(&[&example("migrate-cleanup")], 3);
}

#[test]
fn the_migrate_wait_scenarios_pass_in_python_and_javascript() {
    let hooks = polyglot();
    for component in [&hooks.python_migrate_wait, &hooks.js_migrate_wait] {
        hooks_test(
            &[
                &example("migrate-wait"),
                "--component",
                component.to_str().unwrap(),
            ],
            10,
        );
    }
}

#[test]
fn a_scenario_that_does_not_hold_fails_and_says_why() {
    guest("migrate_wait");
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("tests");
    std::fs::create_dir(&tests).unwrap();
    std::fs::copy(
        repo().join("examples/hooks/migrate-wait/tests/hook.yaml"),
        tests.join("hook.yaml"),
    )
    .unwrap();
    std::fs::write(
        tests.join("wrong.scenario.yaml"),
        "workloads:\n- job: migrate\n  attempts: [{logs: [done], exit_code: 1}]\n  backoff_limit: 0\nexpect:\n  outcome: ok\n",
    )
    .unwrap();
    let component = guest("migrate_wait");
    let out = kubes_bin()
        .args(["hooks", "test"])
        .arg(dir.path())
        .arg("--component")
        .arg(&component)
        .output()
        .unwrap();
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(
        table.contains("wrong                                    FAILED"),
        "{table}"
    );
    assert!(
        table.contains("expected the hook to succeed, it failed: migration Job migrate failed: BackoffLimitExceeded"),
        "{table}"
    );

    // A broken file names itself, its line and what was expected; nothing runs.
    std::fs::write(
        tests.join("broken.scenario.yaml"),
        "workloads:\n- job: migrate\n  attempts:\n  - run: later\n",
    )
    .unwrap();
    let out = kubes_bin()
        .args(["hooks", "test"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    // Bad input (docs/ci.md's exit codes), not a failing scenario.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("broken.scenario.yaml:4:") && stderr.contains("expected a duration"),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).is_empty(),
        "ran anyway: {}",
        text(&out.stdout)
    );
}

/// `kubes hooks test --replay FILE` in `project`.
fn replay(project: &Path, recording: &Path) -> std::process::Output {
    kubes_bin()
        .arg("--project")
        .arg(project)
        .args(["hooks", "test", "--replay"])
        .arg(recording)
        .output()
        .unwrap()
}

#[test]
fn a_recorded_failing_deploy_replays_to_the_same_outcome() {
    let project = copy_project(&repo().join("examples/migration"));
    install_migration_hooks(project.path()).unwrap();
    let srv = Server::start();
    let recording = project.path().join("deploy.recording.json");
    let deploy = Deploy::run(
        &srv,
        project.path(),
        &[
            "--env",
            "failing",
            "deploy",
            "--record",
            recording.to_str().unwrap(),
        ],
    );
    assert_eq!(deploy.code, 1, "{}", deploy.show());
    deploy.assert_in_order(&["Migration failed: BackoffLimitExceeded"]);

    let out = replay(project.path(), &recording);
    let table = text(&out.stdout);
    eprintln!("--- replay\n{table}");
    assert!(out.status.success(), "{table}\n{}", text(&out.stderr));
    assert!(
        table.contains("2. migrate-wait (after apply on migrate/job) ok"),
        "{table}"
    );
    assert!(table.contains("2 scenarios, 2 passed, 0 failed"), "{table}");

    // The recorded outcome is the deploy's; a recording whose Job watch was asked with
    // other parameters no longer answers the hook: the replay names both requests.
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&recording).unwrap()).unwrap();
    let wait = rec["hooks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|h| h["hook"] == "migrate-wait")
        .unwrap();
    assert_eq!(
        wait["outcome"],
        "returned an error: migration Job migrate failed: BackoffLimitExceeded"
    );
    let watch = wait["exchanges"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| {
            e["uri"].as_str().unwrap().contains("/jobs?")
                && e["uri"].as_str().unwrap().contains("watch=true")
        })
        .unwrap();
    let uri = watch["uri"]
        .as_str()
        .unwrap()
        .replace("watch=true", "watch=1");
    watch["uri"] = uri.into();
    let tampered = project.path().join("tampered.json");
    std::fs::write(&tampered, rec.to_string()).unwrap();
    let out = replay(project.path(), &tampered);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{table}");
    assert!(table.contains("the outcome differs: recorded \"returned an error: migration Job migrate failed: BackoffLimitExceeded\""), "{table}");
    assert!(
        table.contains("the replay asked GET /apis/batch/v1/namespaces/demo/jobs?&watch=true")
            && table.contains("the recording has GET /apis/batch/v1/namespaces/demo/jobs?&watch=1"),
        "{table}"
    );
}
