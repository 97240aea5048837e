//! Shared helpers for the apply-engine integration tests: a test API server with a
//! `kubes` command pointed at it, plans from YAML text, the real kubectl (from `PATH`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use kube_testserver::{Options, TestServer};

/// A running test API server.
pub struct Server {
    pub srv: TestServer,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    pub fn start_with(opts: Options) -> Server {
        Server {
            srv: TestServer::start_blocking(opts).expect("test API server starts"),
        }
    }

    /// From inside a tokio test.
    pub async fn start_async() -> Server {
        Server {
            srv: TestServer::start(Options::default())
                .await
                .expect("test API server starts"),
        }
    }

    pub fn kubeconfig(&self) -> &Path {
        self.srv.kubeconfig_path()
    }

    /// `kubes --project DIR --kubeconfig K`, as [`crate::common::kubes`].
    pub fn kubes(&self, project: &Path) -> assert_cmd::Command {
        let mut cmd = crate::common::kubes(project);
        cmd.arg("--kubeconfig").arg(self.kubeconfig());
        cmd
    }

    /// A connected library client, for stories told below the CLI.
    pub async fn cluster(&self) -> kubes::cluster::Cluster {
        kubes::cluster::Cluster::connect(&kubes::cluster::ConnectOptions {
            kubeconfig: Some(self.kubeconfig().to_path_buf()),
            ..Default::default()
        })
        .await
        .expect("connects to the test API server")
    }
}

/// One `kubes` run against a [`Server`]: its exit code, output and timing.
pub struct Deploy {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// Wall-clock time when kubes exited.
    pub ended: SystemTime,
}

impl Deploy {
    /// `kubes --project P --kubeconfig K ARGS...` (ARGS include `deploy`).
    pub fn run(srv: &Server, project: &Path, args: &[&str]) -> Deploy {
        let started = Instant::now();
        let out = srv.kubes(project).args(args).output().expect("kubes runs");
        Deploy {
            code: out.status.code().expect("kubes exited with a code"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
            elapsed: started.elapsed(),
            ended: SystemTime::now(),
        }
    }

    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// The deploy log lines that tell the flow: what was applied and what the hooks said
    /// (but the rollout's progress lines, whose number depends on timing).
    pub fn flow(&self) -> Vec<&str> {
        self.lines()
            .into_iter()
            .filter(|l| l.ends_with(" created") || l.ends_with(" configured") || l.starts_with('['))
            .filter(|l| !l.starts_with("[rollout-wait] Waiting for"))
            .collect()
    }

    /// Where `wanted` appears in stdout, each after the one before; panics naming the first
    /// line that is missing or out of order.
    pub fn assert_in_order(&self, wanted: &[&str]) {
        let lines = self.lines();
        let mut from = 0;
        for w in wanted {
            match lines[from..].iter().position(|l| l.contains(w)) {
                Some(i) => from += i + 1,
                None => panic!(
                    "{w:?} is missing or out of order (after line {from}); flow:\n{}\nstderr:\n{}",
                    self.flow().join("\n"),
                    self.stderr
                ),
            }
        }
    }

    pub fn show(&self) -> String {
        format!(
            "exit {} after {:.1?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

use kubes::plan::{CompiledObject, Plan, PlannedFile};

/// One planned file from YAML text (several documents allowed), as compile would emit it.
pub fn file(role: &str, kind: &str, yaml: &str) -> PlannedFile {
    let mut objects = vec![];
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let v: serde_json::Value = serde::Deserialize::deserialize(doc).expect("test YAML parses");
        if v.is_null() {
            continue;
        }
        objects.push(CompiledObject {
            api_version: v["apiVersion"].as_str().unwrap().to_string(),
            kind: v["kind"].as_str().unwrap().to_string(),
            name: v["metadata"]["name"].as_str().unwrap().to_string(),
            namespace: v["metadata"]["namespace"].as_str().map(str::to_string),
            body: v,
        });
    }
    PlannedFile {
        role: role.into(),
        kind: kind.into(),
        output: format!(".kubes/output/{role}/{kind}.yaml").into(),
        source: format!(".kubes/resources/{role}/{kind}.yaml").into(),
        objects,
    }
}

/// A plan of these files, in the order given.
pub fn plan(files: Vec<PlannedFile>) -> Plan {
    Plan { files }
}

/// `kubectl --kubeconfig K`: the real kubectl, found on `PATH`.
pub fn kubectl(kubeconfig: &Path) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.arg("--kubeconfig").arg(kubeconfig);
    cmd
}

/// `kubectl --kubeconfig K <args> -o json`, parsed; `None` when kubectl says NotFound.
pub fn kubectl_json(kubeconfig: &Path, args: &[&str]) -> Option<serde_json::Value> {
    let out = kubectl(kubeconfig)
        .args(args)
        .args(["-o", "json"])
        .output()
        .expect("kubectl runs (is it on PATH?)");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("NotFound") || err.contains("not found") {
            return None;
        }
        panic!("kubectl {args:?} failed: {err}");
    }
    Some(serde_json::from_slice(&out.stdout).expect("kubectl prints JSON"))
}
