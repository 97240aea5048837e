//! Where Kubernetes makes clients wait or fail, the server does too: terminal Job
//! conditions in two steps, doubling back-offs, image pulls that fail before they work,
//! containers waiting on a missing Secret (CreateContainerConfigError),
//! logs of unscheduled pods and of unreachable kubelets, and Deployment status that lags
//! behind a spec change. The assertions are about what clients see and in which order
//! (the server has one global resourceVersion), never about how long it took.

use crate::common;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{
    Api, ListParams, LogParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::core::Resource;
use kube_testserver::controllers::Timing;
use kube_testserver::{Options, TestServer};
use serde_json::json;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

fn job(name: &str, script: &str, backoff_limit: i32, restart_policy: &str) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": backoff_limit, "template": {
            "metadata": {"annotations": {"kubes.test/script": script}},
            "spec": {"restartPolicy": restart_policy, "containers": [{"name": "migrate", "image": "db-migrate:1"}]}}}
    }))
    .unwrap()
}

fn with_deadline_ms(mut j: Job, ms: u64) -> Job {
    j.metadata.annotations =
        Some([("kubes.test/active-deadline-ms".to_string(), ms.to_string())].into());
    j
}

/// The resourceVersion a watch starting now begins after.
async fn now_rv<K>(api: &Api<K>) -> String
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default().limit(1))
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
}

