//! Helpers shared by the CLI integration tests: fixture copies and running the binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// Repository root (where `examples/` and `tests/fixtures/` are).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copy a fixture project into a fresh temp dir (tests never write into the repository),
/// leaving out any `.kubes/output` a developer's run left behind.
pub fn copy_project(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(from, dir.path());
    dir
}

/// The seed's migration app as the seed has it: `examples/migration` without what makes it a
/// demo — no `.kubes/config/hooks.yaml` (its modules are built by scripts/build-hooks, which
/// most tests do not need), no built `hooks/`, and no `migrate/job` layers carrying the test
/// API server's pod script. For tests about compile and the apply engine, not about hooks.
pub fn seed_app() -> tempfile::TempDir {
    let dir = copy_project(&repo().join("examples/migration"));
    let _ = std::fs::remove_file(dir.path().join(".kubes/config/hooks.yaml"));
    let _ = std::fs::remove_dir_all(dir.path().join(".kubes/resources/migrate/job"));
    let _ = std::fs::remove_dir_all(dir.path().join("hooks"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "output" && from.ends_with(".kubes") {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// `kubes --project <dir> ...`, with the environment cleared of kubes variables.
pub fn kubes(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("kubes").unwrap();
    cmd.arg("--project").arg(dir);
    for var in ["KUBES_ENV", "KUBES_APP", "KUBES_SKIP"] {
        cmd.env_remove(var);
    }
    cmd
}

pub fn stdout(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

pub fn stderr_of_failure(cmd: &mut Command) -> String {
    let out = cmd.assert().failure().get_output().stderr.clone();
    String::from_utf8(out).unwrap()
}

pub fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every file under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

pub fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}
