//! Story: a team declares hooks around the compile step (`before: compile`, `after:
//! compile`), e.g. to check the rendered manifests before anything reaches the cluster.
//! `kubes deploy` runs them around the compile, before it connects:
//!
//! - a `before: compile` hook runs first and never sees the output directory (even with
//!   `read_output: true`: the output is not this run's yet);
//! - an `after: compile` hook with `read_output: true` reads the freshly compiled output;
//! - both run before anything is applied, and a failing one stops the deploy there.
//!
//! The probe hook (examples/hooks/probe) in the real `kubes` binary against the test API
//! server.

use crate::cluster_common::{Deploy, Server};
use crate::common::{seed_app, write};
use crate::hooks_support;

fn project(hooks: &str) -> tempfile::TempDir {
    let project = seed_app();
    std::fs::create_dir_all(project.path().join("hooks")).unwrap();
    std::fs::copy(
        hooks_support::guest("hook_probe"),
        project.path().join("hooks/probe.wasm"),
    )
    .unwrap();
    write(project.path(), ".kubes/config/hooks.yaml", hooks);
    project
}

const HOOKS: &str = "hooks:
  - name: peek-early
    before: compile
    module: hooks/probe.wasm
    read_output: true
    exit_on_fail: false
    config: { read: /output/web/deployment.yaml }
  - name: check-output
    after: compile
    module: hooks/probe.wasm
    read_output: true
    config: { read: /output/web/deployment.yaml }
";

#[test]
fn compile_hooks_run_around_the_compile_before_anything_is_applied() {
    let srv = Server::start();
    let p = project(HOOKS);
    let run = Deploy::run(&srv, p.path(), &["deploy"]);
    assert_eq!(run.code, 0, "{}", run.show());
    run.assert_in_order(&[
        "Running hook: before compile",
        "[peek-early] probe peek-early at before compile on whole step app=demo env=dev ns=demo",
        "hook peek-early failed at before compile (exit_on_fail: false, continuing): returned an error: read /output/web/deployment.yaml:",
        "Running hook: after compile",
        "[check-output] probe check-output at after compile on whole step",
        "[check-output] read /output/web/deployment.yaml: apiVersion: apps/v1",
        "namespace/demo created",
        "deployment.apps/web created",
    ]);
}

#[test]
fn a_failing_compile_hook_stops_the_deploy_before_it_connects() {
    let srv = Server::start();
    let p = project(
        "hooks:
  - name: gate
    before: compile
    module: hooks/probe.wasm
    config: { fail: \"manifests are not signed\" }
",
    );
    let run = Deploy::run(&srv, p.path(), &["deploy"]);
    assert_eq!(run.code, 1, "{}", run.show());
    assert!(
        run.stderr.contains(
            "hook gate failed at before compile: returned an error: manifests are not signed"
        ),
        "{}",
        run.show()
    );
    assert!(!run.stdout.contains("created"), "{}", run.show());
    // Nothing was compiled either.
    assert!(!p.path().join(".kubes/output").exists());
}
