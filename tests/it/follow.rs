//! Story: the host follows a Job (or a rollout) for a hook, so every language gets the same
//! typed events. Told below the WIT here (the library's followers against the test API
//! server), and once through a component built for the previous contract, 0.1.0, which must
//! keep running.

use std::time::Duration;

use kubes::cluster::follow::{self, JobEvent, JobOptions, RolloutEvent};
use tokio::sync::mpsc;

use crate::hooks_support::scenario::{
    self, migrate_job, FAILS_ON_A_DUPLICATE_TABLE, ONE_FAILED_ATTEMPT_THEN_MIGRATED,
};

/// Follow Job `migrate` to its end, applying `job` first; every event in order.
async fn follow_migrate(job: serde_json::Value) -> Vec<JobEvent> {
    follow_migrate_on(scenario::setup().await, job).await
}

/// As [`follow_migrate`], on a given server.
async fn follow_migrate_on(
    (_srv, cluster): (kube_testserver::TestServer, kubes::cluster::Cluster),
    job: serde_json::Value,
) -> Vec<JobEvent> {
    let (tx, mut rx) = mpsc::channel(64);
    let client = cluster.client().clone();
    let task = tokio::spawn(async move {
        follow::follow_job(client, "demo", "migrate", JobOptions::default(), tx).await
    });
    scenario::apply(&cluster, job).await;
    let mut events = Vec::new();
    let collect = async {
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
    };
    tokio::time::timeout(Duration::from_secs(20), collect)
        .await
        .expect("the follower ends with the Job's outcome");
    task.await.unwrap().unwrap();
    events
}

