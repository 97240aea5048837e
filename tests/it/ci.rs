//! Stories of a locked-down CI runner reading kubes' output: the hooks audit committed
//! beside the project and checked on every run, JSON lines and the JUnit report.

use crate::cluster_common::Server;
use crate::common::{copy_project, kubes, repo, tools_dir};
use crate::hooks_support;

/// Review catches a widened hook: the team commits `kubes hooks audit` (text) and its JSON
/// form; someone adds a grant to a hook; `kubes hooks audit --check` fails on both (exit
/// 1, not the exit of bad input) and prints the added grant as a diff line.
#[test]
fn hooks_audit_check_fails_on_an_added_grant() {
    let project = copy_project(&repo().join("examples/migration"));
    hooks_support::install_migration_hooks(project.path()).unwrap();
    let dir = project.path();
    let text = kubes(dir).args(["hooks", "audit"]).output().unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("hook migrate-cleanup\n"), "{text}");
    assert!(
        text.contains("  source: file hooks/migrate-cleanup.wasm sha256:"),
        "{text}"
    );
    assert!(
        text.contains(
            "  grant: delete on jobs.batch names=migrate namespaces=demo cluster-scoped=false\n"
        ),
        "{text}"
    );
    std::fs::write(dir.join("hooks.audit"), &text).unwrap();
    let json = kubes(dir)
        .args(["hooks", "audit", "--output", "json"])
        .output()
        .unwrap();
    let line: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    std::fs::write(
        dir.join("hooks.audit.json"),
        serde_json::to_string_pretty(&line["audit"]).unwrap(),
    )
    .unwrap();
    for committed in ["hooks.audit", "hooks.audit.json"] {
        kubes(dir)
            .args(["hooks", "audit", "--check"])
            .arg(dir.join(committed))
            .assert()
            .success();
    }

    let hooks_yaml = dir.join(".kubes/config/hooks.yaml");
    let yaml = std::fs::read_to_string(&hooks_yaml).unwrap();
    let widened = yaml.replace(
        "{ verbs: [delete], resources: [jobs.batch], names: [migrate] }",
        "{ verbs: [delete], resources: [jobs.batch], names: [migrate] }\n      - { verbs: [get], resources: [secrets] }",
    );
    assert_ne!(yaml, widened);
    std::fs::write(&hooks_yaml, widened).unwrap();
    let out = kubes(dir)
        .args(["hooks", "audit", "--check"])
        .arg(dir.join("hooks.audit"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(
        diff.lines()
            .any(|l| l == "+  grant: get on secrets namespaces=demo cluster-scoped=false"),
        "{diff}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("the hooks audit differs from"));
    let out = kubes(dir)
        .args(["hooks", "audit", "--check"])
        .arg(dir.join("hooks.audit.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(
        diff.lines()
            .any(|l| l.starts_with('+') && l.contains("\"secrets\"")),
        "{diff}"
    );
}

/// `examples/migration` with its hooks, plus a hostile hook after `web/service` that prints
/// terminal escapes on many lines (and fails with more; `exit_on_fail: false`).
fn migration_with_hostile_hook() -> tempfile::TempDir {
    let project = copy_project(&repo().join("examples/migration"));
    hooks_support::install_migration_hooks(project.path()).unwrap();
    std::fs::copy(
        hooks_support::guest("hostile_terminal"),
        project.path().join("hooks/terminal.wasm"),
    )
    .unwrap();
    let hooks_yaml = project.path().join(".kubes/config/hooks.yaml");
    let mut yaml = std::fs::read_to_string(&hooks_yaml).unwrap();
    yaml.push_str(
        "  - name: terminal\n    after: apply\n    on: web/service\n    module: hooks/terminal.wasm\n    exit_on_fail: false\n",
    );
    std::fs::write(&hooks_yaml, yaml).unwrap();
    project
}

/// `xmllint --schema junit-10.xsd FILE` (scripts/setup.sh installs both).
fn assert_valid_junit(file: &std::path::Path) {
    let schema = tools_dir().join("junit/junit-10.xsd");
    assert!(
        schema.exists(),
        "{} is missing: run `bash scripts/setup.sh` (it fetches the JUnit schema)",
        schema.display()
    );
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&schema)
        .arg(file)
        .output()
        .expect("xmllint runs (scripts/setup.sh installs libxml2-utils)");
    assert!(
        out.status.success(),
        "{} does not validate:\n{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap()
    );
}

/// A CI job deploys with `--output json --junit FILE` while one hook prints terminal escapes
/// on many lines: every line of stdout is one JSON object with an `event` (hook starts,
/// lines, ends, files, the report last), the hostile text arrives escaped, and the JUnit file
/// (one case per file and per hook run) validates against Jenkins' JUnit schema. A failing
/// deploy's report fails the hook that stopped it and skips the files not attempted.
#[test]
fn a_deploy_with_hostile_hook_output_is_json_lines_and_valid_junit() {
    let srv = Server::start();
    let project = migration_with_hostile_hook();
    let dir = project.path();
    let junit = dir.join("junit.xml");
    let out = srv
        .kubes(dir)
        .args(["deploy", "--output", "json", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .enumerate()
        .map(|(i, line)| {
            assert!(
                !line.chars().any(char::is_control),
                "line {i} has a raw control character: {line:?}"
            );
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("line {i} is not JSON ({e}): {line:?}"));
            assert!(v["event"].is_string(), "line {i} has no event: {line}");
            v
        })
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.last(), Some(&"report"), "{kinds:?}");
    assert_eq!(events.last().unwrap()["ok"], true);
    for hook in [
        "migrate-cleanup",
        "migrate-wait",
        "terminal",
        "rollout-wait",
    ] {
        for kind in ["hook-start", "hook-end"] {
            assert!(
                events
                    .iter()
                    .any(|e| e["event"] == kind && e["hook"] == hook),
                "no {kind} of {hook}: {kinds:?}"
            );
        }
    }
    let terminal_lines: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "hook-output" && e["hook"] == "terminal")
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert!(
        terminal_lines.contains(&"\\x1b[2K\\x0d[kubes] deploy complete"),
        "{terminal_lines:?}"
    );
    assert!(terminal_lines.len() >= 7, "{terminal_lines:?}");
    // The person reading the CI log sees the same run as text on stderr, hooks' lines
    // prefixed and escaped there too.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[migrate-wait] Migration complete"),
        "{stderr}"
    );
    assert!(
        stderr.contains("[terminal] \\x1b[2K\\x0d[kubes] deploy complete"),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "{stderr}");
    let end = events
        .iter()
        .find(|e| e["event"] == "hook-end" && e["hook"] == "terminal")
        .unwrap();
    assert_eq!(end["ok"], false);
    assert!(
        end["message"]
            .as_str()
            .unwrap()
            .contains("\\x1b[31mforged error\\x1b[0m\\x0d[other-hook] ok"),
        "{end}"
    );

    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(
        xml.matches("<testcase ").count(),
        8,
        "4 files, 4 hook runs:\n{xml}"
    );
    assert!(xml.contains("tests=\"8\" failures=\"1\""), "{xml}");
    assert!(
        xml.contains(
            "<testcase classname=\"kubes.hook\" name=\"terminal (after apply on web/service)\""
        ),
        "{xml}"
    );

    // The failing migration: the hook that stopped the deploy fails, the web is skipped.
    let out = srv
        .kubes(dir)
        .args(["deploy", "--env", "failing", "--output", "json", "--junit"])
        .arg(&junit)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert_valid_junit(&junit);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(
            "<testcase classname=\"kubes.hook\" name=\"migrate-wait (after apply on migrate/job)\""
        ),
        "{xml}"
    );
    assert!(xml.contains("BackoffLimitExceeded"), "{xml}");
    assert_eq!(xml.matches("<skipped ").count(), 2, "{xml}");
}

/// A CI job sets flags through `KUBES_*` variables, is never asked anything, and branches on
/// distinct exit codes: bad input is 2, a cluster that cannot be reached 3.
#[test]
fn flags_come_from_the_environment_and_exit_codes_tell_failures_apart() {
    let project = copy_project(&repo().join("examples/migration"));
    let dir = project.path();
    let out = crate::common::kubes_bin()
        .env("KUBES_PROJECT", dir)
        .env("KUBES_OUTPUT", "json")
        .env("KUBES_ENV", "failing")
        .arg("plan")
        .output()
        .unwrap();
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan.is_object(), "{plan}");

    // No terminal, no -y: delete refuses at once (bad input) instead of waiting for an answer.
    let out = kubes(dir).arg("delete").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass -y"));
    // KUBES_YES is -y: now it gets as far as the cluster, which is not there (3).
    let out = kubes(dir)
        .env("KUBES_YES", "true")
        .env("KUBES_KUBECONFIG", dir.join("missing-kubeconfig"))
        .arg("delete")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Bad input: a project that is not one.
    let out = kubes(&dir.join("nowhere")).arg("plan").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
