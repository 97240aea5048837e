//! Compile benchmark: `kubes compile` beside `kubectl kustomize` on the same resources.
//!
//! Generates a project of 1,000 resources across 20 roles (Deployments, Services and
//! ConfigMaps, templated with `<%= docker_image %>`, `<%= @replicas %>` and a `base/all`
//! layer) in a temp dir, and the same resources as plain YAML with a kustomization.yaml
//! listing them. Then times, several runs each, in one go:
//!   - `kubes compile` as a process, fresh output (every file written),
//!   - `kubes compile` as a process, output already up to date,
//!   - `kubes::compile::compile` in-process (library, fresh output),
//!   - `kubectl kustomize` on the plain resources (the baseline),
//!
//! and prints min/median and the ratio. Run: `cargo bench --bench compile`
//! (or `cargo bench --profile dev --bench compile` to reuse the dev build).
//! Environment: `KUBES_BENCH_RUNS` (default 7), `KUBES_BENCH_RESOURCES` (default 1000),
//! `KUBES_BENCH_ROLES` (default 20).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubes::project::{Project, ProjectOptions};

#[path = "support/summary.rs"]
mod summary;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The kubes project: `.kubes/config.yaml`, variables, a `base/all` layer, and
/// `resources/role-RR/<kind>_NNN.yaml` templates.
fn generate(root: &Path, resources: usize, roles: usize) {
    write(
        &root.join(".kubes/config.yaml"),
        "app: bench\nnamespace: bench\nimage: bench/web:1\n",
    );
    write(
        &root.join(".kubes/variables/base.yaml"),
        "replicas: 2\nport: 8080\n",
    );
    write(
        &root.join(".kubes/resources/base/all.yaml"),
        "metadata:\n  labels:\n    app: <%= app %>\n    managed-by: kubes\n",
    );
    for i in 0..resources {
        let role = format!("role-{:02}", i % roles);
        let n = i / roles;
        let (file, body) = match n % 3 {
            0 => (
                format!("deploy_{n:03}"),
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {role}-app-{n}\nspec:\n  replicas: <%= @replicas %>\n  selector:\n    matchLabels:\n      app: {role}-app-{n}\n  template:\n    metadata:\n      labels:\n        app: {role}-app-{n}\n    spec:\n      containers:\n      - name: app\n        image: <%= docker_image %>\n        ports:\n        - containerPort: <%= @port %>\n        env:\n        - name: ROLE\n          value: {role}\n        resources:\n          limits:\n            memory: 256Mi\n            cpu: 500m\n"
                ),
            ),
            1 => (
                format!("svc_{n:03}"),
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {role}-svc-{n}\nspec:\n  selector:\n    app: {role}-app-{n}\n  ports:\n  - port: 80\n    targetPort: <%= @port %>\n"
                ),
            ),
            _ => (
                format!("config_map_{n:03}"),
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {role}-cm-{n}\ndata:\n  ROLE: {role}\n  ENV: <%= env %>\n  settings.yaml: |\n    level: info\n    workers: 4\n"
                ),
            ),
        };
        write(
            &root.join(format!(".kubes/resources/{role}/{file}.yaml")),
            &body,
        );
    }
}

/// The same resources as plain files plus a kustomization.yaml listing them.
fn kustomize_copy(compiled_output: &Path, dir: &Path) -> usize {
    let mut files = Vec::new();
    for role in std::fs::read_dir(compiled_output).unwrap() {
        let role = role.unwrap().path();
        for f in std::fs::read_dir(&role).unwrap() {
            let f = f.unwrap().path();
            let rel = format!(
                "{}/{}",
                role.file_name().unwrap().to_string_lossy(),
                f.file_name().unwrap().to_string_lossy()
            );
            write(&dir.join(&rel), &std::fs::read_to_string(&f).unwrap());
            files.push(rel);
        }
    }
    files.sort();
    let mut k = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for f in &files {
        k.push_str(&format!("- {f}\n"));
    }
    write(&dir.join("kustomization.yaml"), &k);
    files.len()
}

