//! kube-rs, a real Kubernetes client, driving the test server as it would a cluster.

use crate::common;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::{self, Discovery};
use kube::runtime::wait::{await_condition, conditions};
use kube_testserver::{Options, TestServer};
use serde_json::json;
use std::time::Duration;

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, data: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "web"}}, "data": data}))
        .unwrap()
}

#[tokio::test]
async fn configmaps_are_created_read_listed_and_conflict_like_a_cluster() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let created = cms
        .create(
            &PostParams::default(),
            &cm("settings", json!({"mode": "fast"})),
        )
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    let rv1: u64 = meta.resource_version.as_deref().unwrap().parse().unwrap();

    let err = api_error(
        cms.create(&PostParams::default(), &cm("settings", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(err.message, "configmaps \"settings\" already exists");

    let err = api_error(cms.get("missing").await.unwrap_err());
    assert!(err.is_not_found(), "{err:?}");

    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "no-such-ns");
    let err = api_error(
        elsewhere
            .create(&PostParams::default(), &cm("x", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.message, "namespaces \"no-such-ns\" not found");

    // Optimistic concurrency: replacing with a stale resourceVersion is a Conflict.
    let mut changed = created.clone();
    changed
        .data
        .as_mut()
        .unwrap()
        .insert("mode".into(), "slow".into());
    let replaced = cms
        .replace("settings", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    let err = api_error(
        cms.replace("settings", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));

    for i in 0..5 {
        let mut c = cm(&format!("page-{i}"), json!({}));
        c.metadata.labels = Some([("tier".to_string(), "paged".to_string())].into());
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let page = cms
        .list(&ListParams::default().labels("tier=paged").limit(2))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let rest = cms
        .list(
            &ListParams::default()
                .labels("tier=paged")
                .limit(10)
                .continue_token(page.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 3);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=settings"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);

    cms.delete("settings", &DeleteParams::default())
        .await
        .unwrap();
    assert!(api_error(cms.get("settings").await.unwrap_err()).is_not_found());
}

#[tokio::test]
async fn server_side_apply_tracks_managers_conflicts_and_removed_fields() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let apply = |data: serde_json::Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data});

    let first = cms
        .patch(
            "cfg",
            &PatchParams::apply("kubes"),
            &Patch::Apply(apply(json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    let managers = first.metadata.managed_fields.unwrap();
    assert_eq!(managers[0].manager.as_deref(), Some("kubes"));
    assert_eq!(managers[0].operation.as_deref(), Some("Apply"));

    // Same config again is a no-op: no new resourceVersion.
    let again = cms
        .patch(
            "cfg",
            &PatchParams::apply("kubes"),
            &Patch::Apply(apply(json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version,
        first.metadata.resource_version
    );

    let err = api_error(
        cms.patch(
            "cfg",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(apply(json!({"a": "changed"}))),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("conflict with \"kubes\""),
        "{}",
        err.message
    );

    let forced = cms
        .patch(
            "cfg",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(apply(json!({"a": "changed"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["a"], "changed");

    // kubes stops applying "b": it goes away; "a" now belongs to someone-else and stays.
    let pruned = cms
        .patch(
            "cfg",
            &PatchParams::apply("kubes").force(),
            &Patch::Apply(apply(json!({}))),
        )
        .await
        .unwrap();
    let data = pruned.data.unwrap_or_default();
    assert_eq!(data.get("a").map(String::as_str), Some("changed"));
    assert!(!data.contains_key("b"), "{data:?}");

    // Merge and JSON patches work too.
    let merged = cms
        .patch(
            "cfg",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"m": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.unwrap()["m"], "1");
}

fn job(name: &str, script: &str, backoff: i32) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": backoff, "template": {
            "metadata": {"annotations": {"kubes.test/script": script}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "migrate", "image": "db-migrate:1"}]}}}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_job_that_fails_twice_then_succeeds_completes_with_logs() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let script = r#"{"attempts": [
        {"logs": [{"line": "attempt failed"}], "exit_code": 1, "message": "db locked"},
        {"logs": [{"line": "attempt failed again"}], "exit_code": 1},
        {"logs": [{"line": "migrating", "after_ms": 20}, {"line": "done", "after_ms": 20}]}]}"#;
    jobs.create(&PostParams::default(), &job("migrate", script, 3))
        .await
        .unwrap();

    let done = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(jobs.clone(), "migrate", conditions::is_job_completed()),
    )
    .await
    .expect("job finishes in time")
    .unwrap()
    .unwrap();
    let status = done.status.unwrap();
    assert_eq!((status.succeeded, status.failed), (Some(1), Some(2)));
    let conds = status.conditions.unwrap();
    assert!(conds
        .iter()
        .any(|c| c.type_ == "Complete" && c.status == "True"));

    let list = pods
        .list(&ListParams::default().labels("job-name=migrate"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 3);
    let failed: Vec<&Pod> = list
        .items
        .iter()
        .filter(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Failed"))
        .collect();
    assert_eq!(failed.len(), 2);
    let terminated = failed
        .iter()
        .map(|p| {
            p.status
                .as_ref()
                .unwrap()
                .container_statuses
                .as_ref()
                .unwrap()[0]
                .state
                .as_ref()
                .unwrap()
                .terminated
                .clone()
                .unwrap()
        })
        .find(|t| t.message.is_some())
        .unwrap();
    assert_eq!(
        (
            terminated.exit_code,
            terminated.reason.as_deref(),
            terminated.message.as_deref()
        ),
        (1, Some("Error"), Some("db locked"))
    );
    let owner = &list.items[0].metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Job", "migrate")
    );

    let ok_pod = list
        .items
        .iter()
        .find(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Succeeded"))
        .unwrap();
    let logs = pods
        .logs(
            ok_pod.metadata.name.as_deref().unwrap(),
            &LogParams::default(),
        )
        .await
        .unwrap();
    assert_eq!(logs, "migrating\ndone\n");
    let tail = pods
        .logs(
            ok_pod.metadata.name.as_deref().unwrap(),
            &LogParams {
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail, "done\n");

    let events: Api<Event> = Api::namespaced(client, "default");
    let evs = events
        .list(&ListParams::default().fields("involvedObject.name=migrate"))
        .await
        .unwrap();
    assert!(
        evs.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("Completed")),
        "{:?}",
        evs.items
    );
}

#[tokio::test]
async fn a_job_out_of_retries_fails_with_backoff_limit_exceeded_and_deadline_exceeded() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(
        &PostParams::default(),
        &job("broken", r#"{"attempts": [{"exit_code": 3}]}"#, 1),
    )
    .await
    .unwrap();
    let mut stuck = job("stuck", r#"{"image_pull_error": true}"#, 6);
    stuck.metadata.annotations = Some(
        [(
            "kubes.test/active-deadline-ms".to_string(),
            "700".to_string(),
        )]
        .into(),
    );
    jobs.create(&PostParams::default(), &stuck).await.unwrap();

    let failed_reason = |j: Option<&Job>| {
        j.and_then(|j| j.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.type_ == "Failed" && c.status == "True")
            })
            .and_then(|c| c.reason.clone())
    };
    let broken = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(jobs.clone(), "broken", move |j: Option<&Job>| {
            failed_reason(j).is_some()
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        failed_reason(broken.as_ref()).as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(broken.unwrap().status.unwrap().failed, Some(2));

    // The image never pulls: the pod waits in ErrImagePull/ImagePullBackOff until the deadline.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let waiting_reason = |p: &Pod| {
        p.status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .first()?
            .state
            .as_ref()?
            .waiting
            .clone()
    };
    let waiting = loop {
        let stuck_pods = pods
            .list(&ListParams::default().labels("job-name=stuck"))
            .await
            .unwrap();
        if let Some(w) = stuck_pods.items.iter().find_map(waiting_reason) {
            break w;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        matches!(
            waiting.reason.as_deref(),
            Some("ErrImagePull" | "ImagePullBackOff")
        ),
        "{waiting:?}"
    );
    let stuck = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(jobs.clone(), "stuck", move |j: Option<&Job>| {
            failed_reason(j).is_some()
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        failed_reason(stuck.as_ref()).as_deref(),
        Some("DeadlineExceeded")
    );
}

#[tokio::test]
async fn job_templates_and_selectors_are_immutable() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client, "default");
    let pp = PatchParams::apply("kubes").force();
    let j = |image: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": image}]}}}})
    };
    jobs.patch("migrate", &pp, &Patch::Apply(j("db:1")))
        .await
        .unwrap();
    let err = api_error(
        jobs.patch("migrate", &pp, &Patch::Apply(j("db:2")))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message
            .starts_with("Job.batch \"migrate\" is invalid: spec.template"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("field is immutable"),
        "{}",
        err.message
    );

    let err = api_error(
        jobs.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "Bad_Name"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "x"}]}}}})).unwrap())
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn watches_see_changes_resume_from_versions_and_expire() {
    let srv = TestServer::start(Options {
        watch_history: 20,
        ..Options::default()
    })
    .await
    .unwrap();
    let client = common::client(&srv).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let start = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().labels("app=web"), &start)
        .await
        .unwrap()
        .boxed();

    cms.create(&PostParams::default(), &cm("w", json!({"v": "1"})))
        .await
        .unwrap();
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("w", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(match ev {
            WatchEvent::Added(c) => format!("ADDED {}", c.data.unwrap()["v"]),
            WatchEvent::Modified(c) => format!("MODIFIED {}", c.data.unwrap()["v"]),
            WatchEvent::Deleted(_) => "DELETED".into(),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(seen, ["ADDED 1", "MODIFIED 2", "DELETED"]);

    // Push the starting version out of the bounded history: 410 Gone (as an ERROR event).
    for i in 0..30 {
        cms.create(
            &PostParams::default(),
            &cm(&format!("churn-{i}"), json!({})),
        )
        .await
        .unwrap();
    }
    let mut expired = cms
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(5), expired.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        WatchEvent::Error(e) => assert_eq!(e.code, 410),
        other => panic!("expected 410 Gone, got {other:?}"),
    }
}

#[tokio::test]
async fn deployments_roll_out_and_scripted_never_ready_ones_exceed_their_deadline() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = |name: &str, annotations: serde_json::Value| -> Deployment {
        serde_json::from_value(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}, "annotations": annotations},
                    "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}),
        )
        .unwrap()
    };
    deps.create(
        &PostParams::default(),
        &d("web", json!({"kubes.test/ready-after-ms": "100"})),
    )
    .await
    .unwrap();
    deps.create(
        &PostParams::default(),
        &d(
            "stuck",
            json!({"kubes.test/never-ready": "true", "kubes.test/progress-deadline-ms": "200"}),
        ),
    )
    .await
    .unwrap();
    let web = tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(deps.clone(), "web", conditions::is_deployment_completed()),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    let st = web.status.unwrap();
    assert_eq!(
        (
            st.ready_replicas,
            st.available_replicas,
            st.updated_replicas,
            st.observed_generation
        ),
        (Some(2), Some(2), Some(2), Some(1))
    );

    let exceeded = |d: Option<&Deployment>| {
        d.and_then(|d| {
            d.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "Progressing")
                .cloned()
        })
        .is_some_and(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(deps.clone(), "stuck", exceeded),
    )
    .await
    .unwrap()
    .unwrap();

    // Deleting the Deployment (background propagation) collects its ReplicaSet and pods.
    deps.delete("web", &DeleteParams::background())
        .await
        .unwrap();
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    assert!(rss
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn crds_serve_their_resources_and_discovery_finds_everything() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "databases.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "databases", "singular": "database", "kind": "Database"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(
            crds.clone(),
            "databases.example.com",
            conditions::is_crd_established(),
        ),
    )
    .await
    .unwrap()
    .unwrap();

    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    for gv in [
        "apps",
        "batch",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "policy",
        "example.com",
    ] {
        assert!(discovery.has_group(gv), "discovery lacks {gv}");
    }
    let (ar, _) = discovery::pinned_kind(
        &client,
        &GroupVersionKind::gvk("example.com", "v1", "Database"),
    )
    .await
    .unwrap();
    let dbs: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let db: DynamicObject =
        serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Database",
        "metadata": {"name": "main"}, "spec": {"size": "small"}}))
        .unwrap();
    dbs.patch("main", &PatchParams::apply("kubes"), &Patch::Apply(&db))
        .await
        .unwrap();
    let got = dbs.get("main").await.unwrap();
    assert_eq!(got.data["spec"]["size"], "small");

    let nss: Api<Namespace> = Api::all(client);
    let names: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_string()));
}