/// Every watch event (type, object) from `rv` on, matching `lp`, until `done` says the
/// last one ends it.
async fn record<K>(
    api: Api<K>,
    rv: String,
    lp: WatchParams,
    done: impl Fn(&str, &K) -> bool,
) -> Vec<(String, K)>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut seen = Vec::new();
    let mut rv = rv;
    let run = async {
        loop {
            let mut stream = api.watch(&lp, &rv).await.unwrap().boxed();
            while let Some(ev) = stream.try_next().await.unwrap() {
                let (kind, obj) = match ev {
                    WatchEvent::Added(o) => ("ADDED", o),
                    WatchEvent::Modified(o) => ("MODIFIED", o),
                    WatchEvent::Deleted(o) => ("DELETED", o),
                    WatchEvent::Bookmark(_) => continue,
                    WatchEvent::Error(e) => panic!("watch error {e:?}"),
                };
                if let Some(v) = obj.meta().resource_version.clone() {
                    rv = v;
                }
                let end = done(kind, &obj);
                seen.push((kind.to_string(), obj));
                if end {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("the watch did not see the end; saw {seen:#?}"));
    seen
}

fn rv_of<K: Resource>(o: &K) -> u64 {
    o.meta()
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

fn cond(j: &Job, kind: &str) -> Option<k8s_openapi::api::batch::v1::JobCondition> {
    j.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
        .cloned()
}

fn job_watch(name: &str) -> WatchParams {
    WatchParams::default().fields(&format!("metadata.name={name}"))
}

fn pod_watch(job: &str) -> WatchParams {
    WatchParams::default().labels(&format!("job-name={job}"))
}

fn waiting_reason(p: &Pod) -> Option<String> {
    p.status.as_ref()?.container_statuses.as_ref()?[0]
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

#[tokio::test]
async fn a_job_past_its_deadline_is_failure_target_until_its_pod_is_gone_then_failed() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (job_rv, pod_rv) = (now_rv(&jobs).await, now_rv(&pods).await);
    let script = r#"{"attempts": [{"logs": [{"line": "migrating"}], "run_ms": 60000}]}"#;
    jobs.create(
        &PostParams::default(),
        &with_deadline_ms(job("slow", script, 0, "Never"), 300),
    )
    .await
    .unwrap();
    let (job_events, pod_events) = tokio::join!(
        record(jobs.clone(), job_rv, job_watch("slow"), |_, j| cond(
            j, "Failed"
        )
        .is_some()),
        record(pods.clone(), pod_rv, pod_watch("slow"), |kind, _| kind
            == "DELETED"),
    );

    let target = job_events
        .iter()
        .map(|(_, j)| j)
        .find(|j| cond(j, "FailureTarget").is_some())
        .expect("FailureTarget first");
    let c = cond(target, "FailureTarget").unwrap();
    assert_eq!(
        (c.reason.as_deref(), c.message.as_deref()),
        (
            Some("DeadlineExceeded"),
            Some("Job was active longer than specified deadline")
        )
    );
    assert!(cond(target, "Failed").is_none(), "{target:#?}");
    let st = target.status.as_ref().unwrap();
    assert_eq!((st.active, st.terminating), (Some(0), Some(1)), "{st:#?}");

    let (_, last) = job_events.last().unwrap();
    let failed = cond(last, "Failed").unwrap();
    assert_eq!(
        (failed.reason, failed.message),
        (c.reason.clone(), c.message.clone())
    );
    assert!(
        cond(last, "FailureTarget").is_some(),
        "the interim condition stays"
    );
    let st = last.status.as_ref().unwrap();
    assert_eq!(
        (st.active, st.terminating, st.failed),
        (Some(0), Some(0), Some(1)),
        "{st:#?}"
    );

    // The pod was deleted gracefully: terminating (deletionTimestamp) after FailureTarget,
    // stopped by SIGTERM, and gone before Failed.
    let terminating = pod_events
        .iter()
        .find(|(_, p)| p.metadata.deletion_timestamp.is_some())
        .map(|(_, p)| p)
        .expect("the pod shows it is terminating");
    let (kind, gone) = pod_events.last().unwrap();
    assert_eq!(kind, "DELETED");
    let first_failed = job_events
        .iter()
        .map(|(_, j)| j)
        .find(|j| cond(j, "Failed").is_some())
        .unwrap();
    assert!(
        rv_of(target) < rv_of(gone),
        "FailureTarget before the pod is gone"
    );
    assert!(rv_of(terminating) < rv_of(gone));
    assert!(
        rv_of(gone) < rv_of(first_failed),
        "Failed only once the pod is gone"
    );
    let term = gone
        .status
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
        .expect("the container was stopped");
    assert_eq!(term.exit_code, 143);
}

#[tokio::test]
async fn failure_and_success_come_in_two_steps_with_the_last_pod_counted_in_the_second() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let rv = now_rv(&jobs).await;
    jobs.create(
        &PostParams::default(),
        &job("broken", r#"{"attempts": [{"exit_code": 1}]}"#, 1, "Never"),
    )
    .await
    .unwrap();
    let events = record(jobs.clone(), rv, job_watch("broken"), |_, j| {
        cond(j, "Failed").is_some()
    })
    .await;
    let target = events
        .iter()
        .map(|(_, j)| j)
        .find(|j| cond(j, "FailureTarget").is_some())
        .unwrap();
    assert_eq!(
        cond(target, "FailureTarget").unwrap().reason.as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert!(cond(target, "Failed").is_none());
    let st = target.status.as_ref().unwrap();
    assert_eq!(
        st.failed,
        Some(1),
        "the second pod is not counted yet: {st:#?}"
    );
    let uncounted = st.uncounted_terminated_pods.as_ref().unwrap();
    assert_eq!(uncounted.failed.as_ref().map(Vec::len), Some(1), "{st:#?}");
    let (_, last) = events.last().unwrap();
    let st = last.status.as_ref().unwrap();
    assert_eq!(st.failed, Some(2));
    assert_eq!(
        st.uncounted_terminated_pods
            .as_ref()
            .and_then(|u| u.failed.as_ref())
            .map_or(0, Vec::len),
        0
    );
    assert_eq!(
        cond(last, "Failed").unwrap().message.as_deref(),
        Some("Job has reached the specified backoff limit")
    );

    let rv = now_rv(&jobs).await;
    jobs.create(
        &PostParams::default(),
        &job(
            "fine",
            r#"{"attempts": [{"logs": [{"line": "done"}]}]}"#,
            1,
            "Never",
        ),
    )
    .await
    .unwrap();
    let events = record(jobs.clone(), rv, job_watch("fine"), |_, j| {
        cond(j, "Complete").is_some()
    })
    .await;
    let met = events
        .iter()
        .map(|(_, j)| j)
        .find(|j| cond(j, "SuccessCriteriaMet").is_some())
        .unwrap();
    assert!(cond(met, "Complete").is_none());
    let st = met.status.as_ref().unwrap();
    assert_eq!(st.succeeded.unwrap_or(0), 0, "{st:#?}");
    assert!(st.completion_time.is_none());
    assert_eq!(
        st.uncounted_terminated_pods
            .as_ref()
            .and_then(|u| u.succeeded.as_ref())
            .map(Vec::len),
        Some(1)
    );
    let (_, last) = events.last().unwrap();
    let st = last.status.as_ref().unwrap();
    assert_eq!(st.succeeded, Some(1));
    assert!(st.completion_time.is_some());
    assert_eq!(
        cond(last, "Complete").unwrap().reason.as_deref(),
        Some("CompletionsReached")
    );
}

#[tokio::test]
async fn on_failure_restarts_back_off_doubling_and_the_job_fails_when_restarts_reach_the_limit() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (job_rv, pod_rv) = (now_rv(&jobs).await, now_rv(&pods).await);
    let script = r#"{"attempts": [{"logs": [{"line": "boom"}], "exit_code": 1}]}"#;
    jobs.create(
        &PostParams::default(),
        &job("crashy", script, 4, "OnFailure"),
    )
    .await
    .unwrap();
    let (job_events, pod_events) = tokio::join!(
        record(jobs.clone(), job_rv, job_watch("crashy"), |_, j| cond(
            j, "Failed"
        )
        .is_some()),
        record(pods.clone(), pod_rv, pod_watch("crashy"), |kind, _| kind
            == "DELETED"),
    );
    // The kubelet restarts at once after the first crash, then backs off 10 s, 20 s, 40 s
    // (scaled down by backoff_scale; the messages quote the real durations).
    let mut backoffs: Vec<String> = Vec::new();
    for (_, p) in &pod_events {
        let cs = &p.status.as_ref().unwrap().container_statuses;
        let Some(w) = cs
            .as_ref()
            .and_then(|cs| cs[0].state.as_ref()?.waiting.clone())
        else {
            continue;
        };
        if w.reason.as_deref() == Some("CrashLoopBackOff") {
            let m = w.message.unwrap();
            let d = m.split_whitespace().nth(1).unwrap().to_string();
            if backoffs.last() != Some(&d) {
                backoffs.push(d);
            }
        }
    }
    assert_eq!(backoffs, ["10s", "20s", "40s"]);
    let names: std::collections::BTreeSet<_> = pod_events
        .iter()
        .map(|(_, p)| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "restarts stay in one pod");
    // The Job controller sees the fourth restart (backoffLimit 4) and deletes the pod: the
    // pod counts as one failure.
    let (_, gone) = pod_events.last().unwrap();
    let cs = &gone
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0];
    assert_eq!(cs.restart_count, 4);
    let (_, last) = job_events.last().unwrap();
    assert_eq!(
        cond(last, "Failed").unwrap().reason.as_deref(),
        Some("BackoffLimitExceeded")
    );
    assert_eq!(last.status.as_ref().unwrap().failed, Some(1));
    let target = job_events
        .iter()
        .map(|(_, j)| j)
        .find(|j| cond(j, "FailureTarget").is_some())
        .unwrap();
    assert!(rv_of(target) < rv_of(gone) && rv_of(gone) < rv_of(last));
}

#[tokio::test]
async fn job_retries_back_off_doubling_so_few_attempts_fit_in_a_deadline() {
    // Back-offs of 100, 200, 400, 800 ms: attempts start at about 0, 0.1, 0.3 and 0.7 s,
    // and the next one would be after the 1 s deadline. (A constant back-off would fit
    // about nine.) Slowness only makes fewer fit.
    let srv = TestServer::start(Options {
        timing: Timing {
            backoff_scale: 0.01,
            ..Timing::default()
        },
        ..Options::default()
    })
    .await
    .unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let rv = now_rv(&jobs).await;
    jobs.create(
        &PostParams::default(),
        &with_deadline_ms(
            job("retry", r#"{"attempts": [{"exit_code": 1}]}"#, 20, "Never"),
            1000,
        ),
    )
    .await
    .unwrap();
    let events = record(jobs.clone(), rv, job_watch("retry"), |_, j| {
        cond(j, "Failed").is_some()
    })
    .await;
    let (_, last) = events.last().unwrap();
    assert_eq!(
        cond(last, "Failed").unwrap().reason.as_deref(),
        Some("DeadlineExceeded")
    );
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let n = pods
        .list(&ListParams::default().labels("job-name=retry"))
        .await
        .unwrap()
        .items
        .len();
    assert!((2..=4).contains(&n), "{n} attempts");
}

#[tokio::test]
async fn a_container_whose_env_names_a_missing_secret_waits_until_it_exists() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rv = now_rv(&pods).await;
    let mut j = job(
        "configured",
        r#"{"attempts": [{"logs": [{"line": "configured"}]}]}"#,
        0,
        "Never",
    );
    let c = &mut j
        .spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0];
    c.env_from = Some(vec![serde_json::from_value(
        json!({"secretRef": {"name": "db-credentials"}}),
    )
    .unwrap()]);
    jobs.create(&PostParams::default(), &j).await.unwrap();
    // The kubelet says which Secret, and tries again on each sync.
    let events = record(pods.clone(), rv.clone(), pod_watch("configured"), |_, p| {
        waiting_reason(p).as_deref() == Some("CreateContainerConfigError")
    })
    .await;
    let (_, waiting) = events.last().unwrap();
    let state = waiting
        .status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .state
        .clone()
        .unwrap();
    assert_eq!(
        state.waiting.unwrap().message.as_deref(),
        Some("secret \"db-credentials\" not found")
    );
    let name = waiting.metadata.name.clone().unwrap();
    let evs: Api<Event> = Api::namespaced(client.clone(), "default");
    let failed = evs
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .unwrap()
        .items;
    assert!(
        failed.iter().any(|e| e.reason.as_deref() == Some("Failed")
            && e.message.as_deref() == Some("Error: secret \"db-credentials\" not found")),
        "{failed:#?}"
    );
    // Once the Secret exists the container starts, and the Job completes.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client, "default");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "db-credentials"}, "stringData": {"password": "p"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    tokio::time::timeout(
        LIMIT,
        kube::runtime::wait::await_condition(jobs.clone(), "configured", |j: Option<&Job>| {
            j.is_some_and(|j| cond(j, "Complete").is_some())
        }),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        pods.logs(&name, &LogParams::default()).await.unwrap(),
        "configured\n"
    );
}