/// Time `f` `runs` times after one warm-up run; `setup` runs before each, untimed.
fn time(runs: usize, mut setup: impl FnMut(), mut f: impl FnMut()) -> Vec<Duration> {
    setup();
    f(); // warm-up: page cache, first-run effects
    (0..runs)
        .map(|_| {
            setup();
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run_ok(cmd: &mut Command) {
    let status = cmd
        .stdout(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed");
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let runs = env_usize("KUBES_BENCH_RUNS", 7).max(1);
    let resources = env_usize("KUBES_BENCH_RESOURCES", 1000);
    let roles = env_usize("KUBES_BENCH_ROLES", 20).max(1);
    let kubes_bin = PathBuf::from(env!("CARGO_BIN_EXE_kubes"));
    println!(
        "kubes compile benchmark: {resources} resources in {roles} roles, {runs} runs each, binary {}",
        kubes_bin.display()
    );
    // On disk (what users get), and on tmpfs when there is one: creating 1,000 files costs
    // far more on a busy disk than all of compile's own work, and tmpfs shows the latter.
    let tmp = tempfile::tempdir().unwrap();
    bench_in(
        tmp.path(),
        "temp dir on disk",
        &kubes_bin,
        runs,
        resources,
        roles,
    );
    if Path::new("/dev/shm").is_dir() {
        if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
            bench_in(
                shm.path(),
                "tmpfs (/dev/shm)",
                &kubes_bin,
                runs,
                resources,
                roles,
            );
        }
    }
}

fn bench_in(
    base: &Path,
    label: &str,
    kubes_bin: &Path,
    runs: usize,
    resources: usize,
    roles: usize,
) {
    let project = base.join("project");
    generate(&project, resources, roles);
    let output = project.join(".kubes/output");

    let clean = || {
        let _ = std::fs::remove_dir_all(&output);
    };
    let compile_cmd = || {
        let mut c = Command::new(kubes_bin);
        c.arg("--project").arg(&project).arg("-q").arg("compile");
        c
    };

    clean();
    run_ok(&mut compile_cmd());
    let kustomize_dir = base.join("kustomize");
    let files = kustomize_copy(&output, &kustomize_dir);
    println!("\n== {label}: {} ({files} output files)", base.display());

    let fresh = time(runs, clean, || run_ok(&mut compile_cmd()));
    let warm = time(runs, || {}, || run_ok(&mut compile_cmd()));
    let opts = ProjectOptions::new(&project);
    let library = time(runs, clean, || {
        let p = Project::load(&opts).unwrap();
        kubes::compile::compile(&p).unwrap();
    });
    let one_thread = time(runs, clean, || {
        run_ok(compile_cmd().env("KUBES_COMPILE_THREADS", "1"));
    });
    let render_only = time(
        runs,
        || {},
        || {
            let p = Project::load(&opts).unwrap();
            kubes::compile::render_all(&p).unwrap();
        },
    );

    let have_kubectl = Command::new("kubectl")
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let kustomize = have_kubectl.then(|| {
        time(
            runs,
            || {},
            || run_ok(Command::new("kubectl").arg("kustomize").arg(&kustomize_dir)),
        )
    });

    println!("{:<52} {:>10} {:>10}", "", "min ms", "median ms");
    let row = |name: &str, v: &Vec<Duration>| {
        let (min, med) = stats(v.clone());
        println!("{name:<52} {:>10.1} {:>10.1}", ms(min), ms(med));
        med
    };
    let fresh_med = row("kubes compile (process, fresh output)", &fresh);
    let warm_med = row("kubes compile (process, output up to date)", &warm);
    row(
        "kubes compile (process, fresh output, 1 thread)",
        &one_thread,
    );
    row("kubes::compile::compile (library, fresh output)", &library);
    row(
        "  of which render + merge, no writes (library)",
        &render_only,
    );
    match kustomize {
        Some(k) => {
            let k_med = row("kubectl kustomize (same resources, plain YAML)", &k);
            summary::record(summary::Figure {
                measure: &format!("compile {resources} resources, fresh output, {label}"),
                unit: "ms",
                kubes: ms(fresh_med),
                baseline_name: "kubectl kustomize",
                baseline: Some(ms(k_med)),
                goal: "keep it there (no goal)",
                met: None,
            });
            println!(
                "kustomize / kubes compile (medians): {:.1}x with fresh output, {:.1}x with output up to date",
                ms(k_med) / ms(fresh_med),
                ms(k_med) / ms(warm_med),
            );
        }
        None => println!(
            "kubectl not found: no baseline (install kubectl to compare with `kubectl kustomize`)"
        ),
    }
}
