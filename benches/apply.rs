//! Apply a 500-resource project to the test API server three ways, side by side in one run:
//! - `kubes apply` (the binary: compile, connect, server-side apply in plan order);
//! - `kubectl apply -f FILE` once per compiled output file, which is how Kubes drives kubectl;
//! - one `kubectl apply --server-side -R -f .kubes/output`.
//!
//! The project has 25 roles, each with a ConfigMap file (10 documents), a Service file (5)
//! and a Deployment file (5), plus the namespace: 501 objects in 76 files. Each way applies
//! its own copy into its own namespace, so all three create the same objects; the kubectl
//! ways get the output compiled beforehand (not timed).
//!
//! Then, the no-op re-apply: each way applies its unchanged project again (kubes: median
//! of 3 runs, with the number of API requests it made; one kubectl over the directory:
//! one run), the deploy most CI pipelines make most of the time.
//!
//! Run: `cargo bench --bench apply` (add `--profile dev` to skip the optimised build).
//! `KUBES_BENCH_ROLES` changes the number of roles (20 objects each),
//! `KUBES_BENCH_CONCURRENCY` kubes' `--concurrency` (default 32), `KUBES_BENCH_LATENCY_MS`
//! the scenarios' added latency per API request (default `0,5`: loopback, then a round trip
//! like a remote cluster's). The loopback server does each write under one global lock, so
//! at 0 ms every way is bound by the server and concurrency cannot show.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube_testserver::{Faults, Options, TestServer};

#[path = "support/summary.rs"]
mod summary;

const KUBECTL: &str = "/usr/bin/kubectl";
const KUBES: &str = env!("CARGO_BIN_EXE_kubes");

fn main() {
    let roles: usize = std::env::var("KUBES_BENCH_ROLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let latencies: Vec<u64> = std::env::var("KUBES_BENCH_LATENCY_MS")
        .unwrap_or_else(|_| "0,5".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let objects = roles * 20 + 1;
    let files = roles * 3 + 1;
    println!("apply a project of {objects} objects in {files} files to the test API server");
    for ms in latencies {
        scenario(roles, Duration::from_millis(ms));
    }
}

/// One side-by-side run against a fresh server that adds `latency` to every request
/// (0: loopback; a few ms: what a remote cluster's round trip adds).
fn scenario(roles: usize, latency: Duration) {
    let srv = TestServer::start_blocking(Options {
        faults: Faults {
            latency,
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("test server starts");
    let kubeconfig = srv.kubeconfig_path().to_path_buf();
    let work = tempfile::tempdir().expect("temp dir");
    let objects = roles * 20 + 1;

    // kubes: compile + apply, one process.
    let project = write_project(work.path(), "bench-kubes", roles);
    let concurrency = std::env::var("KUBES_BENCH_CONCURRENCY").unwrap_or_else(|_| "32".into());
    let t = Instant::now();
    run(Command::new(KUBES)
        .arg("--project")
        .arg(&project)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["apply", "-q", "--concurrency", &concurrency]));
    let kubes = t.elapsed();
    check_count(&kubeconfig, "bench-kubes", objects - 1);

    // kubectl apply -f, once per output file, in kubes' plan order.
    let project = write_project(work.path(), "bench-kubectl-each", roles);
    let outputs = compiled_outputs(&project);
    let t = Instant::now();
    for f in &outputs {
        run(Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("apply")
            .arg("-f")
            .arg(f));
    }
    let each = t.elapsed();
    check_count(&kubeconfig, "bench-kubectl-each", objects - 1);

    // One kubectl apply --server-side over the output directory. The namespace goes first:
    // one kubectl call does not order a Namespace before what lives in it.
    let project = write_project(work.path(), "bench-kubectl-dir", roles);
    let outputs = compiled_outputs(&project);
    let t = Instant::now();
    run(Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["apply", "--server-side", "-f"])
        .arg(&outputs[0]));
    run(Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["apply", "--server-side", "-R", "-f"])
        .arg(project.join(".kubes/output")));
    let one = t.elapsed();
    check_count(&kubeconfig, "bench-kubectl-dir", objects - 1);

    println!();
    println!("added API latency per request: {} ms", latency.as_millis());
    println!("{:<52} {:>8}", "way", "time");
    println!("{:<52} {:>8}", "kubes apply (compile + apply)", fmt(kubes));
    println!(
        "{:<52} {:>8}",
        format!(
            "kubectl apply -f FILE, once per file ({} files)",
            outputs.len()
        ),
        fmt(each)
    );
    println!(
        "{:<52} {:>8}",
        "kubectl apply --server-side -R -f .kubes/output",
        fmt(one)
    );
    println!(
        "kubes is {:.1}x faster than kubectl per file (goal >= 5x)",
        each.as_secs_f64() / kubes.as_secs_f64()
    );
    println!(
        "kubes is {:.1}x faster than one kubectl over the directory (goal >= 1.5x)",
        one.as_secs_f64() / kubes.as_secs_f64()
    );

    // The no-op re-apply: nothing changed since the apply above.
    let kubes_project = work.path().join("bench-kubes");
    let mut again = Vec::new();
    let mut requests = 0;
    for _ in 0..3 {
        srv.clear_requests();
        let t = Instant::now();
        run(Command::new(KUBES)
            .arg("--project")
            .arg(&kubes_project)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["apply", "-q", "--concurrency", &concurrency]));
        again.push(t.elapsed());
        requests = srv.requests().len();
    }
    again.sort();
    let kubes_again = again[again.len() / 2];
    let project = work.path().join("bench-kubectl-dir");
    let t = Instant::now();
    run(Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["apply", "--server-side", "-R", "-f"])
        .arg(project.join(".kubes/output")));
    let one_again = t.elapsed();
    let ratio = one_again.as_secs_f64() / kubes_again.as_secs_f64();
    println!(
        "{:<52} {:>8}   ({requests} API requests)",
        "no-op re-apply: kubes apply",
        fmt(kubes_again)
    );
    println!(
        "{:<52} {:>8}   ({ratio:.1}x kubes)",
        "no-op re-apply: kubectl apply --server-side -R -f",
        fmt(one_again)
    );
    let ms = latency.as_millis();
    let (goal, met) = if ms == 0 {
        (
            "<= 0.2 s".to_string(),
            kubes_again <= Duration::from_millis(200),
        )
    } else {
        (">= 50x kubectl".to_string(), ratio >= 50.0)
    };
    summary::record(summary::Figure {
        measure: &format!("no-op re-apply of {objects} objects, {ms} ms API latency"),
        unit: "s",
        kubes: kubes_again.as_secs_f64(),
        baseline_name: "kubectl apply --server-side -R -f",
        baseline: Some(one_again.as_secs_f64()),
        goal: &goal,
        met: Some(met),
    });
    summary::record(summary::Figure {
        measure: &format!("first apply of {objects} objects, {ms} ms API latency"),
        unit: "s",
        kubes: kubes.as_secs_f64(),
        baseline_name: "kubectl apply --server-side -R -f",
        baseline: Some(one.as_secs_f64()),
        goal: ">= 1.5x kubectl",
        met: Some(one.as_secs_f64() / kubes.as_secs_f64() >= 1.5),
    });
}