#[tokio::test]
async fn a_pull_that_fails_twice_backs_off_then_the_container_starts() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rv = now_rv(&pods).await;
    let script = r#"{"attempts": [{"pull_failures": 2, "logs": [{"line": "pulled at last"}]}]}"#;
    jobs.create(&PostParams::default(), &job("pull", script, 0, "Never"))
        .await
        .unwrap();
    let events = record(pods.clone(), rv, pod_watch("pull"), |_, p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
    })
    .await;
    let mut reasons: Vec<String> = Vec::new();
    for (_, p) in &events {
        let r = match waiting_reason(p) {
            Some(r) => r,
            None => match p.status.as_ref().and_then(|s| s.phase.clone()) {
                Some(phase) if phase != "Pending" => phase,
                _ => continue,
            },
        };
        if reasons.last() != Some(&r) {
            reasons.push(r);
        }
    }
    assert_eq!(
        reasons,
        [
            "ContainerCreating",
            "ErrImagePull",
            "ImagePullBackOff",
            "ErrImagePull",
            "ImagePullBackOff",
            "Running",
            "Succeeded"
        ]
    );
    let name = events[0].1.metadata.name.clone().unwrap();
    assert_eq!(
        pods.logs(&name, &LogParams::default()).await.unwrap(),
        "pulled at last\n"
    );
    tokio::time::timeout(
        LIMIT,
        kube::runtime::wait::await_condition(jobs.clone(), "pull", |j: Option<&Job>| {
            j.is_some_and(|j| cond(j, "Complete").is_some())
        }),
    )
    .await
    .unwrap()
    .unwrap();
    // Repeated kubelet events are aggregated, as the event recorder does.
    let events: Api<Event> = Api::namespaced(client, "default");
    let evs = events
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .unwrap()
        .items;
    let count = |msg: &str| {
        evs.iter()
            .find(|e| e.message.as_deref() == Some(msg))
            .and_then(|e| e.count)
    };
    assert_eq!(count("Error: ErrImagePull"), Some(2), "{evs:#?}");
    assert_eq!(count("Error: ImagePullBackOff"), Some(2));
    assert!(evs.iter().any(|e| e.reason.as_deref() == Some("Pulled")
        && e.message
            .as_deref()
            .unwrap_or_default()
            .starts_with("Successfully pulled image \"db-migrate:1\"")));
}