#[tokio::test]
async fn follow_streams_log_lines_as_the_script_writes_them() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let script = r#"{"attempts": [{"logs": [{"line": "one", "after_ms": 100}, {"line": "two", "after_ms": 100}, {"line": "three", "after_ms": 100}]}]}"#;
    jobs.create(&PostParams::default(), &job("slow", script, 0))
        .await
        .unwrap();
    let pod_name = loop {
        let running = pods
            .list(&ListParams::default().labels("job-name=slow"))
            .await
            .unwrap();
        if let Some(p) = running
            .items
            .iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        {
            break p.metadata.name.clone().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let stream = pods
        .log_stream(
            &pod_name,
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let lines: Vec<String> =
        tokio::time::timeout(Duration::from_secs(10), stream.lines().try_collect())
            .await
            .expect("stream ends with the container")
            .unwrap();
    assert_eq!(lines, ["one", "two", "three"]);
}

#[tokio::test]
async fn on_failure_jobs_restart_the_container_and_keep_previous_logs() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut j = job(
        "restarts",
        r#"{"attempts": [{"logs": [{"line": "first try"}], "exit_code": 1}, {"logs": [{"line": "second try"}]}]}"#,
        2,
    );
    j.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .restart_policy = Some("OnFailure".into());
    jobs.create(&PostParams::default(), &j).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        await_condition(jobs.clone(), "restarts", conditions::is_job_completed()),
    )
    .await
    .unwrap()
    .unwrap();
    let list = pods
        .list(&ListParams::default().labels("job-name=restarts"))
        .await
        .unwrap();
    assert_eq!(
        list.items.len(),
        1,
        "OnFailure restarts the container in the same pod"
    );
    let pod = &list.items[0];
    let cs = &pod
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    assert_eq!(cs.restart_count, 1);
    assert_eq!(
        cs.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        1
    );
    let name = pod.metadata.name.as_deref().unwrap();
    assert_eq!(
        pods.logs(name, &LogParams::default()).await.unwrap(),
        "second try\n"
    );
    assert_eq!(
        pods.logs(
            name,
            &LogParams {
                previous: true,
                ..Default::default()
            }
        )
        .await
        .unwrap(),
        "first try\n"
    );
}

