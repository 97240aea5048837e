//! Contract: what every `migrate-wait` hook prints and returns, whatever its language (Rust
//! examples/hooks/migrate-wait, Python examples/hooks-py, JavaScript examples/hooks-js). Each
//! case below runs against every hook in [`HOOKS`]; adding a language is one line there.
//!
//! The hook waits for its Job through the host (`progress.follow-job`, kubes:hook@0.2.0) and
//! prints, one line each (the deploy log prefixes them with `[migrate-wait] `):
//!
//! - start: `Waiting for Job/<job> (timeout <humantime>)`, e.g.
//!   `Waiting for Job/migrate (timeout 300s)`;
//! - each log line (`log` event): `[pod/<pod>] <text>`;
//! - a failed attempt (`attempt-ended`, not succeeded):
//!   `pod <pod> failed: container exited with code <code>: <message>` (`: <message>` only if
//!   the message is non-empty; with no exit code: `pod <pod> failed: <reason>: <message>`);
//! - a retry (`attempt-started` with index > 1):
//!   `retry <index-1>: attempt <index> of <limit> in pod <pod>` (` of <limit>` only when the
//!   event has a limit);
//! - a pod that cannot start (`cannot-start`): `pod <pod> cannot start: <reason>: <message>`
//!   (`: <message>` only if non-empty), then the failure report below with that reason,
//!   that message and that pod;
//! - a log that cannot be read (`logs-unavailable`): `cannot read the log of pod <pod>: <message>`;
//! - success (`complete`): `Migration complete`, and the hook returns Ok;
//! - failure (`failed`, or `cannot-start`):
//!   `Migration failed: <reason>: <message> (pod <pod>, exit code <code>)`, where `: <message>`
//!   is left out when empty, `, exit code <code>` when the pod's attempt has not ended with
//!   one, and the parenthesis when there is no pod; `<pod>` is the last attempt's (the last
//!   `attempt-started`), or the one that cannot start. Then `Termination message: <message>`
//!   if that attempt ended with a non-empty message. Then the last lines: `Last log lines
//!   (<n>):` and each `  [pod/<pod>] <text>` (two spaces; the last `tail_lines` lines of that
//!   pod, oldest first), or, when it has none, `No log lines from pod <pod>: <why>` (why: the
//!   `logs-unavailable` message of that pod, else `it printed nothing`; with no pod at all:
//!   `No log lines: the Job started no pod`). The hook returns
//!   Err(`migration Job <job> failed: <reason>`);
//! - timeout (the config `timeout` passed first): `Migration still running after <humantime>`,
//!   the last lines as above (of the last attempt), and Err(`migration Job <job> did not
//!   finish within <humantime>`).
//!
//! `<humantime>` is the config `timeout` in seconds with up to three decimals and no trailing
//! zeros: `300s`, `1.5s`, `0.25s`. Config keys (all optional): `job` (default: the Job in the
//! hook's target file), `timeout` (`300s`; `300s`, `5m`, `1500ms`, `1m30s` or a number of
//! seconds), `tail_lines` (20), `container` (whose log to follow; default every
//! container's), `pull_grace` (`30s`, the same forms: how long a failing image pull,
//! `ErrImagePull` or `ImagePullBackOff`, may last before the pod counts as one that cannot
//! start); an unknown key fails the hook naming it. Grants: `watch` on `jobs.batch`
//! (the Job's name), `watch` and `logs` on `pods`; nothing else (these runs grant nothing
//! else, and a denial fails the case).
//!
//! Each case is a Job pod script for the test API server (crates/kube-testserver/README.md);
//! each asserts the outcome, the lines in order (the pods named by the cluster's own
//! `SuccessfulCreate` events), the pod the report names (the last attempt's), the reason and
//! the last lines, and that the report is the last thing the hook says. No timing is
//! asserted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use kube::api::ListParams;
use kube_testserver::controllers::Timing;
use kube_testserver::Options;
use kubes::cluster::{Cluster, RetryConfig};
use kubes::hooks::{Grant, HookEngine, LoadedHook, Verb};
use kubes::lifecycle::When;
use serde_json::json;

use crate::hooks_support::guest;
use crate::hooks_support::scenario::{
    self, grant, migrate_job, migrate_target, named, Run, FAILS_ON_A_DUPLICATE_TABLE,
    TWO_FAILED_ATTEMPTS_THEN_MIGRATED,
};

