//! Stories of a locked-down CI runner reading kubes' output: the hooks audit committed
//! beside the project and checked on every run, JSON lines and the JUnit report.

use crate::common::{copy_project, kubes, repo};
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