#[tokio::test]
async fn deletion_propagates_foreground_background_and_orphan_and_honours_finalizers() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for name in ["fg", "orphaned"] {
        jobs.create(
            &PostParams::default(),
            &job(name, r#"{"attempts": [{"run_ms": 10000}]}"#, 0),
        )
        .await
        .unwrap();
    }
    let count = |name: &'static str| {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels(&format!("job-name={name}")))
                .await
                .unwrap()
                .items
                .len()
        }
    };
    while count("fg").await == 0 || count("orphaned").await == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    jobs.delete("fg", &DeleteParams::foreground())
        .await
        .unwrap();
    assert_eq!(count("fg").await, 0);
    // No propagationPolicy: batch/v1 Jobs orphan their pods.
    jobs.delete("orphaned", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(count("orphaned").await, 1);
    let orphan = pods
        .list(&ListParams::default().labels("job-name=orphaned"))
        .await
        .unwrap()
        .items
        .remove(0);
    assert!(orphan
        .metadata
        .owner_references
        .unwrap_or_default()
        .is_empty());

    // A finalizer holds deletion until it is removed.
    let mut held = cm("held", json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = cms.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api_error(cms.get("held").await.unwrap_err()).is_not_found());

    // deletecollection by label.
    for i in 0..3 {
        cms.create(&PostParams::default(), &cm(&format!("bulk-{i}"), json!({})))
            .await
            .unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=web"),
    )
    .await
    .unwrap();
    assert!(cms
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn statefulsets_report_ready_and_finished_jobs_expire_after_their_ttl() {
    use k8s_openapi::api::apps::v1::StatefulSet;
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let s: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {"replicas": 3, "serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "pg", "image": "postgres:17"}]}}}}))
    .unwrap();
    sts.create(&PostParams::default(), &s).await.unwrap();
    let ready = |s: Option<&StatefulSet>| {
        s.and_then(|s| s.status.as_ref())
            .is_some_and(|st| st.ready_replicas == Some(3) && st.observed_generation == Some(1))
    };
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(sts.clone(), "db", ready),
    )
    .await
    .unwrap()
    .unwrap();

    let jobs: Api<Job> = Api::namespaced(client, "default");
    let mut j = job("short-lived", r#"{"attempts": [{}]}"#, 0);
    j.spec.as_mut().unwrap().ttl_seconds_after_finished = Some(0);
    let uid = jobs
        .create(&PostParams::default(), &j)
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(jobs.clone(), "short-lived", conditions::is_deleted(&uid)),
    )
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
async fn plain_http_still_requires_the_token() {
    let srv = TestServer::start(Options {
        tls: false,
        ..Options::default()
    })
    .await
    .unwrap();
    assert!(srv.url().starts_with("http://127.0.0.1:"));
    let cms: Api<ConfigMap> = Api::namespaced(common::client(&srv).await, "default");
    cms.list(&ListParams::default()).await.unwrap();

    let anonymous = kube::Client::try_from(kube::Config::new(srv.url().parse().unwrap())).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(anonymous, "default");
    let err = api_error(cms.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (401, "Unauthorized"));
}

#[tokio::test]
async fn strict_field_validation_rejects_typos_and_the_default_lets_them_through() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let deps: Api<Deployment> = Api::namespaced(common::client(&srv).await, "default");
    let typo = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replica": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}});
    let err = api_error(
        deps.patch(
            "web",
            &PatchParams::apply("kubes").validation_strict(),
            &Patch::Apply(&typo),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (400, "BadRequest"));
    assert!(
        err.message
            .contains("strict decoding error: unknown field \"spec.replica\""),
        "{}",
        err.message
    );
    // Without Strict the apiserver only warns, and the typo is dropped on the floor.
    let created = deps
        .patch("web", &PatchParams::apply("kubes"), &Patch::Apply(&typo))
        .await
        .unwrap();
    assert_eq!(created.spec.unwrap().replicas, Some(1));
}

#[tokio::test]
async fn pods_deleted_from_a_deployment_are_replaced_once() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "heal"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "heal"}},
            "template": {"metadata": {"labels": {"app": "heal"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}))
    .unwrap();
    deps.create(&PostParams::default(), &d).await.unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        await_condition(deps.clone(), "heal", conditions::is_deployment_completed()),
    )
    .await
    .unwrap()
    .unwrap();
    let lp = ListParams::default().labels("app=heal");
    let before: Vec<String> = pods
        .list(&lp)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(before.len(), 3);
    pods.delete(&before[0], &DeleteParams::default())
        .await
        .unwrap();
    pods.delete(&before[1], &DeleteParams::default())
        .await
        .unwrap();

    let ready = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|cs| cs.iter().all(|c| c.ready))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now: Vec<Pod> = pods.list(&lp).await.unwrap().items;
        if now.len() == 3
            && now.iter().all(ready)
            && !now
                .iter()
                .any(|p| before[..2].contains(p.metadata.name.as_ref().unwrap()))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pods not replaced: {:?}",
            now.iter().map(|p| &p.metadata.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Both deletions were seen, yet exactly the missing two were created.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pods.list(&lp).await.unwrap().items.len(), 3);
    let st = deps.get("heal").await.unwrap().status.unwrap();
    assert_eq!(st.ready_replicas, Some(3));
}