#[tokio::test]
async fn an_image_that_never_pulls_alternates_until_the_deadline() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rv = now_rv(&pods).await;
    jobs.create(
        &PostParams::default(),
        &with_deadline_ms(
            job("stuck", r#"{"image_pull_error": true}"#, 0, "Never"),
            400,
        ),
    )
    .await
    .unwrap();
    let events = record(pods.clone(), rv, pod_watch("stuck"), |kind, _| {
        kind == "DELETED"
    })
    .await;
    let mut reasons: Vec<String> = Vec::new();
    for (_, p) in &events {
        if let Some(r) = waiting_reason(p) {
            if reasons.last() != Some(&r) {
                reasons.push(r);
            }
        }
    }
    assert_eq!(
        reasons[..4],
        [
            "ContainerCreating",
            "ErrImagePull",
            "ImagePullBackOff",
            "ErrImagePull"
        ],
        "{reasons:?}"
    );
    assert!(events
        .iter()
        .all(|(_, p)| p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running")));
    let job = jobs.get("stuck").await.unwrap();
    let job = tokio::time::timeout(
        LIMIT,
        kube::runtime::wait::await_condition(jobs.clone(), "stuck", |j: Option<&Job>| {
            j.is_some_and(|j| cond(j, "Failed").is_some())
        }),
    )
    .await
    .unwrap()
    .unwrap()
    .unwrap_or(job);
    assert_eq!(
        cond(&job, "Failed").unwrap().reason.as_deref(),
        Some("DeadlineExceeded")
    );
}

#[tokio::test]
async fn an_unscheduled_pod_answers_its_log_request_with_no_content() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "bare"},
        "spec": {"containers": [{"name": "app", "image": "app:1"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    for query in ["", "?follow=true", "?previous=true"] {
        let req = http::Request::get(format!("/api/v1/namespaces/default/pods/bare/log{query}"))
            .body(Vec::new())
            .unwrap();
        let resp = client
            .send(req.map(kube::client::Body::from))
            .await
            .unwrap();
        assert_eq!(resp.status(), 204, "{query}");
        let body = resp.into_body().collect_bytes().await.unwrap();
        assert!(body.is_empty(), "{query}: {body:?}");
    }
    assert_eq!(pods.logs("bare", &LogParams::default()).await.unwrap(), "");
    // The container is still checked first.
    let err = pods
        .logs(
            "bare",
            &LogParams {
                container: Some("nope".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(s) => assert_eq!(s.code, 400),
        other => panic!("{other:?}"),
    }
    let out = common::kubectl(&srv, &["logs", "bare"]);
    assert_eq!(common::ok(out), "");
}

#[tokio::test]
async fn an_unreachable_kubelet_makes_log_requests_fail_with_500() {
    let srv = TestServer::start(Options::default()).await.unwrap();
    let client = common::client(&srv).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let script =
        r#"{"logs_unavailable": true, "attempts": [{"logs": [{"line": "x"}], "run_ms": 300}]}"#;
    jobs.create(&PostParams::default(), &job("dark", script, 0, "Never"))
        .await
        .unwrap();
    let pod = tokio::time::timeout(LIMIT, async {
        loop {
            let list = pods
                .list(&ListParams::default().labels("job-name=dark"))
                .await
                .unwrap();
            if let Some(p) = list
                .items
                .into_iter()
                .find(|p| p.spec.as_ref().unwrap().node_name.is_some())
            {
                return p.metadata.name.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let err = pods
        .logs(
            &pod,
            &LogParams {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("{err:?}")
    };
    assert_eq!(s.code, 500);
    assert_eq!(s.reason, "");
    assert_eq!(
        s.message,
        format!("Get \"https://10.0.0.1:10250/containerLogs/default/{pod}/migrate?follow=true\": dial tcp 10.0.0.1:10250: connect: connection refused")
    );
    let out = common::kubectl(&srv, &["logs", &pod]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Error from server: Get \"https://10.0.0.1:10250/containerLogs/default/"),
        "{stderr}"
    );
    // Only the logs are out of reach: the Job runs to completion.
    tokio::time::timeout(
        LIMIT,
        kube::runtime::wait::await_condition(jobs, "dark", |j: Option<&Job>| {
            j.is_some_and(|j| cond(j, "Complete").is_some())
        }),
    )
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
async fn deployment_status_is_the_old_generations_until_the_controller_observes_the_change() {
    // A generous lag, so the read right after the patch is surely inside it.
    let srv = TestServer::start(Options {
        timing: Timing {
            observed_generation_lag: Duration::from_secs(1),
            ..Timing::default()
        },
        ..Options::default()
    })
    .await
    .unwrap();
    let client = common::client(&srv).await;
    let deps: Api<Deployment> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}))
    .unwrap();
    deps.create(&PostParams::default(), &d).await.unwrap();
    let rolled_out = |gen: i64| {
        move |d: Option<&Deployment>| {
            d.and_then(|d| d.status.as_ref()).is_some_and(|s| {
                s.observed_generation == Some(gen)
                    && s.available_replicas == Some(2)
                    && s.conditions.as_ref().is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.type_ == "Progressing"
                                && c.reason.as_deref() == Some("NewReplicaSetAvailable")
                        })
                    })
            })
        }
    };
    tokio::time::timeout(
        LIMIT,
        kube::runtime::wait::await_condition(deps.clone(), "web", rolled_out(1)),
    )
    .await
    .unwrap()
    .unwrap();

    let patched = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    let now = deps.get("web").await.unwrap();
    let st = now.status.unwrap();
    assert_eq!(st.observed_generation, Some(1), "not observed yet");
    let progressing = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(
        progressing.reason.as_deref(),
        Some("NewReplicaSetAvailable"),
        "the stale status still claims the old rollout finished"
    );
    tokio::time::timeout(
        LIMIT,
        kube::runtime::wait::await_condition(deps.clone(), "web", rolled_out(2)),
    )
    .await
    .unwrap()
    .unwrap();
    // kubectl rollout status checks observedGeneration first, so it is not fooled.
    let out = common::kubectl(
        &srv,
        &["rollout", "status", "deployment/web", "--timeout=20s"],
    );
    assert!(common::ok(out).contains("successfully rolled out"));
}
