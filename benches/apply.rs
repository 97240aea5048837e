//! Apply 500 resources to the test API server three ways, side by side in one run:
//! - kubes' apply engine (one client, cached discovery, server-side apply, files of one
//!   ordering step concurrently);
//! - `kubectl apply -f FILE` once per file, which is how Kubes drives kubectl;
//! - one `kubectl apply --server-side -f DIR`.
//!
//! Each way applies into its own fresh namespace, so all three create the same objects.
//! Run: `cargo bench --bench apply` (add `--profile dev` to skip the optimised build).
//! Set `KUBES_BENCH_N` to change the number of resources, `KUBES_BENCH_CONCURRENCY` the
//! files kubes applies at once, `KUBES_BENCH_SKIP_PER_FILE` to skip the slow per-file run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kube_testserver::{Options, TestServer};
use kubes::cluster::apply::{apply_plan, DEFAULT_CONCURRENCY};
use kubes::cluster::report::Silent;
use kubes::cluster::{ApplyOptions, Cluster, ConnectOptions};
use kubes::lifecycle::NoHooks;
use kubes::plan::{Plan, PlanStep, PlannedFile, PlannedObject};

const KUBECTL: &str = "/usr/bin/kubectl";

fn main() {
    let n: usize = std::env::var("KUBES_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let concurrency: usize =
        std::env::var("KUBES_BENCH_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CONCURRENCY);
    let skip_per_file = std::env::var_os("KUBES_BENCH_SKIP_PER_FILE").is_some();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let srv = rt.block_on(TestServer::start(Options::default())).expect("test server starts");
    let kubeconfig = srv.kubeconfig_path().to_path_buf();
    let work = tempfile::tempdir().expect("temp dir");

    println!("apply {n} resources (ConfigMaps, Services, Deployments; one file each) to the test API server");

    // kubes
    let ns = "bench-kubes";
    create_namespace(&kubeconfig, ns);
    let dir = write_resources(work.path(), ns, n);
    let plan = plan_for(&dir);
    let t = Instant::now();
    let report = rt.block_on(async {
        let cluster = Cluster::connect(&ConnectOptions { kubeconfig: Some(kubeconfig.clone()), ..Default::default() })
            .await
            .expect("connect");
        apply_plan(&cluster, &plan, &NoHooks, &Silent, &ApplyOptions::default(), concurrency).await
    });
    let kubes = t.elapsed();
    assert!(report.ok, "kubes apply failed: {:?}", report.failure);
    assert_eq!(report.objects().count(), n);
    check_count(&kubeconfig, ns, n);

    // kubectl apply -f, once per file
    let ns = "bench-kubectl-each";
    create_namespace(&kubeconfig, ns);
    let dir = write_resources(work.path(), ns, n);
    let t = Instant::now();
    if !skip_per_file {
        for f in files_in(&dir) {
            kubectl(&kubeconfig, &["apply", "-f", f.to_str().unwrap()]);
        }
        check_count(&kubeconfig, ns, n);
    }
    let each = t.elapsed();

    // one kubectl apply --server-side -f DIR
    let ns = "bench-kubectl-dir";
    create_namespace(&kubeconfig, ns);
    let dir = write_resources(work.path(), ns, n);
    let t = Instant::now();
    kubectl(&kubeconfig, &["apply", "--server-side", "-f", dir.to_str().unwrap()]);
    let one = t.elapsed();
    check_count(&kubeconfig, ns, n);

    println!("{:<44} {:>10}", "way", "time");
    println!("{:<44} {:>10}", format!("kubes apply (engine, {concurrency} files at once)"), fmt(kubes));
    println!("{:<44} {:>10}", "kubectl apply -f FILE, once per file", fmt(each));
    println!("{:<44} {:>10}", "kubectl apply --server-side -f DIR", fmt(one));
    println!("kubes is {:.1}x faster than kubectl per file (goal >= 5x)", each.as_secs_f64() / kubes.as_secs_f64());
    println!("kubes is {:.1}x faster than one kubectl over the directory (goal >= 1.5x)", one.as_secs_f64() / kubes.as_secs_f64());
    println!("requests retried by kubes: {}", report.retries);
}

fn fmt(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(KUBECTL).arg("--kubeconfig").arg(kubeconfig).args(args).output().expect("kubectl runs");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Through `kubectl apply` (`kubectl create` sends protobuf, which the test server does not read).
fn create_namespace(kubeconfig: &Path, ns: &str) {
    let out = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n").as_bytes())?;
            child.wait_with_output()
        })
        .expect("kubectl runs");
    assert!(out.status.success(), "creating namespace {ns}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The objects each way created, counted by kubectl.
fn check_count(kubeconfig: &Path, ns: &str, n: usize) {
    let out = kubectl(kubeconfig, &["get", "configmaps,services,deployments", "-n", ns, "-o", "name"]);
    let got = out.lines().filter(|l| l.contains("bench-")).count();
    assert_eq!(got, n, "namespace {ns}: expected {n} objects, kubectl lists {got}");
}

/// Mix of kinds, like an app's output: 50% ConfigMaps, 25% Services, 25% Deployments.
fn write_resources(root: &Path, ns: &str, n: usize) -> PathBuf {
    let dir = root.join(ns);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        let (kind, yaml) = match i % 4 {
            0 | 1 => (
                "configmap",
                format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bench-{i}\n  namespace: {ns}\ndata:\n  index: \"{i}\"\n  greeting: hello\n"),
            ),
            2 => (
                "service",
                format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: bench-{i}\n  namespace: {ns}\nspec:\n  selector:\n    app: bench-{i}\n  ports:\n  - port: 80\n    targetPort: 8080\n"),
            ),
            _ => (
                "deployment",
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bench-{i}\n  namespace: {ns}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: bench-{i}\n  template:\n    metadata:\n      labels:\n        app: bench-{i}\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n"
                ),
            ),
        };
        std::fs::write(dir.join(format!("{i:04}-{kind}.yaml")), yaml).unwrap();
    }
    dir
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// One plan step per kind, in Kubes' kind order (ConfigMap, Service, Deployment).
fn plan_for(dir: &Path) -> Plan {
    let mut steps: Vec<PlanStep> = ["configmap", "service", "deployment"].iter().map(|_| PlanStep { files: vec![] }).collect();
    for path in files_in(dir) {
        let text = std::fs::read_to_string(&path).unwrap();
        let body: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        let kind = body["kind"].as_str().unwrap().to_string();
        let rank = match kind.as_str() {
            "ConfigMap" => 0,
            "Service" => 1,
            _ => 2,
        };
        steps[rank].files.push(PlannedFile {
            role: "bench".into(),
            kind: kind.to_lowercase(),
            output: path.clone(),
            source: path.clone(),
            objects: vec![PlannedObject {
                api_version: body["apiVersion"].as_str().unwrap().into(),
                kind,
                name: body["metadata"]["name"].as_str().unwrap().into(),
                namespace: body["metadata"]["namespace"].as_str().map(Into::into),
                body,
            }],
        });
    }
    Plan { steps }
}