#[tokio::test]
async fn metadata_only_reads_answer_each_objects_metadata_alone() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &cm("settings", json!({"greeting": "hunter2-value"})),
    )
    .await
    .unwrap();

    // What `Api::list_metadata` and `get_metadata` ask for, read raw: the server must not
    // send the data, as a real API server does not.
    for (path, accept, kind) in [
        (
            "/api/v1/namespaces/default/configmaps",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1",
            "PartialObjectMetadataList",
        ),
        (
            "/api/v1/namespaces/default/configmaps/settings",
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            "PartialObjectMetadata",
        ),
    ] {
        let req = http::Request::get(path)
            .header("accept", accept)
            .body(Vec::new())
            .unwrap();
        let text = client.request_text(req).await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["kind"], kind, "{text}");
        assert_eq!(v["apiVersion"], "meta.k8s.io/v1", "{text}");
        // (managedFields name the key, as in Kubernetes; the value is the object's own.)
        assert!(!text.contains("hunter2-value"), "the data was sent: {text}");
        let meta = if kind == "PartialObjectMetadataList" {
            assert!(v["metadata"]["resourceVersion"].is_string(), "{text}");
            assert_eq!(v["items"][0]["kind"], "PartialObjectMetadata", "{text}");
            &v["items"][0]["metadata"]
        } else {
            &v["metadata"]
        };
        assert_eq!(meta["name"], "settings", "{text}");
        assert!(
            meta["uid"].is_string() && meta["managedFields"].is_array(),
            "{text}"
        );
    }

    // And through kube-rs' own calls.
    let listed = cms.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].metadata.name.as_deref(), Some("settings"));
    let got = cms.get_metadata("settings").await.unwrap();
    assert_eq!(got.metadata.labels.unwrap()["app"], "web");
}