fn pods_started(events: &[JobEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            JobEvent::AttemptStarted { pod, .. } => Some(pod.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_succeeds_after_a_retry_is_told_attempt_by_attempt() {
    let events = follow_migrate(migrate_job(ONE_FAILED_ATTEMPT_THEN_MIGRATED, 3)).await;
    let pods = pods_started(&events);
    assert_eq!(pods.len(), 2, "{events:#?}");
    // Each attempt's lines come before its end, and the first ends failed with its message.
    let first_end = events
        .iter()
        .position(|e| matches!(e, JobEvent::AttemptEnded { pod, .. } if *pod == pods[0]))
        .expect("the first attempt ends");
    let lock_timeout = events
        .iter()
        .position(|e| matches!(e, JobEvent::Log { pod, text, .. } if *pod == pods[0] && text == "lock timeout"))
        .expect("the first attempt's last line");
    assert!(lock_timeout < first_end, "{events:#?}");
    match &events[first_end] {
        JobEvent::AttemptEnded {
            exit_code,
            message,
            succeeded,
            ..
        } => {
            assert_eq!(*exit_code, Some(1));
            assert_eq!(message, "could not take the migration lock");
            assert!(!succeeded);
        }
        _ => unreachable!(),
    }
    assert!(events.iter().any(
        |e| matches!(e, JobEvent::Log { pod, text, .. } if *pod == pods[1] && text == "migrated 3 tables")
    ));
    assert!(
        matches!(events.last(), Some(JobEvent::Complete { .. })),
        "{events:#?}"
    );
}

/// The events in short: `start N`, the log lines, `end (exit code)`, the outcome.
fn told(events: &[JobEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            JobEvent::AttemptStarted { index, .. } => format!("start {index}"),
            JobEvent::Log { text, .. } => text.clone(),
            JobEvent::AttemptEnded { exit_code, .. } => format!("end {exit_code:?}"),
            JobEvent::Complete { .. } => "complete".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Each run of a container restarted in place, whole, then the next.
const RESTARTED_IN_PLACE: [&str; 9] = [
    "start 1",
    "connecting to db",
    "lock timeout",
    "end Some(1)",
    "start 2",
    "connecting to db",
    "migrated 3 tables",
    "end Some(0)",
    "complete",
];

fn restarting_in_place() -> serde_json::Value {
    let mut job = migrate_job(ONE_FAILED_ATTEMPT_THEN_MIGRATED, 3);
    job["spec"]["template"]["spec"]["restartPolicy"] = serde_json::json!("OnFailure");
    job
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_restarted_in_place_ends_each_run_after_its_last_line() {
    let events = follow_migrate(restarting_in_place()).await;
    let pods = pods_started(&events);
    assert_eq!(pods.len(), 2, "{events:#?}");
    assert_eq!(pods[0], pods[1], "one pod, restarted in place: {events:#?}");
    assert_eq!(told(&events), RESTARTED_IN_PLACE, "{events:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runs_end_waits_for_its_log_even_when_the_log_lags_behind_the_pod() {
    // Each log line reaches the follower 300 ms late, so the restart is seen while the first
    // run's lines are still on their way (the order a CI run once saw by chance): that run's
    // end waits for its log to end, within its 2 s grace.
    use kube_testserver::{Faults, Options};
    let server = scenario::setup_with(
        Options {
            faults: Faults {
                log_lag: Duration::from_millis(300),
                ..Default::default()
            },
            ..Default::default()
        },
        kubes::cluster::RetryConfig::default(),
    )
    .await;
    let events = follow_migrate_on(server, restarting_in_place()).await;
    assert_eq!(told(&events), RESTARTED_IN_PLACE, "{events:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_job_ends_with_its_reason_after_the_last_attempt() {
    let events = follow_migrate(migrate_job(FAILS_ON_A_DUPLICATE_TABLE, 0)).await;
    let n = events.len();
    assert!(n >= 4, "{events:#?}");
    match &events[n - 1] {
        JobEvent::Failed { reason, .. } => assert_eq!(reason, "BackoffLimitExceeded"),
        other => panic!("expected Failed last, got {other:?}\n{events:#?}"),
    }
    match &events[n - 2] {
        JobEvent::AttemptEnded {
            exit_code, message, ..
        } => {
            assert_eq!(*exit_code, Some(1));
            assert_eq!(message, "rake aborted: relation users already exists");
        }
        other => panic!("expected the attempt's end before the outcome, got {other:?}"),
    }
    assert!(events.iter().any(|e| matches!(e, JobEvent::Log { text, .. } if text == "PG::DuplicateTable: relation users already exists")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollout_is_followed_to_complete() {
    let (_srv, cluster) = scenario::setup().await;
    let (tx, mut rx) = mpsc::channel(64);
    let client = cluster.client().clone();
    let task =
        tokio::spawn(async move { follow::follow_rollout(client, "demo", "web", true, tx).await });
    scenario::apply(
        &cluster,
        serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}),
    )
    .await;
    let mut events = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
    })
    .await
    .expect("the rollout completes");
    task.await.unwrap().unwrap();
    match events.last() {
        Some(RolloutEvent::Complete(s)) => {
            assert_eq!(s.desired, 2);
            assert_eq!(s.available, 2);
            assert!(s.observed);
        }
        other => panic!("expected Complete, got {other:?}\n{events:#?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_built_for_the_0_1_contract_still_runs() {
    use crate::hooks_support::guest;
    use kubes::hooks::HookEngine;
    let (_srv, cluster) = scenario::setup().await;
    scenario::apply(
        &cluster,
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "demo"}}),
    )
    .await;
    let engine = HookEngine::with_cache_root(None).unwrap();
    let old = engine.load(&guest("hook_compat_v01")).unwrap();
    assert_eq!(old.world_version(), "0.1.0");
    assert_eq!(
        engine.load(&guest("hook_probe")).unwrap().world_version(),
        "0.2.0"
    );
    let inv = scenario::cluster_invocation(
        &cluster,
        "compat",
        kubes::lifecycle::When::Before,
        None,
        serde_json::json!({"get": {"kind": "ConfigMap", "name": "settings"}}),
        vec![scenario::grant(&[kubes::hooks::Verb::Get], &["configmaps"])],
    );
    let run = scenario::run(&cluster, &engine, &old, inv, vec![]).await;
    run.assert_ok();
    assert!(
        run.lines
            .iter()
            .any(|l| l.starts_with("[compat] got ConfigMap/settings uid=")),
        "{:?}",
        run.lines
    );
}

/// A hook's `watch` lists again when the server says the version it would resume from is
/// gone (410), instead of ending: every object still arrives, none as an error.
#[tokio::test(flavor = "multi_thread")]
async fn a_watch_relists_when_its_version_is_gone() {
    use kube_testserver::{Faults, Options};
    use kubes::hooks::host::bindings::kubes::hook::cluster::{
        Host, HostWatcher, KindRef, WatchItem,
    };
    // A short history and watches cut after one event: the resume finds its version gone.
    let (_srv, cluster) = scenario::setup_with(
        Options {
            watch_history: 3,
            faults: Faults {
                drop_watch_after: Some(1),
                ..Default::default()
            },
            ..Default::default()
        },
        kubes::cluster::RetryConfig::default(),
    )
    .await;
    let mut st = crate::host_fuzz::state(&cluster);
    let kind = KindRef {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
    };
    let w = st.watch(kind, None, None, None).await.unwrap().unwrap();
    for i in 0..12 {
        scenario::apply(
            &cluster,
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i}"), "namespace": "demo"}}),
        )
        .await;
    }
    let mut seen = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while seen.len() < 12 && std::time::Instant::now() < deadline {
        let r = wasmtime::component::Resource::new_borrow(w.rep());
        match HostWatcher::try_next(&mut st, r).await.unwrap() {
            Ok(WatchItem::Event(e)) => {
                let o: serde_json::Value = serde_json::from_str(&e.object_json).unwrap();
                seen.insert(o["metadata"]["name"].as_str().unwrap_or("").to_string());
            }
            Ok(WatchItem::Pending) => tokio::time::sleep(Duration::from_millis(20)).await,
            Ok(WatchItem::End) => panic!("the watch ended"),
            Err(e) => panic!("the watch failed instead of relisting: {e:?}"),
        }
    }
    assert_eq!(seen.len(), 12, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_deleted_before_it_ends_ends_its_attempt_as_deleted() {
    // The first attempt would run for ten minutes; someone deletes its pod. The Job counts it
    // as failed and tries again; the hook hears the first attempt end, as deleted, first.
    let (_srv, cluster) = scenario::setup().await;
    let (tx, mut rx) = mpsc::channel(64);
    let client = cluster.client().clone();
    let task = tokio::spawn(async move {
        follow::follow_job(client, "demo", "migrate", JobOptions::default(), tx).await
    });
    scenario::apply(
        &cluster,
        migrate_job(
            "attempts:\n- logs: [{line: 'taking the lock', after_ms: 10}]\n  run_ms: 600000\n- logs: [{line: 'migrated 3 tables', after_ms: 10}]\n",
            2,
        ),
    )
    .await;
    let pods = cluster.resolve_kind("v1", "Pod").await.unwrap();
    let mut events = Vec::new();
    let collect = async {
        while let Some(e) = rx.recv().await {
            if let JobEvent::Log { pod, text, .. } = &e {
                if text == "taking the lock" {
                    cluster
                        .delete_object(&pods, Some("demo"), pod, &Default::default())
                        .await
                        .unwrap();
                }
            }
            events.push(e);
        }
    };
    tokio::time::timeout(Duration::from_secs(20), collect)
        .await
        .expect("the follower ends with the Job's outcome");
    task.await.unwrap().unwrap();
    let started = pods_started(&events);
    assert_eq!(started.len(), 2, "{events:#?}");
    let first_end = events
        .iter()
        .position(|e| matches!(e, JobEvent::AttemptEnded { pod, .. } if *pod == started[0]))
        .expect("the deleted pod's attempt ends");
    assert_eq!(
        events[first_end],
        JobEvent::AttemptEnded {
            pod: started[0].clone(),
            exit_code: None,
            reason: "Deleted".into(),
            message: format!("pod {} was deleted before it ended", started[0]),
            succeeded: false,
        }
    );
    let second_start = events
        .iter()
        .position(|e| matches!(e, JobEvent::AttemptStarted { pod, .. } if *pod == started[1]))
        .unwrap();
    assert!(first_end < second_start, "{events:#?}");
    assert!(
        matches!(events.last(), Some(JobEvent::Complete { .. })),
        "{events:#?}"
    );
}
