//! Shared by the hook tests: builds the guest hooks in `examples/hooks` once per test run
//! (a real `cargo build --target wasm32-wasip2`) and finds their components; builds the
//! Python and JavaScript example hooks with their scripts (`polyglot()`), also once;
//! `scenario` runs them against the test API server.
//!
//! The hook benches include this module by path (`../tests/it/hooks_support/mod.rs`), so it
//! stands alone (no `crate::` paths) and each of its users takes only some of it.

#![allow(dead_code)]

pub mod scenario;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kubes::hooks::engine::HookInvocation;
use kubes::hooks::HookReporter;
use kubes::lifecycle::{Point, Step, When};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn build_guests() -> Result<PathBuf, String> {
    let root = repo_root();
    let manifest = root.join("examples/hooks/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = root.join("examples/hooks/target/wasm32-wasip2/debug");
    // Cargo decides by modification times, and a fresh clone has new ones on every file:
    // with the build folder kept in a CI cache (.ci/run), unchanged guests would still be
    // rebuilt (~1 min). The digest of what they are built from decides instead.
    let stamp = built.join(".kubes-inputs.sha256");
    let digest = guest_inputs_digest(&root, &cargo)?;
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == digest) {
        return Ok(built);
    }
    let out = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        // The host build's flags (e.g. coverage or target dir) must not leak into guests.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building guest hooks failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::write(&stamp, &digest).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(built)
}

/// The digest of everything the guest hooks are built from: the files of `examples/hooks`,
/// `hooks-sdk` and `wit` (relative paths and contents; build folders left out) and the
/// toolchain (`cargo -vV`, `rustc -vV`).
fn guest_inputs_digest(root: &Path, cargo: &str) -> Result<String, String> {
    use sha2::{Digest, Sha256};
    fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_name() == "target" {
                // Build output (in CI a link into the cache), not an input.
            } else if entry.file_type()?.is_dir() {
                walk(root, &path, files)?;
            } else {
                files.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for dir in ["examples/hooks", "hooks-sdk", "wit"] {
        walk(root, &root.join(dir), &mut files).map_err(|e| format!("{dir}: {e}"))?;
    }
    files.sort();
    let mut hash = Sha256::new();
    for (tool, args) in [(cargo, ["-vV"]), ("rustc", ["-vV"])] {
        let out = Command::new(tool)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {tool}: {e}"))?;
        hash.update(&out.stdout);
    }
    for file in files {
        let bytes =
            std::fs::read(root.join(&file)).map_err(|e| format!("{}: {e}", file.display()))?;
        hash.update(file.to_string_lossy().as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    Ok(hex::encode(hash.finalize()))
}

/// Path of a built guest component, e.g. `guest("hostile_spin")` or `guest("hostile-wrong-world")`.
pub fn guest(name: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR
        .get_or_init(build_guests)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"));
    let p = dir.join(format!("{name}.wasm"));
    assert!(p.exists(), "guest {name} was not built at {}", p.display());
    p
}

/// A guest built optimised (`--release`), as users ship hooks: for benches, where a debug
/// build's own slowness (its JSON parsing, say) would be counted as the host's.
pub fn guest_release(name: &str) -> PathBuf {
    let root = repo_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let package = format!(
        "hook-{}",
        name.trim_start_matches("hook_").replace('_', "-")
    );
    let out = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
        ])
        .arg(&package)
        .arg("--manifest-path")
        .arg(root.join("examples/hooks/Cargo.toml"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "building {package} (release) failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = root.join(format!(
        "examples/hooks/target/wasm32-wasip2/release/{name}.wasm"
    ));
    assert!(p.exists(), "guest {name} was not built at {}", p.display());
    p
}

/// Put the Rust example hooks, built, where examples/migration's hooks.yaml names them
/// (`hooks/NAME.wasm` in `project`), as scripts/build-hooks does.
pub fn install_migration_hooks(project: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(project.join("hooks"))?;
    for hook in ["migrate-cleanup", "migrate-wait", "rollout-wait"] {
        std::fs::copy(
            guest(&hook.replace('-', "_")),
            project.join(format!("hooks/{hook}.wasm")),
        )?;
    }
    Ok(())
}

/// The components of the Python and JavaScript example hooks.
pub struct PolyglotHooks {
    /// `examples/hooks-py`: migrate-wait in Python (componentize-py).
    pub python_migrate_wait: PathBuf,
    /// `examples/hooks-js`: annotate-deployment in JavaScript (componentize-js).
    pub js_annotate_deployment: PathBuf,
    /// `examples/hooks-js-migrate-wait`: migrate-wait in JavaScript, on `hooks-sdk-js`.
    pub js_migrate_wait: PathBuf,
}

/// Run one example's `build.sh` (it installs the pinned tool if missing, bounds the build in
/// time and memory, and does nothing when its output is up to date); the component's path is
/// the last line it prints.
fn run_build_script(dir: &str) -> Result<PathBuf, String> {
    let script = repo_root().join(dir).join("build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}):\n{stderr}",
            script.display(),
            out.status
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = PathBuf::from(stdout.lines().last().unwrap_or("").trim());
    if !path.is_file() {
        return Err(format!(
            "{} printed no component path (stdout: {stdout:?}):\n{stderr}",
            script.display()
        ));
    }
    Ok(path)
}

/// Build the Python and JavaScript example hooks, once per test run: Python alongside the
/// JavaScript ones, which build one after the other (at most two tool runs at once, each
/// ~0.8 GB).
pub fn polyglot() -> &'static PolyglotHooks {
    static HOOKS: OnceLock<Result<PolyglotHooks, String>> = OnceLock::new();
    HOOKS
        .get_or_init(|| {
            let (py, js) = std::thread::scope(|s| {
                let py = s.spawn(|| run_build_script("examples/hooks-py"));
                let js = s.spawn(|| {
                    Ok::<_, String>((
                        run_build_script("examples/hooks-js")?,
                        run_build_script("examples/hooks-js-migrate-wait")?,
                    ))
                });
                (py.join(), js.join())
            });
            let panicked = || "the build thread panicked".to_string();
            let (js_annotate_deployment, js_migrate_wait) = js.map_err(|_| panicked())??;
            Ok(PolyglotHooks {
                python_migrate_wait: py.map_err(|_| panicked())??,
                js_annotate_deployment,
                js_migrate_wait,
            })
        })
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// An invocation with test defaults: before apply, namespace `demo`, no grants, no cluster.
pub fn invocation(name: &str, reporter: Arc<dyn HookReporter>) -> HookInvocation {
    HookInvocation {
        name: name.to_string(),
        point: Point {
            when: When::Before,
            step: Step::Apply,
        },
        target: None,
        app: "demo".into(),
        env: "dev".into(),
        namespace: "demo".into(),
        dry_run: false,
        config_json: "null".into(),
        timeout: Duration::from_secs(20),
        memory: 64 << 20,
        read_output: None,
        grants: Vec::new(),
        limits: Default::default(),
        cluster: None,
        reporter,
    }
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}
