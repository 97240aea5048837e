//! Story: a hook reaches the cluster only through the `cluster` interface, and only as far as
//! its grants allow. A granted `get` works; a delete or a cross-namespace read it was not
//! granted returns `forbidden`, prints an audit line, and never reaches the API server (the
//! object is still there). A hook stuck in a host call (a wait that never ends) is stopped at
//! its timeout, the call cancelled.
//!
//! Real components from `examples/hooks`, against the test API server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::hooks_support::scenario::{grant, job_exists};
use crate::hooks_support::{guest, invocation};
use kube_testserver::{Options, TestServer};
use kubes::cluster::{ApplyOptions, Cluster, ConnectOptions};
use kubes::hooks::host::ClusterAccess;
use kubes::hooks::{HookEngine, HookError, MemoryReporter, Verb};

async fn setup() -> (TestServer, Cluster) {
    setup_with(Options::default()).await
}

async fn setup_with(options: Options) -> (TestServer, Cluster) {
    let srv = TestServer::start(options).await.unwrap();
    let cluster = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(srv.kubeconfig_path().to_path_buf()),
        ..Default::default()
    })
    .await
    .unwrap();
    for obj in [
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "demo"}, "data": {"a": "1"}}),
        serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "admin-token", "namespace": "kube-system"}, "stringData": {"token": "s3cret"}}),
        // A Job whose pod never finishes within the tests.
        serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "demo"},
            "spec": {"template": {"metadata": {"annotations": {"kubes.test/script": "attempts:\n- logs:\n  - {line: started, after_ms: 1}\n  run_ms: 600000\n"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "db-migrate:1"}]}}}}),
    ] {
        cluster
            .apply_object(&obj, &ApplyOptions::default())
            .await
            .unwrap();
    }
    (srv, cluster)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_granted_get_reads_the_object() {
    let (_srv, cluster) = setup().await;
    let e = HookEngine::with_cache_root(None).unwrap();
    let mem = MemoryReporter::new();
    let mut inv = invocation("probe", Arc::new(mem.clone()));
    inv.config_json = r#"{"get":{"apiVersion":"v1","kind":"ConfigMap","name":"settings"}}"#.into();
    inv.grants = vec![grant(&[Verb::Get], &["configmaps"])];
    inv.cluster = Some(ClusterAccess {
        cluster: cluster.clone(),
        dry_run: false,
    });
    let report = e
        .run(&e.load(&guest("hook_probe")).unwrap(), inv)
        .await
        .unwrap();
    assert!(report.denials.is_empty());
    assert!(
        mem.lines()
            .iter()
            .any(|l| l.starts_with("[probe] got ConfigMap/settings uid=") && !l.ends_with("uid=?")),
        "{:?}",
        mem.lines()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_without_a_grant_is_forbidden_and_audited() {
    let (_srv, cluster) = setup().await;
    let e = HookEngine::with_cache_root(None).unwrap();
    let mem = MemoryReporter::new();
    let mut inv = invocation("sneaky-delete", Arc::new(mem.clone()));
    // It may read Jobs, not delete them.
    inv.grants = vec![grant(&[Verb::Get], &["jobs.batch"])];
    inv.cluster = Some(ClusterAccess {
        cluster: cluster.clone(),
        dry_run: false,
    });
    let err = e
        .run(&e.load(&guest("hostile_delete_ungranted")).unwrap(), inv)
        .await
        .unwrap_err();
    let HookError::Failed(m) = &err.error else {
        panic!("expected the hook to fail, got {err}")
    };
    assert!(m.contains("Forbidden(\"hook sneaky-delete has no grant to delete jobs.batch migrate in namespace demo: no grant covers it\")"), "{m}");
    assert_eq!(err.denials.len(), 1);
    assert!(
        err.to_string()
            .contains("denied by grants: delete jobs.batch migrate in demo"),
        "{err}"
    );
    assert!(mem.lines().contains(
        &"audit: hook=sneaky-delete verb=delete resource=jobs.batch name=migrate namespace=demo denied: no grant covers it".to_string()
    ));
    assert!(job_exists(&cluster).await, "the Job was deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_another_namespace_is_forbidden() {
    let (_srv, cluster) = setup().await;
    let e = HookEngine::with_cache_root(None).unwrap();
    let mem = MemoryReporter::new();
    let mut inv = invocation("peek", Arc::new(mem.clone()));
    // Secrets may be read, but only in the app's namespace (the default).
    inv.grants = vec![grant(&[Verb::Get], &["secrets"])];
    inv.cluster = Some(ClusterAccess {
        cluster,
        dry_run: false,
    });
    let err = e
        .run(&e.load(&guest("hostile_get_other_ns")).unwrap(), inv)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("has no grant to get secrets admin-token in namespace kube-system"),
        "{err}"
    );
    assert!(
        !mem.lines()
            .iter()
            .any(|l| l.contains("LEAKED") || l.contains("s3cret")),
        "{:?}",
        mem.lines()
    );
    assert!(mem.lines().iter().any(|l| l.starts_with(
        "audit: hook=peek verb=get resource=secrets name=admin-token namespace=kube-system"
    )));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deadline_cancels_a_host_call_in_flight() {
    let (_srv, cluster) = setup().await;
    let e = HookEngine::with_cache_root(None).unwrap();
    let mut inv = invocation("waiter", Arc::new(MemoryReporter::new()));
    // The wait itself would last a minute; the hook has 700 ms.
    inv.config_json = r#"{"wait":{"name":"migrate","timeout_ms":60000}}"#.into();
    inv.grants = vec![grant(&[Verb::Get], &["jobs.batch"])];
    inv.cluster = Some(ClusterAccess {
        cluster,
        dry_run: false,
    });
    inv.timeout = Duration::from_millis(700);
    // Loaded (compiled) before the clock starts: on a busy machine the compile alone can
    // take seconds, and it is not what this story times.
    let probe = e.load(&guest("hook_probe")).unwrap();
    let start = Instant::now();
    let err = e.run(&probe, inv).await.unwrap_err();
    assert!(matches!(err.error, HookError::Deadline { .. }), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_cluster_calls_answer_unavailable() {
    let e = HookEngine::with_cache_root(None).unwrap();
    let mut inv = invocation("probe", Arc::new(MemoryReporter::new()));
    inv.config_json = r#"{"get":{"apiVersion":"v1","kind":"ConfigMap","name":"settings"}}"#.into();
    inv.grants = vec![grant(&[Verb::Get], &["configmaps"])];
    let err = e
        .run(&e.load(&guest("hook_probe")).unwrap(), inv)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Unavailable"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_without_a_container_name_read_the_first_container_of_a_multi_container_pod() {
    // The API server refuses a log request for a pod with several containers unless one is
    // named; the WIT promises the first container, so the host has to pick it.
    let (_srv, cluster) = setup().await;
    let job = serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "two", "namespace": "demo"},
        "spec": {"template": {"metadata": {"annotations": {"kubes.test/script": "attempts:\n- logs:\n  - {line: migrating, after_ms: 1}\n  exit_code: 0\n"}},
            "spec": {"restartPolicy": "Never", "containers": [
                {"name": "proxy", "image": "proxy:1"}, {"name": "m", "image": "db-migrate:1"}]}}}});
    cluster
        .apply_object(&job, &ApplyOptions::default())
        .await
        .unwrap();
    let e = HookEngine::with_cache_root(None).unwrap();
    let mem = MemoryReporter::new();
    let mut inv = invocation("probe", Arc::new(mem.clone()));
    inv.config_json = r#"{"wait":{"name":"two","timeout_ms":10000},"logs":{"job":"two"}}"#.into();
    inv.grants = vec![
        grant(&[Verb::Get], &["jobs.batch"]),
        grant(&[Verb::List, Verb::Logs], &["pods"]),
    ];
    inv.cluster = Some(ClusterAccess {
        cluster: cluster.clone(),
        dry_run: false,
    });
    let report = e.run(&e.load(&guest("hook_probe")).unwrap(), inv).await;
    let lines = mem.lines();
    assert!(
        report.is_ok(),
        "{:?}\n{lines:?}",
        report.err().map(|e| e.to_string())
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[probe] log two-") && l.ends_with(": migrating")),
        "{lines:?}"
    );
}

/// A Job that completes after a few updates of its status (pod created, running, lines...).
fn quick_job() -> serde_json::Value {
    serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "quick", "namespace": "demo"},
        "spec": {"template": {"metadata": {"annotations": {"kubes.test/script": "attempts:\n- logs:\n  - {line: migrating, after_ms: 300}\n  exit_code: 0\n"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "db-migrate:1"}]}}}})
}