/// A migrate-wait hook in one language: a name for messages and where its component is
/// (built on first use).
pub struct Lang {
    pub name: &'static str,
    pub component: fn() -> PathBuf,
}

/// Every migrate-wait hook the contract holds for. One line per language, e.g.
/// `Lang { name: "python", component: || crate::hooks_support::polyglot().python_migrate_wait.clone() },`
#[rustfmt::skip]
const HOOKS: &[Lang] = &[
    Lang { name: "rust", component: || guest("migrate_wait") },
    Lang { name: "python", component: || crate::hooks_support::polyglot().python_migrate_wait.clone() },
    Lang { name: "js", component: || crate::hooks_support::polyglot().js_migrate_wait.clone() },
];

/// One case: a Job, the hook's config, the server's timing, what the hook must say.
struct Case {
    /// The pod script (`kubes.test/script`) and the Job's `backoffLimit`.
    script: &'static str,
    backoff_limit: u32,
    /// `kubes.test/active-deadline-ms` on the Job, if any.
    active_deadline_ms: Option<u32>,
    /// Changes to the Job's manifest (e.g. its container's `envFrom`).
    job: fn(&mut serde_json::Value),
    /// The hook's config.
    config: &'static str,
    /// Changes to the test server's controller timing.
    timing: fn(&mut Timing),
    /// Retries of the client's HTTP layer (kubes' default: 6).
    client_retries: u32,
    /// How many pods the Job creates.
    pods: usize,
    /// What the hook says, in this order (other lines may come between, but nothing after
    /// the last): `{0}`, `{1}`... are the pods in the order the Job created them, `{last}`
    /// the last one; a line ending in `*` is matched as a prefix.
    says: &'static [&'static str],
    /// Substrings no line may hold.
    never: &'static [&'static str],
    /// The hook's error, `None` when it succeeds.
    error: Option<&'static str>,
}

const DEFAULT: Case = Case {
    script: "",
    backoff_limit: 4,
    active_deadline_ms: None,
    job: |_| {},
    config: r#"{"timeout": "30s"}"#,
    timing: |_| {},
    client_retries: 6,
    pods: 1,
    says: &[],
    never: &[],
    error: None,
};

