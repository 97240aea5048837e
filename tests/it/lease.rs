//! Story: two deploys of one app at once (two CI pipelines, or a pipeline and a laptop).
//! Each `kubes deploy` takes the Lease `kubes-deploy-<app>` in the app's namespace before it
//! applies anything, so the migration never runs twice at once:
//!
//! - the second deploy says who holds the lease and waits; when the first is done (and has
//!   released it) the second runs the migration in turn, and both succeed;
//! - with `--no-wait` (or `KUBES_NO_WAIT=1`) the second fails at once naming the holder,
//!   and the first deploy's migration is the only one that ran.
//!
//! The real `kubes` binary with the example's hooks against the test API server; the state
//! is read with the real kubectl.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::cluster_common::{kubectl_json, Deploy, Server};
use crate::common::{copy_project, kubes_process, repo, write};
use crate::hooks_support;

/// `examples/migration` with its hooks built, and a migration of one attempt that takes
/// about `ms` milliseconds.
fn migration_app(ms: u64) -> tempfile::TempDir {
    let project = copy_project(&repo().join("examples/migration"));
    hooks_support::install_migration_hooks(project.path()).unwrap();
    write(
        project.path(),
        ".kubes/resources/migrate/job/dev.yaml",
        &format!(
            r#"spec:
  template:
    metadata:
      annotations:
        kubes.test/script: |
          attempts:
          - logs:
            - {{line: "connecting to postgres://db:5432/demo", after_ms: 50}}
            - {{line: "== 20261120101500 CreateOrders: migrated (0.21s)", after_ms: 50}}
            run_ms: {ms}
"#
        ),
    );
    project
}

/// A `kubes deploy` in the background, its stdout read line by line.
struct Running {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
    stdout: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Running {
    fn start(srv: &Server, project: &std::path::Path, args: &[&str]) -> Running {
        let mut child = kubes_process()
            .arg("--project")
            .arg(project)
            .arg("--kubeconfig")
            .arg(srv.kubeconfig())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubes starts");
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let out = BufReader::new(child.stdout.take().unwrap());
        Running {
            child,
            out,
            stdout: String::new(),
            stderr,
        }
    }

    /// Read stdout until a line contains `wanted`.
    fn wait_for(&mut self, wanted: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let mut line = String::new();
            if self.out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            self.stdout.push_str(&line);
            if line.contains(wanted) {
                return;
            }
        }
        panic!("{wanted:?} never printed; stdout:\n{}", self.stdout);
    }

    fn finish(mut self) -> Deploy {
        self.out.read_to_string(&mut self.stdout).unwrap();
        let status = self.child.wait().unwrap();
        Deploy {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout,
            stderr: self.stderr.join().unwrap(),
            elapsed: Duration::ZERO,
            ended: std::time::SystemTime::now(),
        }
    }
}

/// The migrate Job's pods, from the Job controller's `SuccessfulCreate` events.
fn migrate_pod_creations(srv: &Server) -> usize {
    let events = kubectl_json(
        srv.kubeconfig(),
        &[
            "get",
            "events",
            "-n",
            "demo",
            "--field-selector",
            "involvedObject.name=migrate,reason=SuccessfulCreate",
        ],
    )
    .unwrap();
    events["items"].as_array().unwrap().len()
}

#[test]
fn a_second_deploy_waits_for_the_first_then_runs_its_migration_in_turn() {
    let srv = Server::start();
    let project = migration_app(2500);
    let mut first = Running::start(&srv, project.path(), &["deploy"]);
    first.wait_for("[migrate-wait] Waiting for Job/migrate");
    let first_pid = first.child.id();

    let mut second = Running::start(&srv, project.path(), &["deploy"]);
    second.wait_for("Waiting for the deploy lease demo/kubes-deploy-demo, held by");
    // Only the first deploy's migration runs meanwhile.
    assert_eq!(migrate_pod_creations(&srv), 1);
    assert!(
        second
            .stdout
            .contains(&format!("pid {first_pid} (up to 10m, --lock-timeout)")),
        "{}",
        second.stdout
    );
    let first = first.finish();
    assert_eq!(first.code, 0, "{}", first.show());
    assert!(first.stdout.contains("[migrate-wait] Migration complete"));

    let second = second.finish();
    assert_eq!(second.code, 0, "{}", second.show());
    // The second ran the whole deploy after the wait: its own migration included.
    second.assert_in_order(&[
        "Waiting for the deploy lease",
        "namespace/demo unchanged",
        "[migrate-cleanup]",
        "job.batch/migrate created",
        "[migrate-wait] Migration complete",
        "deployment.apps/web",
    ]);
    assert_eq!(migrate_pod_creations(&srv), 2);
    let lease = kubectl_json(
        srv.kubeconfig(),
        &["get", "lease", "kubes-deploy-demo", "-n", "demo"],
    )
    .unwrap();
    assert!(lease["spec"]["holderIdentity"].is_null(), "{lease}");
}

#[test]
fn with_no_wait_a_second_deploy_fails_at_once_naming_the_holder() {
    let srv = Server::start();
    let project = migration_app(1500);
    let mut first = Running::start(&srv, project.path(), &["deploy"]);
    first.wait_for("[migrate-wait] Waiting for Job/migrate");
    let first_pid = first.child.id();

    let started = Instant::now();
    let second = Deploy::run(&srv, project.path(), &["deploy", "--no-wait"]);
    let waited = started.elapsed();
    assert_eq!(second.code, 3, "a cluster error: {}", second.show());
    assert!(
        second.stderr.contains(&format!(
            "another deploy of this app holds the deploy lease demo/kubes-deploy-demo: "
        )) && second
            .stderr
            .contains(&format!("pid {first_pid} (renewed ")),
        "{}",
        second.show()
    );
    assert!(
        second.stderr.contains("not waiting (--no-wait)"),
        "{}",
        second.show()
    );
    // Nothing was applied by the second, and it did not wait for the first.
    assert!(!second.stdout.contains("created"), "{}", second.show());
    assert!(
        second.stderr.contains("not attempted (4):"),
        "{}",
        second.show()
    );
    assert!(waited < Duration::from_secs(10), "{waited:?}");

    // The same from the environment.
    let mut cmd = srv.kubes(project.path());
    let env = cmd
        .env("KUBES_NO_WAIT", "true")
        .arg("deploy")
        .output()
        .unwrap();
    assert_eq!(env.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&env.stderr).contains("not waiting (--no-wait)"));

    let first = first.finish();
    assert_eq!(first.code, 0, "{}", first.show());
    assert_eq!(migrate_pod_creations(&srv), 1);
}