/// Run the probe's `wait` on Job `quick` with `grants`; its output lines and the Job requests
/// the server received meanwhile.
async fn wait_for_quick(
    srv: &TestServer,
    cluster: &Cluster,
    grants: Vec<kubes::hooks::Grant>,
) -> (Result<(), String>, Vec<String>, Vec<String>) {
    // Loaded (compiled) first, so the Job is still running when the wait starts.
    let e = HookEngine::with_cache_root(None).unwrap();
    let hook = e.load(&guest("hook_probe")).unwrap();
    cluster
        .apply_object(&quick_job(), &ApplyOptions::default())
        .await
        .unwrap();
    srv.clear_requests();
    let mem = MemoryReporter::new();
    let mut inv = invocation("waiter", Arc::new(mem.clone()));
    inv.config_json = r#"{"wait":{"name":"quick","timeout_ms":20000}}"#.into();
    inv.grants = grants;
    inv.cluster = Some(ClusterAccess {
        cluster: cluster.clone(),
        dry_run: false,
    });
    let result = e
        .run(&hook, inv)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let jobs = srv
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/apis/batch/v1/namespaces/demo/jobs"))
        .map(|r| r.to_string())
        .collect();
    (result, mem.lines(), jobs)
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_waits_on_a_watch_when_granted_one_and_reads_with_get_otherwise() {
    let (srv, cluster) = setup().await;
    // `watch` granted: one list and watches of that one name, never a get.
    let (result, lines, jobs) =
        wait_for_quick(&srv, &cluster, vec![grant(&[Verb::Watch], &["jobs.batch"])]).await;
    assert_eq!(result, Ok(()), "{lines:?}");
    assert!(
        lines.contains(&"[waiter] Job/quick is Complete".to_string()),
        "{lines:?}"
    );
    assert!(
        jobs.iter()
            .any(|r| r.contains("watch=true") && r.contains("metadata.name%3Dquick")),
        "{jobs:#?}"
    );
    assert!(
        !jobs
            .iter()
            .any(|r| r.starts_with("GET /apis/batch/v1/namespaces/demo/jobs/quick")),
        "a hook waiting on a watch made a get: {jobs:#?}"
    );
    // Only `get` granted: gets of the Job, never a list or a watch.
    cluster
        .delete_object(
            &cluster.resolve_kind("batch/v1", "Job").await.unwrap(),
            Some("demo"),
            "quick",
            &kubes::cluster::DeleteOptions {
                wait: Some(Duration::from_secs(10)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (result, lines, jobs) =
        wait_for_quick(&srv, &cluster, vec![grant(&[Verb::Get], &["jobs.batch"])]).await;
    assert_eq!(result, Ok(()), "{lines:?}");
    assert!(
        lines.contains(&"[waiter] Job/quick is Complete".to_string()),
        "{lines:?}"
    );
    let (gets, others): (Vec<_>, Vec<_>) = jobs
        .iter()
        .filter(|r| r.starts_with("GET "))
        .partition(|r| r.starts_with("GET /apis/batch/v1/namespaces/demo/jobs/quick"));
    assert!(!gets.is_empty(), "{jobs:#?}");
    assert!(
        others.is_empty(),
        "a hook granted only get listed or watched: {others:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_on_a_watch_rides_out_dropped_watches_and_compacted_versions() {
    // Every watch is cut after one event, and the server's history moves past everything the
    // cut watch sent (`compact_on_watch_drop`), so resuming from its last version is refused
    // (410) every time: the wait must list again, not fail or hang. (With only a short
    // history, whether the resume was refused depended on other writes landing first.)
    let (srv, cluster) = setup_with(Options {
        faults: kube_testserver::Faults {
            drop_watch_after: Some(1),
            compact_on_watch_drop: true,
            ..Default::default()
        },
        ..Options::default()
    })
    .await;
    let (result, lines, jobs) =
        wait_for_quick(&srv, &cluster, vec![grant(&[Verb::Watch], &["jobs.batch"])]).await;
    assert_eq!(result, Ok(()), "{lines:?}\n{jobs:#?}");
    assert!(
        lines.contains(&"[waiter] Job/quick is Complete".to_string()),
        "{lines:?}"
    );
    // After its watch was cut, it listed again (the version it would resume from is gone).
    let first_watch = jobs.iter().position(|r| r.contains("watch=true"));
    let relisted = first_watch.is_some_and(|w| {
        jobs[w..]
            .iter()
            .any(|r| r.contains("metadata.name%3Dquick&limit=") && !r.contains("watch=true"))
    });
    assert!(relisted, "no list after the first watch: {jobs:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_on_a_watch_counts_as_one_of_the_hooks_streams() {
    let (_srv, cluster) = setup().await;
    let e = HookEngine::with_cache_root(None).unwrap();
    let waiter = |streams: usize| {
        let mut inv = invocation("waiter", Arc::new(MemoryReporter::new()));
        inv.config_json = r#"{"wait":{"name":"migrate","timeout_ms":300}}"#.into();
        inv.grants = vec![grant(&[Verb::Watch], &["jobs.batch"])];
        inv.cluster = Some(ClusterAccess {
            cluster: cluster.clone(),
            dry_run: false,
        });
        inv.limits.streams = streams;
        inv
    };
    // No stream allowed at all: the wait is refused, naming the limit.
    let err = e
        .run(&e.load(&guest("hook_probe")).unwrap(), waiter(0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`limits: {streams: N}`"), "{err}");
    // One stream: the wait runs until its own timeout.
    let err = e
        .run(&e.load(&guest("hook_probe")).unwrap(), waiter(1))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("wait for Job/migrate failed: ClusterError::Timeout"),
        "{err}"
    );
}
