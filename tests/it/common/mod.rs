//! Helpers shared by the stories: fixture copies, running the `kubes` binary, the hook cache
//! of this test run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;

/// Repository root (where `examples/` and `tests/fixtures/` are).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where scripts/setup.sh installed the test tools (ORAS, the JUnit schema): `.tools/`, or
/// `$KUBES_TOOLS_DIR` (CI keeps it in its cache).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("KUBES_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".tools"))
}

/// Copy a fixture project into a fresh temp dir (tests never write into the repository),
/// leaving out any `.kubes/output` a developer's run left behind.
pub fn copy_project(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(from, dir.path());
    dir
}

/// The report of a run with `--output json`: the last of its JSON lines (the events before
/// it, one per line, are checked to be JSON too).
pub fn json_report(stdout: &[u8]) -> serde_json::Value {
    let text = std::str::from_utf8(stdout).expect("JSON output is UTF-8");
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {l:?}: {e}")))
        .collect();
    let report = events.last().expect("a report line").clone();
    assert_eq!(report["event"], "report", "{text}");
    report
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

/// The `kubes` binary under test as a plain process (for stories that spawn and measure it
/// themselves; the others use [`kubes_bin`] or [`kubes`]): the environment cleared of kubes
/// and kube variables (a developer's `KUBES_*` or `KUBECONFIG` must not reach a test), with
/// the hook cache and cache key of this test run, never the user's `~/.cache/kubes` and
/// `~/.config/kubes`: compiled components are shared within the run (one compile of the Python
/// hook, say, for every story that runs it) and left in no one's home.
pub fn kubes_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kubes"));
    // Every flag has a KUBES_* variable: none of the developer's may reach a test. The
    // hook build tools' (scripts/hook-tools.sh) stay: `kubes new hook` builds with them.
    const KEEP: [&str; 4] = [
        "KUBES_COMPONENTIZE_",
        "KUBES_TOOLS_DIR",
        "KUBES_BUILD_",
        "KUBES_ROOT",
    ];
    for (var, _) in std::env::vars_os() {
        let name = var.to_string_lossy();
        if name.starts_with("KUBES_") && !KEEP.iter().any(|k| name.starts_with(k)) {
            cmd.env_remove(&var);
        }
    }
    cmd.env_remove("KUBECONFIG");
    let run = run_dirs();
    cmd.env("KUBES_CACHE_DIR", &run.cache)
        .env("KUBES_CONFIG_DIR", &run.config);
    cmd
}

/// [`kubes_process`] with assert_cmd's assertions.
pub fn kubes_bin() -> Command {
    Command::from_std(kubes_process())
}

/// `kubes --project <dir> ...`, as [`kubes_bin`].
pub fn kubes(dir: &Path) -> Command {
    let mut cmd = kubes_bin();
    cmd.arg("--project").arg(dir);
    cmd
}

/// An in-process hook engine with the run's hook cache and cache key (see [`kubes_process`]),
/// so the `kubes` processes of the run find what it compiled.
pub fn hook_engine() -> kubes::hooks::HookEngine {
    let run = run_dirs();
    kubes::hooks::HookEngine::with_cache(Some(run.cache.clone()), Some(run.key()))
        .expect("hook engine")
}

/// Where this test process keeps its hook cache (`cache/`) and the cache's key
/// (`config/cache.key`, the `KUBES_CONFIG_DIR` of the `kubes` it starts).
struct RunDirs {
    cache: PathBuf,
    config: PathBuf,
}

impl RunDirs {
    fn key(&self) -> PathBuf {
        self.config.join("cache.key")
    }
}

/// One directory per test process under the target directory's tmp/, made on first use (a
/// static is never dropped, so a run cannot remove its own); those of earlier runs whose
/// process is gone are removed then.
fn run_dirs() -> &'static RunDirs {
    static DIRS: OnceLock<RunDirs> = OnceLock::new();
    DIRS.get_or_init(|| {
        use std::os::unix::fs::DirBuilderExt;
        let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubes-test-runs");
        std::fs::create_dir_all(&parent).unwrap();
        remove_dead_runs(&parent);
        let dir = parent.join(format!("run-{}", std::process::id()));
        // Left by an earlier process with the same id: not ours to reuse.
        let _ = std::fs::remove_dir_all(&dir);
        let run = RunDirs {
            cache: dir.join("cache"),
            config: dir.join("config"),
        };
        for d in [&run.cache, &run.config] {
            // Private, as kubes wants its cache and key directories.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
        }
        // Make the key now, before any two `kubes` processes race to create it.
        let engine = kubes::hooks::HookEngine::with_cache(Some(run.cache.clone()), Some(run.key()))
            .expect("hook engine");
        let cache = engine.cache();
        assert!(
            cache.dir().is_some(),
            "the test run's hook cache is off: {:?}",
            cache.refused()
        );
        run
    })
}

/// Remove the `run-PID` directories under `parent` whose process is no longer running (where
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