fn fmt(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The objects a way created, counted by kubectl.
fn check_count(kubeconfig: &Path, ns: &str, n: usize) {
    let out = run(Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "get",
            "configmaps,services,deployments",
            "-n",
            ns,
            "-o",
            "name",
        ]));
    let got = out.lines().filter(|l| l.contains("/svc-")).count();
    assert_eq!(
        got, n,
        "namespace {ns}: expected {n} objects, kubectl lists {got}"
    );
}

/// A kubes project: `shared/namespace.yaml` and per role `svc-NN/{configmap,service,deployment}.yaml`.
fn write_project(root: &Path, ns: &str, roles: usize) -> PathBuf {
    let dir = root.join(ns);
    let res = dir.join(".kubes/resources");
    let write = |rel: &str, text: String| {
        let p = res.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    std::fs::create_dir_all(dir.join(".kubes")).unwrap();
    std::fs::write(
        dir.join(".kubes/config.yaml"),
        format!("app: bench\nnamespace: {ns}\nimage: nginx:1.27\nsuffix_hash: false\n"),
    )
    .unwrap();
    write(
        "shared/namespace.yaml",
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
    );
    for r in 0..roles {
        let role = format!("svc-{r:02}");
        let docs =
            |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join("---\n");
        write(
            &format!("{role}/configmap.yaml"),
            docs(10, &|i| {
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {role}-config-{i}\ndata:\n  index: \"{i}\"\n  greeting: hello\n")
            }),
        );
        write(
            &format!("{role}/service.yaml"),
            docs(5, &|i| {
                format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {role}-{i}\nspec:\n  selector:\n    app: {role}-{i}\n  ports:\n  - port: 80\n    targetPort: 8080\n")
            }),
        );
        write(
            &format!("{role}/deployment.yaml"),
            docs(5, &|i| {
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {role}-{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {role}-{i}\n  template:\n    metadata:\n      labels:\n        app: {role}-{i}\n    spec:\n      containers:\n      - name: app\n        image: <%= docker_image %>\n"
                )
            }),
        );
    }
    dir
}

/// `kubes compile`, then the output files in plan order (as `kubes plan` would apply them).
fn compiled_outputs(project: &Path) -> Vec<PathBuf> {
    run(Command::new(KUBES)
        .arg("--project")
        .arg(project)
        .arg("compile"));
    let opts = kubes::project::ProjectOptions::new(project);
    let plan = kubes::deploy::Prepared::load(&opts, &[])
        .expect("compiles")
        .plan;
    plan.files().map(|f| project.join(&f.output)).collect()
}