macro_rules! contract {
    ($( $(#[$attr:meta])* $name:ident: $case:expr, )*) => {
        $(
            $(#[$attr])*
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                check(stringify!($name), &$case).await;
            }
        )*
    };
}

contract! {
    success_first_try: Case {
        script: "attempts:\n- logs: [{line: 'connecting to db', after_ms: 50}, {line: 'migrated 3 tables', after_ms: 50}]\n",
        says: &[
            "Waiting for Job/migrate (timeout 30s)",
            "[pod/{0}] connecting to db",
            "[pod/{0}] migrated 3 tables",
            "Migration complete",
        ],
        never: &["retry", "failed", "Last log lines"],
        ..DEFAULT
    },

    success_after_retries: Case {
        script: TWO_FAILED_ATTEMPTS_THEN_MIGRATED,
        pods: 3,
        says: &[
            "Waiting for Job/migrate (timeout 30s)",
            "[pod/{0}] connecting to db",
            "[pod/{0}] lock timeout",
            "pod {0} failed: container exited with code 1: could not take the migration lock",
            "retry 1: attempt 2 of 5 in pod {1}",
            "[pod/{1}] connecting to db",
            "[pod/{1}] lock timeout",
            "pod {1} failed: container exited with code 1: could not take the migration lock",
            "retry 2: attempt 3 of 5 in pod {2}",
            "[pod/{2}] connecting to db",
            "[pod/{2}] migrated 3 tables",
            "Migration complete",
        ],
        never: &["Migration failed", "Last log lines"],
        ..DEFAULT
    },

    failure_backoff_limit_exceeded: Case {
        script: FAILS_ON_A_DUPLICATE_TABLE,
        backoff_limit: 1,
        config: r#"{"timeout": "30s", "tail_lines": 1}"#,
        pods: 2,
        says: &[
            "Waiting for Job/migrate (timeout 30s)",
            "[pod/{0}] == 20201011 CreateUsers: migrating",
            "[pod/{0}] PG::DuplicateTable: relation users already exists",
            "pod {0} failed: container exited with code 1: rake aborted: relation users already exists",
            "retry 1: attempt 2 of 2 in pod {1}",
            "[pod/{1}] == 20201011 CreateUsers: migrating",
            "[pod/{1}] PG::DuplicateTable: relation users already exists",
            "pod {1} failed: container exited with code 1: rake aborted: relation users already exists",
            "Migration failed: BackoffLimitExceeded: Job has reached the specified backoff limit (pod {last}, exit code 1)",
            "Termination message: rake aborted: relation users already exists",
            // tail_lines 1: the last line of the last attempt only.
            "Last log lines (1):",
            "  [pod/{last}] PG::DuplicateTable: relation users already exists",
        ],
        error: Some("migration Job migrate failed: BackoffLimitExceeded"),
        ..DEFAULT
    },

    failure_deadline_exceeded: Case {
        script: "attempts:\n- logs: [{line: 'migrating a big table', after_ms: 10}]\n  run_ms: 600000\n",
        active_deadline_ms: Some(800),
        says: &[
            "Waiting for Job/migrate (timeout 30s)",
            "[pod/{0}] migrating a big table",
            "Migration failed: DeadlineExceeded: Job was active longer than specified deadline (pod {last}*",
            "Last log lines (1):",
            "  [pod/{last}] migrating a big table",
        ],
        never: &["Termination message", "retry"],
        error: Some("migration Job migrate failed: DeadlineExceeded"),
        ..DEFAULT
    },

    // The Job controller writes FailureTarget at once and Failed only once the failed pod's
    // tracking finalizer is removed, here a minute later: past the hook's 30 s timeout, so a
    // hook that waited for Failed would report a timeout instead.
    failure_target_before_failed: Case {
        script: FAILS_ON_A_DUPLICATE_TABLE,
        backoff_limit: 0,
        timing: |t| t.finalizer_removal = Duration::from_secs(60),
        says: &[
            "Waiting for Job/migrate (timeout 30s)",
            "[pod/{0}] == 20201011 CreateUsers: migrating",
            "[pod/{0}] PG::DuplicateTable: relation users already exists",
            "pod {0} failed: container exited with code 1: rake aborted: relation users already exists",
            "Migration failed: BackoffLimitExceeded: Job has reached the specified backoff limit (pod {last}, exit code 1)",
            "Termination message: rake aborted: relation users already exists",
            "Last log lines (2):",
            "  [pod/{last}] == 20201011 CreateUsers: migrating",
            "  [pod/{last}] PG::DuplicateTable: relation users already exists",
        ],
        never: &["still running"],
        error: Some("migration Job migrate failed: BackoffLimitExceeded"),
        ..DEFAULT
    },

    // The first two pulls fail (each ErrImagePull, then ImagePullBackOff while the kubelet
    // backs off, as in Kubernetes), the third succeeds: a transient failure, not one to stop
    // the deploy for, even with a pull grace far shorter than the default 30 s.
    transient_err_image_pull_recovers: Case {
        script: "pull_failures: 2\nattempts:\n- logs: [{line: 'migrated 3 tables', after_ms: 50}]\n",
        config: r#"{"timeout": "30s", "pull_grace": "3s"}"#,
        says: &[
            "Waiting for Job/migrate (timeout 30s)",
            "[pod/{0}] migrated 3 tables",
            "Migration complete",
        ],
        never: &["cannot start", "Migration failed"],
        ..DEFAULT
    },

    // A pull that keeps failing: said once it lasted the hook's `pull_grace`.
    image_pull_back_off: Case {
        script: "image_pull_error: true\nattempts:\n- logs: [{line: 'never printed', after_ms: 10}]\n",
        config: r#"{"timeout": "30s", "pull_grace": "1s"}"#,
        says: &[
            "Waiting for Job/migrate (timeout 30s)",
            "pod {0} cannot start: ImagePullBackOff: Back-off pulling image \"db-migrate:1\"",
            "Migration failed: ImagePullBackOff: Back-off pulling image \"db-migrate:1\" (pod {last})",
            "No log lines from pod {last}: it printed nothing",
        ],
        never: &["never printed", "Termination message", "retry"],
        error: Some("migration Job migrate failed: ImagePullBackOff"),
        ..DEFAULT
    },

    // The container takes its environment from a Secret nobody created: the kubelet keeps
    // it waiting (CreateContainerConfigError), naming the Secret.
    create_container_config_error: Case {
        script: "attempts:\n- logs: [{line: 'never printed', after_ms: 10}]\n",
        job: |job| {
            job["spec"]["template"]["spec"]["containers"][0]["envFrom"] =
                json!([{"secretRef": {"name": "db-credentials"}}]);
        },
        says: &[
            "Waiting for Job/migrate (timeout 30s)",
            "pod {0} cannot start: CreateContainerConfigError: secret \"db-credentials\" not found",
            "Migration failed: CreateContainerConfigError: secret \"db-credentials\" not found (pod {last})",
            "No log lines from pod {last}: it printed nothing",
        ],
        never: &["never printed", "retry"],
        error: Some("migration Job migrate failed: CreateContainerConfigError"),
        ..DEFAULT
    },

    // The pod waits a while for its node: until then the API server answers its log with
    // an empty 204, which is not its log. The lines it prints once it runs are all shown.
    logs_of_an_unscheduled_pod_are_read_once_it_runs: Case {
        script: FAILS_ON_A_DUPLICATE_TABLE,
        backoff_limit: 0,
        timing: |t| {
            t.schedule = Duration::from_millis(1500);
            t.pod_start = Duration::from_millis(1600);
        },
        says: &[
            "Waiting for Job/migrate (timeout 30s)",
            "[pod/{0}] == 20201011 CreateUsers: migrating",
            "[pod/{0}] PG::DuplicateTable: relation users already exists",
            "pod {0} failed: container exited with code 1: rake aborted: relation users already exists",
            "Migration failed: BackoffLimitExceeded: Job has reached the specified backoff limit (pod {last}, exit code 1)",
            "Termination message: rake aborted: relation users already exists",
            "Last log lines (2):",
            "  [pod/{last}] == 20201011 CreateUsers: migrating",
            "  [pod/{last}] PG::DuplicateTable: relation users already exists",
        ],
        never: &["No log lines", "cannot read the log"],
        error: Some("migration Job migrate failed: BackoffLimitExceeded"),
        ..DEFAULT
    },

    // The pod's kubelet cannot be reached: its log answers 500, for long enough that the
    // host gives up on it while the pod still runs (the client does not retry the 500s
    // itself here, so that is about 3 s: the host's own tries).
    logs_unavailable_500: Case {
        script: "logs_unavailable: true\nattempts:\n- logs: [{line: 'migrating', after_ms: 10}]\n  run_ms: 4500\n  exit_code: 1\n  message: could not take the migration lock\n",
        backoff_limit: 0,
        client_retries: 0,
        says: &[
            "Waiting for Job/migrate (timeout 30s)",
            "cannot read the log of pod {0}: *",
            "pod {0} failed: container exited with code 1: could not take the migration lock",
            "Migration failed: BackoffLimitExceeded: Job has reached the specified backoff limit (pod {last}, exit code 1)",
            "Termination message: could not take the migration lock",
            "No log lines from pod {last}: *",
        ],
        never: &["[pod/", "it printed nothing", "Last log lines"],
        error: Some("migration Job migrate failed: BackoffLimitExceeded"),
        ..DEFAULT
    },

    timeout: Case {
        script: "attempts:\n- logs: [{line: 'waiting for the db lock', after_ms: 10}]\n  run_ms: 600000\n",
        config: r#"{"timeout": "1500ms"}"#,
        says: &[
            "Waiting for Job/migrate (timeout 1.5s)",
            "[pod/{0}] waiting for the db lock",
            "Migration still running after 1.5s",
            "Last log lines (1):",
            "  [pod/{last}] waiting for the db lock",
        ],
        never: &["Migration failed", "Termination message"],
        error: Some("migration Job migrate did not finish within 1.5s"),
        ..DEFAULT
    },
}

/// The grants the contract allows: watch the Job, watch and read its pods.
fn contract_grants() -> Vec<Grant> {
    vec![
        named(grant(&[Verb::Watch], &["jobs.batch"]), &["migrate"]),
        grant(&[Verb::Watch, Verb::Logs], &["pods"]),
    ]
}

/// One engine for the whole run, with the run's hook cache.
fn engine() -> &'static HookEngine {
    static ENGINE: OnceLock<HookEngine> = OnceLock::new();
    ENGINE.get_or_init(crate::common::hook_engine)
}

/// Each language's hook, compiled once per test run.
fn load(lang: &Lang) -> LoadedHook {
    static LOADED: OnceLock<Mutex<HashMap<&'static str, LoadedHook>>> = OnceLock::new();
    let engine = engine();
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap();
    loaded
        .entry(lang.name)
        .or_insert_with(|| engine.load(&(lang.component)()).unwrap())
        .clone()
}

/// The migrate Job's pods in the order the Job controller created them, from its
/// `SuccessfulCreate` events (pod names are generated).
async fn created_pods(cluster: &Cluster) -> Vec<String> {
    let rk = cluster.resolve_kind("v1", "Event").await.unwrap();
    let events = cluster
        .api(&rk, Some("demo"))
        .list(&ListParams::default().fields("involvedObject.name=migrate,reason=SuccessfulCreate"))
        .await
        .unwrap();
    let mut created: Vec<(u64, String)> = events
        .items
        .iter()
        .map(|e| {
            let version = e.metadata.resource_version.as_deref().unwrap_or("0");
            let message = e.data["message"].as_str().unwrap_or_default();
            let pod = message.strip_prefix("Created pod: ").unwrap_or(message);
            (version.parse().unwrap_or(0), pod.to_string())
        })
        .collect();
    created.sort();
    created.into_iter().map(|(_, pod)| pod).collect()
}

/// `{0}`, `{1}`..., `{last}` in `line` replaced by the pods' names.
fn fill(line: &str, pods: &[String]) -> String {
    let mut out = line.to_string();
    if let Some(last) = pods.last() {
        out = out.replace("{last}", last);
    }
    for (i, pod) in pods.iter().enumerate() {
        out = out.replace(&format!("{{{i}}}"), pod);
    }
    out
}

fn matches(line: &str, wanted: &str) -> bool {
    match wanted.strip_suffix('*') {
        Some(prefix) => line.starts_with(prefix),
        None => line == wanted,
    }
}

/// Run `case` against every hook in [`HOOKS`], each with a fresh test API server.
async fn check(name: &str, case: &Case) {
    for lang in HOOKS {
        let hook = load(lang);
        let mut options = Options::default();
        (case.timing)(&mut options.timing);
        let retry = RetryConfig {
            max_retries: case.client_retries,
            ..Default::default()
        };
        let (_srv, cluster) = scenario::setup_with(options, retry).await;
        let mut job = migrate_job(case.script, case.backoff_limit);
        (case.job)(&mut job);
        if let Some(ms) = case.active_deadline_ms {
            job["metadata"]["annotations"] =
                json!({"kubes.test/active-deadline-ms": ms.to_string()});
        }
        let config: serde_json::Value = serde_json::from_str(case.config).unwrap();
        let mut inv = scenario::cluster_invocation(
            &cluster,
            "migrate-wait",
            When::After,
            Some(migrate_target()),
            config,
            contract_grants(),
        );
        inv.memory = 256 << 20;
        let run = scenario::run(&cluster, engine(), &hook, inv, vec![job]).await;
        let pods = created_pods(&cluster).await;
        let at = format!("{name} [{}]", lang.name);
        verify(&at, case, &run, &pods);
    }
}

fn verify(at: &str, case: &Case, run: &Run, pods: &[String]) {
    let dump = || format!("{at}: pods {pods:?}\n{}", run.dump());
    let denials = match &run.result {
        Ok(r) => &r.denials,
        Err(f) => &f.denials,
    };
    assert!(denials.is_empty(), "{at}: denied {denials:?}\n{}", dump());
    assert_eq!(pods.len(), case.pods, "pods the Job created\n{}", dump());
    match case.error {
        None => run.assert_ok(),
        Some(e) => assert_eq!(run.failure(), e, "{}", dump()),
    }
    // What the hook said (not its debug messages).
    let said: Vec<&str> = run
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("[migrate-wait] "))
        .filter(|l| !l.starts_with("debug: "))
        .collect();
    let mut from = 0;
    for wanted in case.says {
        let wanted = fill(wanted, pods);
        match said[from..].iter().position(|l| matches(l, &wanted)) {
            Some(i) => from += i + 1,
            None => panic!(
                "{at}: {wanted:?} is missing or out of order (after line {from})\n{}",
                dump()
            ),
        }
    }
    assert_eq!(
        from,
        said.len(),
        "{at}: the hook said more after {:?}\n{}",
        case.says.last(),
        dump()
    );
    for never in case.never {
        assert!(
            !said.iter().any(|l| l.contains(never)),
            "{at}: {never:?} was said\n{}",
            dump()
        );
    }
}
