//! Hooks from a registry vs hooks in the project: what the first deploy on a fresh runner
//! pays (pull + compile), what a runner with a warm store and compiled-hook cache pays, and
//! what local files cost, for the migration example's three Rust hooks. Against Debian's
//! `docker-registry` on 127.0.0.1 (started here, no auth) and the test API server.
//!
//! Two measures, printed side by side:
//! - loading the hooks (`HookLifecycle::for_project`: resolve, fetch, verify, compile or take
//!   from the cache, link), median of several runs, in process;
//! - a whole `kubes deploy` of the example (its migration and rollout take most of it).
//!
//! Run: `cargo bench --bench registry_hooks --profile dev`.

#[path = "../tests/it/hooks_support/mod.rs"]
mod hooks_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_testserver::{Options, TestServer};
use kubes::hooks::registry::Resolve;
use kubes::hooks::{HookLifecycle, MemoryReporter, RunInfo};

const HOOKS: [&str; 3] = ["migrate-cleanup", "migrate-wait", "rollout-wait"];
const RUNS: usize = 5;

struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_registry(dir: &Path) -> anyhow::Result<(Registry, String)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        ),
    )?;
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let host = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&host).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "docker-registry did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((Registry(child), host))
}

fn kubes(cache: &Path, config: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubes"));
    c.env("KUBES_CACHE_DIR", cache)
        .env("KUBES_CONFIG_DIR", config)
        .env_remove("KUBES_ENV")
        .stdin(Stdio::null());
    c
}

fn ok(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_name() == "output" || e.file_name() == "hooks" {
            continue;
        }
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// Load the project's hooks in process with the store and compiled cache under `cache`.
fn load_hooks(project: &Path, cache: &Path, config: &Path) -> anyhow::Result<Duration> {
    // SAFETY (edition 2021: safe): the bench is single-threaded here; the hook engine and
    // the store read these when they are created, below.
    std::env::set_var("KUBES_CACHE_DIR", cache);
    std::env::set_var("KUBES_CONFIG_DIR", config);
    let info = RunInfo {
        app: "demo".into(),
        env: "dev".into(),
        namespace: "demo".into(),
        dry_run: true,
    };
    let started = Instant::now();
    let lifecycle = HookLifecycle::for_project(
        project,
        info,
        None,
        Arc::new(MemoryReporter::new()),
        Resolve::Locked,
    )?;
    let elapsed = started.elapsed();
    anyhow::ensure!(lifecycle.is_some(), "no hooks loaded");
    Ok(elapsed)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn deploy(project: &Path, cache: &Path, config: &Path) -> anyhow::Result<Duration> {
    let srv = TestServer::start_blocking(Options::default())?;
    let started = Instant::now();
    ok(kubes(cache, config)
        .arg("--project")
        .arg(project)
        .arg("--kubeconfig")
        .arg(srv.kubeconfig_path())
        .args(["deploy", "--locked"]))?;
    Ok(started.elapsed())
}

fn main() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let config = tmp.path().join("config");
    let (_registry, host) = start_registry(tmp.path())?;
    let dev_cache = tmp.path().join("dev-cache");

    // The registry project: every module an oci:// reference, locked.
    let registry_project = tmp.path().join("registry-app");
    copy_dir(
        &hooks_support::repo_root().join("examples/migration"),
        &registry_project,
    )?;
    let hooks_yaml = registry_project.join(".kubes/config/hooks.yaml");
    let mut text = std::fs::read_to_string(&hooks_yaml)?;
    for hook in HOOKS {
        let r = format!("oci://{host}/hooks/{hook}:v1");
        ok(kubes(&dev_cache, &config).args([
            "hooks",
            "push",
            hooks_support::guest(&hook.replace('-', "_"))
                .to_str()
                .unwrap(),
            &r,
        ]))?;
        text = text.replace(
            &format!("module: hooks/{hook}.wasm"),
            &format!("module: {r}"),
        );
    }
    std::fs::write(&hooks_yaml, text)?;
    ok(kubes(&dev_cache, &config)
        .arg("--project")
        .arg(&registry_project)
        .args(["hooks", "lock"]))?;

    // The same app with the hooks as files in the project.
    let local_project = tmp.path().join("local-app");
    copy_dir(
        &hooks_support::repo_root().join("examples/migration"),
        &local_project,
    )?;
    hooks_support::install_migration_hooks(&local_project)?;

    let fresh = |name: &str, i: usize| -> PathBuf { tmp.path().join(format!("{name}-{i}")) };
    let warm_registry = tmp.path().join("warm-registry");
    let warm_local = tmp.path().join("warm-local");
    load_hooks(&registry_project, &warm_registry, &config)?;
    load_hooks(&local_project, &warm_local, &config)?;
    let mut rows: Vec<(&str, Duration, Duration)> = Vec::new();
    let mut measure = |name: &'static str,
                       project: &Path,
                       cache: &dyn Fn(usize) -> PathBuf|
     -> anyhow::Result<()> {
        let loads = (0..RUNS)
            .map(|i| load_hooks(project, &cache(i), &config))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let whole = deploy(project, &cache(RUNS), &config)?;
        rows.push((name, median(loads), whole));
        Ok(())
    };
    measure(
        "registry, empty store and cache (pull + compile)",
        &registry_project,
        &|i| fresh("cold-registry", i),
    )?;
    measure("registry, warm store and cache", &registry_project, &|_| {
        warm_registry.clone()
    })?;
    measure("local files, empty cache (compile)", &local_project, &|i| {
        fresh("cold-local", i)
    })?;
    measure("local files, warm cache", &local_project, &|_| {
        warm_local.clone()
    })?;

    println!("registry_hooks: the migration example's 3 Rust hooks (~0.3 MB each), docker-registry on loopback");
    println!("{:<52} {:>16} {:>14}", "", "load hooks (ms)", "deploy (s)");
    for (name, load, whole) in &rows {
        println!(
            "{:<52} {:>16.1} {:>14.2}",
            name,
            load.as_secs_f64() * 1000.0,
            whole.as_secs_f64()
        );
    }
    println!();
    println!("load hooks: median of {RUNS} HookLifecycle::for_project runs (resolve with --locked: one tag check per");
    println!("module even when warm, fetch + verify, compile or cache, link); deploy: one `kubes deploy --locked`.");
    Ok(())
}
