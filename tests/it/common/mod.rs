//! Helpers shared by the stories: fixture copies, running the `kubes` binary, the hook cache
//! of this test run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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

/// The `kubes` binary under test, with the environment cleared of kubes and kube variables
/// (a developer's `KUBES_ENV` or `KUBECONFIG` must not reach a test) and the hook cache of this
/// test run ([`cache_dir`]). Every story runs the binary through this.
pub fn kubes_bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubes"));
    for var in ["KUBES_ENV", "KUBES_APP", "KUBES_SKIP", "KUBECONFIG"] {
        cmd.env_remove(var);
    }
    cmd.env("KUBES_CACHE_DIR", cache_dir());
    cmd
}

/// `kubes --project <dir> ...`, as [`kubes_bin`].
pub fn kubes(dir: &Path) -> Command {
    let mut cmd = kubes_bin();
    cmd.arg("--project").arg(dir);
    cmd
}

/// The hook cache of this test run (`KUBES_CACHE_DIR` of every `kubes` the tests start, and
/// the root of the in-process engines that keep a cache): compiled components are shared
/// within the run, never taken from or left in the user's `~/.cache/kubes`. One directory
/// per test process under the target directory's tmp/ (a static is never dropped, so a run
/// cannot remove its own); those of earlier runs whose process is gone are removed here.
pub fn cache_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubes-hook-cache");
        std::fs::create_dir_all(&parent).unwrap();
        remove_dead_runs(&parent);
        let dir = parent.join(format!("run-{}", std::process::id()));
        // Left by an earlier process with the same id: not ours to reuse.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        dir
    })
}

/// Remove the `run-PID` caches under `parent` whose process is no longer running (where
/// `/proc` tells; elsewhere they are left for `cargo clean`).
fn remove_dead_runs(parent: &Path) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("run-")) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !proc.join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
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
