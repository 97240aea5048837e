//! Story: a user looks at their hooks from the command line: `kubes plan` shows which hooks
//! are attached where, `kubes hooks list` shows each hook's point, module digest and grants,
//! `kubes hooks inspect` tells a hook component from a command or a shell script, and
//! `kubes hooks run` runs one hook as a separate step (the seed's "migration as a separate
//! step").

use crate::cluster_common::Server;
use crate::common::{kubes, seed_app, write};
use crate::hooks_support;
use predicates::prelude::PredicateBooleanExt;

const HOOKS: &str = "hooks:
  - name: check-job
    after: apply
    on: migrate/job
    module: hooks/probe.wasm
    timeout: 30s
    memory: 64Mi
    config:
      get: { apiVersion: batch/v1, kind: Job, name: migrate }
    grants:
      - { verbs: [get], resources: [jobs.batch], names: [migrate] }
  - name: announce
    before: apply
    module: hooks/probe.wasm
";

fn project() -> tempfile::TempDir {
    let project = seed_app();
    std::fs::create_dir_all(project.path().join("hooks")).unwrap();
    std::fs::copy(
        hooks_support::guest("hook_probe"),
        project.path().join("hooks/probe.wasm"),
    )
    .unwrap();
    write(project.path(), ".kubes/config/hooks.yaml", HOOKS);
    project
}

#[test]
fn plan_shows_attached_hooks() {
    let p = project();
    let out = kubes(p.path())
        .arg("plan")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    assert_eq!(
        lines[0], "hook announce (before apply, hooks/probe.wasm)",
        "{out}"
    );
    let job = lines
        .iter()
        .position(|l| l.starts_with("migrate/job"))
        .unwrap();
    assert_eq!(
        lines[job + 1].trim(),
        "hook check-job (after apply, hooks/probe.wasm)",
        "{out}"
    );
}

#[test]
fn list_shows_point_digest_and_grants() {
    let p = project();
    let out = kubes(p.path())
        .args(["hooks", "list"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("check-job\n  point:   after apply on migrate/job\n  module:  hooks/probe.wasm (sha256:"), "{out}");
    assert!(
        out.contains("  grants:  get jobs.batch names=migrate"),
        "{out}"
    );
    assert!(
        out.contains("  limits:  timeout 30000ms, memory 64 MiB, exit_on_fail true"),
        "{out}"
    );
    let json = kubes(p.path())
        .args(["--output", "json", "hooks", "list"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let digest = v[1]["digest"].as_str().unwrap();
    let bytes = std::fs::read(p.path().join("hooks/probe.wasm")).unwrap();
    assert_eq!(
        digest,
        format!("sha256:{}", kubes::hooks::cache::digest(&bytes))
    );
}

#[test]
fn inspect_tells_hooks_from_commands_and_scripts() {
    let p = project();
    kubes(p.path())
        .args(["hooks", "inspect"])
        .arg(p.path().join("hooks/probe.wasm"))
        .assert()
        .success()
        .stdout(predicates::str::contains("exports:\n  func run\n"))
        .stdout(predicates::str::contains(
            "instance kubes:hook/cluster@0.2.0",
        ))
        .stdout(predicates::str::contains("hook world: yes"));
    kubes(p.path())
        .args(["hooks", "inspect"])
        .arg(hooks_support::guest("hostile-wrong-world"))
        .assert()
        .failure()
        .stdout(predicates::str::contains(
            "hook world: no\n  - missing export `run`",
        ));
    write(
        p.path(),
        "bin/wait.sh",
        "kubectl wait --for=condition=Complete job/migrate\n",
    );
    kubes(p.path())
        .args(["hooks", "inspect"])
        .arg(p.path().join("bin/wait.sh"))
        .assert()
        .failure()
        .stdout(predicates::str::contains("not wasm"));
}

/// The hook world imports the monotonic clock (a timer for waits), but a hook that never
/// uses it has no such import, like every component built before the clock was in the
/// world: both fit.
#[test]
fn inspect_accepts_hooks_with_and_without_the_clock() {
    let p = project();
    let clock = "instance wasi:clocks/monotonic-clock@0.2.12";
    kubes(p.path())
        .args(["hooks", "inspect"])
        .arg(p.path().join("hooks/probe.wasm"))
        .assert()
        .success()
        .stdout(predicates::str::contains(clock).not())
        .stdout(predicates::str::contains("hook world: yes"));
    kubes(p.path())
        .args(["hooks", "inspect"])
        .arg(hooks_support::guest("migrate_wait"))
        .assert()
        .success()
        .stdout(predicates::str::contains(clock))
        .stdout(predicates::str::contains("hook world: yes"));
}

#[test]
fn a_hook_runs_as_a_separate_step() {
    let srv = Server::start();
    let p = project();
    srv.kubes(p.path()).arg("apply").assert().success();
    let out = srv
        .kubes(p.path())
        .args(["hooks", "run", "check-job"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.starts_with(
            "Running hook: after apply on: migrate/job\n=> hook check-job (hooks/probe.wasm)\n"
        ),
        "{out}"
    );
    assert!(out.contains("[check-job] got Job/migrate uid="), "{out}");
    let err = srv
        .kubes(p.path())
        .args(["hooks", "run", "nope"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&err).contains("no hook named \"nope\""));
    let err = srv
        .kubes(p.path())
        .args(["hooks", "run", "check-job", "--target", "web/service"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&err)
        .contains("hook check-job runs on migrate/job, not on web/service"));
}
