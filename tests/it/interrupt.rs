//! Story: Ctrl-C during a deploy. A team deploys `examples/migration` (its hooks built from
//! examples/hooks) with the real `kubes` binary; the migration Job runs for a minute, and
//! while the `migrate-wait` hook is watching it the operator presses Ctrl-C (SIGINT), or the
//! CI runner cancels the job (SIGTERM).
//!
//! - kubes stops at once: the hook's watch is dropped, no further file is applied;
//! - it prints `interrupted by SIGINT` and the summary: what was done, where it was
//!   interrupted, what was not attempted;
//! - it exits 130 (SIGINT) or 143 (SIGTERM), as a shell reports a process killed by them;
//! - the web Service and Deployment never reach the cluster, and the deploy lease is
//!   released (the next deploy need not wait for it to expire).
//!
//! The time from the signal to the exit is printed (the goal is well under half a second).

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cluster_common::{kubectl_json, Server};
use crate::common::{copy_project, kubes_process, repo, write};
use crate::hooks_support;

/// `examples/migration` with its hooks built, and a migration that runs for a minute.
fn slow_migration_app() -> tempfile::TempDir {
    let project = copy_project(&repo().join("examples/migration"));
    hooks_support::install_migration_hooks(project.path()).unwrap();
    write(
        project.path(),
        ".kubes/resources/migrate/job/dev.yaml",
        r#"spec:
  template:
    metadata:
      annotations:
        kubes.test/script: |
          attempts:
          - logs:
            - {line: "connecting to postgres://db:5432/demo", after_ms: 50}
            - {line: "== 20261120101500 CreateOrders: migrating", after_ms: 50}
            run_ms: 60000
"#,
    );
    project
}

struct Interrupted {
    code: i32,
    stdout: String,
    stderr: String,
    signal_to_exit: Duration,
}

/// Deploy, send `signal` once the migrate-wait hook is waiting for the Job, and wait for
/// kubes to exit.
fn deploy_and_interrupt(srv: &Server, project: &std::path::Path, signal: i32) -> Interrupted {
    let mut child = kubes_process()
        .arg("--project")
        .arg(project)
        .arg("--kubeconfig")
        .arg(srv.kubeconfig())
        .arg("deploy")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubes starts");
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut stdout = String::new();
    let mut sent = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        stdout.push_str(&line);
        if sent.is_none() && line.contains("[migrate-wait] Waiting for Job/migrate") {
            // Let the hook get into its watch.
            std::thread::sleep(Duration::from_millis(200));
            // SAFETY: kill(2) on our own child's pid.
            assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
            sent = Some(Instant::now());
        }
        assert!(
            Instant::now() < deadline,
            "no interrupt point; stdout:\n{stdout}"
        );
    }
    let status = child.wait().unwrap();
    let ended = Instant::now();
    let stderr = err_reader.join().unwrap();
    let sent = sent.unwrap_or_else(|| {
        panic!("the hook never waited for the Job; stdout:\n{stdout}\nstderr:\n{stderr}")
    });
    Interrupted {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
        signal_to_exit: ended - sent,
    }
}

fn check(srv: &Server, run: &Interrupted, signal: &str, code: i32) {
    let show = format!(
        "exit {} ({:?} after the signal)\nstdout:\n{}\nstderr:\n{}",
        run.code, run.signal_to_exit, run.stdout, run.stderr
    );
    eprintln!(
        "{signal}: kubes exited {:.0?} after the signal (goal < 500ms)",
        run.signal_to_exit
    );
    assert_eq!(run.code, code, "{show}");
    assert!(run.stdout.contains("job.batch/migrate created"), "{show}");
    for wanted in [
        &format!("interrupted by {signal}\n"),
        "apply interrupted at .kubes/output/migrate/job.yaml\n",
        "  done (2):\n",
        "    namespace/demo created\n",
        "    job.batch/migrate created\n",
        "  interrupted at: .kubes/output/migrate/job.yaml\n",
        "  not attempted (2):\n",
        "    .kubes/output/web/service.yaml\n",
        "    .kubes/output/web/deployment.yaml\n",
    ] {
        assert!(run.stderr.contains(wanted), "{wanted:?} missing\n{show}");
    }
    assert!(!run.stdout.contains("service/web"), "{show}");
    assert!(!run.stderr.contains("error:"), "{show}");
    // The web was never applied.
    let kc = srv.kubeconfig();
    assert!(kubectl_json(kc, &["get", "service", "web", "-n", "demo"]).is_none());
    assert!(kubectl_json(kc, &["get", "deployment", "web", "-n", "demo"]).is_none());
    // The deploy lease was released on the way out.
    let lease = kubectl_json(kc, &["get", "lease", "kubes-deploy-demo", "-n", "demo"])
        .expect("the deploy lease exists");
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "still held: {lease}\n{show}"
    );
}

#[test]
fn ctrl_c_stops_the_hook_and_the_deploy_at_once_and_exits_130() {
    let srv = Server::start();
    let project = slow_migration_app();
    let run = deploy_and_interrupt(&srv, project.path(), libc::SIGINT);
    check(&srv, &run, "SIGINT", 130);
}

#[test]
fn sigterm_stops_the_deploy_the_same_way_and_exits_143() {
    let srv = Server::start();
    let project = slow_migration_app();
    let run = deploy_and_interrupt(&srv, project.path(), libc::SIGTERM);
    check(&srv, &run, "SIGTERM", 143);
}
