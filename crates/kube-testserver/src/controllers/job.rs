//! Job controller: runs scripted pods, retries up to `backoffLimit`, honours
//! `activeDeadlineSeconds`, and writes Job status and conditions like batch/v1.

use super::container_config;
use super::events::{record, record_repeated};
use super::{go_duration, Timing};
use crate::cluster::{Cluster, WriteOptions};
use crate::logs::LogStore;
use crate::meta::{name_of, namespace_of, now_rfc3339, uid_of};
use crate::registry::ResourceType;
use crate::script::{self, Attempt, LogLine, Script};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const MANAGER: &str = "kube-controller-manager";
/// The node every simulated pod is bound to.
pub(super) const NODE: &str = "kube-testserver-node";
/// The Job controller's pod failure back-off (`DefaultJobPodFailureBackOff`,
/// `MaxJobPodFailureBackOff` in pkg/controller/job).
const JOB_BACKOFF: Duration = Duration::from_secs(10);
const JOB_BACKOFF_CAP: Duration = Duration::from_secs(600);
/// The kubelet's back-off for container restarts and image pulls (`backOffPeriod`,
/// `MaxContainerBackOff`).
const KUBELET_BACKOFF: Duration = Duration::from_secs(10);
const KUBELET_BACKOFF_CAP: Duration = Duration::from_secs(300);
/// Exit code of a container stopped by SIGTERM when its pod is deleted.
const SIGTERM_EXIT: i32 = 143;

pub fn on_event(
    cluster: &Arc<Cluster>,
    logs: &Arc<LogStore>,
    timing: &Timing,
    seen: &mut HashSet<String>,
    job: &Value,
) {
    let uid = uid_of(job).to_string();
    if seen.contains(&uid) || job.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let finished = job
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                matches!(
                    c["type"].as_str(),
                    Some("Complete" | "Failed" | "FailureTarget" | "SuccessCriteriaMet")
                ) && c["status"] == "True"
            })
        });
    if finished || job.pointer("/spec/suspend") == Some(&json!(true)) {
        return;
    }
    seen.insert(uid.clone());
    let run = JobRun {
        cluster: cluster.clone(),
        logs: logs.clone(),
        timing: timing.clone(),
        jobs: cluster
            .registry
            .find("batch", "v1", "jobs")
            .expect("built in"),
        pods: cluster.registry.find("", "v1", "pods").expect("built in"),
        ns: namespace_of(job).to_string(),
        name: name_of(job).to_string(),
        uid,
    };
    tokio::spawn(async move { run.run().await });
}

/// How one container attempt ended.
enum Outcome {
    Exited {
        code: i32,
        message: Option<String>,
        started: String,
    },
    DeadlineHit,
    Gone,
}

/// How a Job ends.
enum End<'a> {
    Succeeded,
    Failed { reason: &'a str, message: &'a str },
}

/// Bind a pod to the node, as the scheduler does through `pods/binding`: `spec.nodeName`
/// and the PodScheduled condition at once, and a Scheduled event.
pub(super) fn bind_pod(cluster: &Cluster, pods: &ResourceType, ns: &str, pod: &str) {
    let now = now_rfc3339();
    let bound = cluster.modify(pods, ns, pod, "kube-scheduler", "binding", |p| {
        if p.pointer("/spec/nodeName").is_some() {
            return;
        }
        p["spec"]["nodeName"] = json!(NODE);
        if !p.get("status").is_some_and(Value::is_object) {
            p["status"] = json!({"phase": "Pending"});
        }
        p["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True",
            "lastTransitionTime": now, "lastProbeTime": null}]);
    });
    if let Ok(p) = bound {
        record(
            cluster,
            &p,
            false,
            "Scheduled",
            &format!("Successfully assigned {ns}/{pod} to {NODE}"),
            "default-scheduler",
        );
    }
}

struct JobRun {
    cluster: Arc<Cluster>,
    logs: Arc<LogStore>,
    timing: Timing,
    jobs: ResourceType,
    pods: ResourceType,
    ns: String,
    name: String,
    uid: String,
}

impl JobRun {
    fn job(&self) -> Option<Arc<Value>> {
        self.cluster
            .get(&self.jobs, &self.ns, &self.name)
            .ok()
            .filter(|j| uid_of(j) == self.uid)
    }

    fn set_status(&self, mut f: impl FnMut(&mut Value)) {
        let _ = self
            .cluster
            .modify(&self.jobs, &self.ns, &self.name, MANAGER, "status", |j| {
                if !j.get("status").is_some_and(Value::is_object) {
                    j["status"] = json!({});
                }
                f(&mut j["status"])
            });
    }

    fn set_pod_status(&self, pod: &str, mut f: impl FnMut(&mut Value)) -> bool {
        self.cluster
            .modify(&self.pods, &self.ns, pod, "kubelet", "status", |p| {
                if !p.get("status").is_some_and(Value::is_object) {
                    p["status"] = json!({});
                }
                f(&mut p["status"])
            })
            .is_ok()
    }

    fn pod_obj(&self, pod: &str) -> Option<Arc<Value>> {
        self.cluster.get(&self.pods, &self.ns, pod).ok()
    }

    async fn run(self) {
        let Some(job) = self.job() else { return };
        let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let script = match script::from_template(&template) {
            Ok(Some(s)) => s,
            Ok(None) => Script {
                attempts: vec![Attempt {
                    logs: vec![LogLine {
                        line: format!("job {} ran", self.name),
                        after_ms: 0,
                    }],
                    run_ms: self.timing.default_run.as_millis() as u64,
                    ..Default::default()
                }],
                ..Default::default()
            },
            Err(problem) => {
                // A broken script fails the pods visibly: in their logs, status and an event.
                record(
                    &self.cluster,
                    &job,
                    true,
                    "InvalidScript",
                    &problem,
                    "kube-testserver",
                );
                Script {
                    attempts: vec![Attempt {
                        logs: vec![LogLine {
                            line: format!("kube-testserver: {problem}"),
                            after_ms: 0,
                        }],
                        exit_code: 2,
                        message: Some(problem),
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            }
        };
        let backoff_limit = job
            .pointer("/spec/backoffLimit")
            .and_then(Value::as_i64)
            .unwrap_or(6);
        // Tests want deadlines shorter than the field's whole seconds: an annotation on the
        // Job may give it in milliseconds.
        let deadline_ms = job
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(script::ACTIVE_DEADLINE_ANNOTATION))
            .and_then(Value::as_str);
        let deadline = match deadline_ms.map(|v| v.trim().parse::<u64>()) {
            Some(Ok(ms)) => Some(Instant::now() + Duration::from_millis(ms)),
            Some(Err(_)) => {
                let problem = format!(
                    "annotation {}: expected whole milliseconds, found {:?}",
                    script::ACTIVE_DEADLINE_ANNOTATION,
                    deadline_ms.unwrap_or_default()
                );
                record(
                    &self.cluster,
                    &job,
                    true,
                    "InvalidAnnotation",
                    &problem,
                    "kube-testserver",
                );
                None
            }
            None => job
                .pointer("/spec/activeDeadlineSeconds")
                .and_then(Value::as_u64)
                .map(|s| Instant::now() + Duration::from_secs(s)),
        };
        let on_failure = template.pointer("/spec/restartPolicy") == Some(&json!("OnFailure"));
        let containers: Vec<(String, String)> = template
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap_or("main").to_string(),
                            c["image"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let grace_seconds = template
            .pointer("/spec/terminationGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(30);
        let start = now_rfc3339();
        self.set_status(|s| {
            s["startTime"] = json!(start);
            s["active"] = json!(0);
            s["ready"] = json!(0);
            s["terminating"] = json!(0);
            s["uncountedTerminatedPods"] = json!({});
        });
        let ctx = Ctx {
            containers: &containers,
            grace_seconds,
        };
        // status.failed: pods that failed (not in-place container restarts).
        let mut failed = 0i64;
        // Failures since the last success, for the Job controller's back-off.
        let mut consecutive = 0u32;
        // Container failures in the current pod (`restartPolicy: OnFailure`).
        let mut crashes = 0u32;
        let mut attempt = 0usize;
        let mut pod: Option<(String, String)> = None;
        loop {
            if self.job().is_none() {
                return;
            }
            let (pod_name, pod_uid, fresh) = match &pod {
                Some((p, u)) if on_failure => (p.clone(), u.clone(), false),
                _ => match self.create_pod(&job, &template) {
                    Some((p, u)) => (p, u, true),
                    None => return,
                },
            };
            pod = Some((pod_name.clone(), pod_uid.clone()));
            self.set_status(|s| s["active"] = json!(1));
            let a = script.attempt(attempt);
            let outcome = self
                .run_attempt(
                    &pod_name,
                    &a,
                    &containers,
                    attempt,
                    crashes,
                    fresh,
                    deadline,
                )
                .await;
            match outcome {
                Outcome::Gone => {
                    if self.job().is_none() {
                        return;
                    }
                    // The pod was deleted from under the Job: it counts as failed.
                    failed += 1;
                    consecutive += 1;
                    pod = None;
                    crashes = 0;
                    self.set_status(|s| {
                        s["failed"] = json!(failed);
                        s["active"] = json!(0);
                        s["ready"] = json!(0);
                    });
                    if failed > backoff_limit {
                        let end = End::Failed {
                            reason: "BackoffLimitExceeded",
                            message: "Job has reached the specified backoff limit",
                        };
                        self.finish(end, failed, None, None, &ctx).await;
                        return;
                    }
                }
                Outcome::DeadlineHit => {
                    let end = End::Failed {
                        reason: "DeadlineExceeded",
                        message: "Job was active longer than specified deadline",
                    };
                    self.finish(end, failed, None, Some(&pod_name), &ctx).await;
                    return;
                }
                Outcome::Exited {
                    code,
                    message,
                    started,
                } => {
                    let reason = if code == 0 { "Completed" } else { "Error" };
                    let finished = now_rfc3339();
                    let term = |c: &str| {
                        let mut t = json!({"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished,
                            "containerID": format!("containerd://{pod_name}-{c}-{attempt}")});
                        if let Some(m) = &message {
                            t["message"] = json!(m);
                        }
                        t
                    };
                    // The kubelet reports the container terminated; a pod that will not
                    // restart it is finished.
                    let pod_done = code == 0 || !on_failure;
                    self.set_pod_status(&pod_name, |s| {
                        if let Some(cs) = s["containerStatuses"].as_array_mut() {
                            for c in cs {
                                let n = c["name"].as_str().unwrap_or_default().to_string();
                                c["ready"] = json!(false);
                                c["started"] = json!(false);
                                c["state"] = json!({"terminated": term(&n)});
                            }
                        }
                        if pod_done {
                            s["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
                        }
                        s["conditions"] = pod_conditions(false);
                    });
                    for (c, _) in &containers {
                        self.logs.finish(&self.ns, &pod_name, c);
                    }
                    self.set_status(|s| s["ready"] = json!(0));
                    if code == 0 {
                        self.finish(End::Succeeded, failed, Some(&pod_uid), None, &ctx)
                            .await;
                        return;
                    }
                    if on_failure {
                        crashes += 1;
                        match self
                            .crash_loop(&pod_name, &pod_uid, crashes, &ctx, deadline)
                            .await
                        {
                            Some(Outcome::DeadlineHit) => {
                                let end = End::Failed {
                                    reason: "DeadlineExceeded",
                                    message: "Job was active longer than specified deadline",
                                };
                                self.finish(end, failed, None, Some(&pod_name), &ctx).await;
                                return;
                            }
                            Some(_) => {
                                // Deleted while backing off: a failed pod, replaced below.
                                if self.job().is_none() {
                                    return;
                                }
                                crashes = 0;
                            }
                            // The Job controller counts restarts of its running pods: at
                            // the limit (any restart for backoffLimit 0) it deletes the pod.
                            None if i64::from(crashes) >= backoff_limit.max(1) => {
                                self.restart_in_place(&pod_name, crashes, &containers);
                                let end = End::Failed {
                                    reason: "BackoffLimitExceeded",
                                    message: "Job has reached the specified backoff limit",
                                };
                                self.finish(end, failed, None, Some(&pod_name), &ctx).await;
                                return;
                            }
                            None => {
                                attempt += 1;
                                continue;
                            }
                        }
                    }
                    failed += 1;
                    consecutive += 1;
                    pod = None;
                    if failed > backoff_limit {
                        let end = End::Failed {
                            reason: "BackoffLimitExceeded",
                            message: "Job has reached the specified backoff limit",
                        };
                        // The failed pod that decided it is counted with the final step.
                        self.finish(end, failed - 1, Some(&pod_uid), None, &ctx)
                            .await;
                        return;
                    }
                    self.set_status(|s| {
                        s["failed"] = json!(failed);
                        s["active"] = json!(0);
                    });
                }
            }
            attempt += 1;
            // The Job controller's back-off before the replacement pod: 10 s, 20 s, 40 s, ...
            let pause = self
                .timing
                .backoff(JOB_BACKOFF, JOB_BACKOFF_CAP, consecutive);
            if self.sleep(pause, deadline).await {
                let end = End::Failed {
                    reason: "DeadlineExceeded",
                    message: "Job was active longer than specified deadline",
                };
                self.finish(end, failed, None, None, &ctx).await;
                return;
            }
        }
    }

    /// The kubelet restarts a failed container in its pod (without running the script:
    /// the Job controller deletes the pod as soon as it sees the restart).
    fn restart_in_place(&self, pod: &str, restarts: u32, containers: &[(String, String)]) {
        let restarted = now_rfc3339();
        for (c, _) in containers {
            self.logs.start(&self.ns, pod, c);
        }
        self.set_pod_status(pod, |s| {
            if let Some(cs) = s["containerStatuses"].as_array_mut() {
                for c in cs {
                    if let Some(t) = c["state"].get("terminated").cloned() {
                        c["lastState"] = json!({"terminated": t});
                    }
                    c["restartCount"] = json!(restarts);
                    c["started"] = json!(true);
                    c["state"] = json!({"running": {"startedAt": restarted}});
                }
            }
        });
    }

    /// Sleep `d`, or until the deadline: true when the deadline hit.
    async fn sleep(&self, d: Duration, deadline: Option<Instant>) -> bool {
        let until = Instant::now() + d;
        match deadline {
            Some(dl) if dl <= until => {
                tokio::time::sleep_until(dl).await;
                true
            }
            _ => {
                tokio::time::sleep_until(until).await;
                false
            }
        }
    }

    /// `restartPolicy: OnFailure` after the container's `crashes`-th failure: the kubelet
    /// restarts it at once the first time, later after CrashLoopBackOff (10 s, 20 s, ...
    /// capped at 5 min). Some(outcome) when the wait was cut short.
    async fn crash_loop(
        &self,
        pod: &str,
        pod_uid: &str,
        crashes: u32,
        ctx: &Ctx<'_>,
        deadline: Option<Instant>,
    ) -> Option<Outcome> {
        if crashes < 2 {
            return None;
        }
        let real =
            crate::controllers::real_backoff(KUBELET_BACKOFF, KUBELET_BACKOFF_CAP, crashes - 1);
        let ns = &self.ns;
        self.set_pod_status(pod, |s| {
            if let Some(cs) = s["containerStatuses"].as_array_mut() {
                for c in cs {
                    let n = c["name"].as_str().unwrap_or_default().to_string();
                    if let Some(t) = c["state"].get("terminated").cloned() {
                        c["lastState"] = json!({"terminated": t});
                    }
                    c["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                        "message": format!("back-off {} restarting failed container={n} pod={pod}_{ns}({pod_uid})", go_duration(real))}});
                }
            }
        });
        if let Some(p) = self.pod_obj(pod) {
            for (c, _) in ctx.containers {
                record_repeated(
                    &self.cluster,
                    &p,
                    true,
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {c} in pod {pod}_{ns}({pod_uid})"
                    ),
                    "kubelet",
                );
            }
        }
        self.wait(pod, self.timing.scaled(real), deadline).await
    }

    fn create_pod(&self, job: &Value, template: &Value) -> Option<(String, String)> {
        let name = format!("{}-{}", self.name, self.cluster.rng.suffix(5));
        let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
        meta["name"] = json!(name);
        meta["namespace"] = json!(self.ns);
        meta["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "Job", "name": self.name, "uid": self.uid,
            "controller": true, "blockOwnerDeletion": true}]);
        meta["labels"]["job-name"] = json!(self.name);
        meta["labels"]["batch.kubernetes.io/job-name"] = json!(self.name);
        // Not bound yet: the scheduler sets spec.nodeName.
        let spec = template.get("spec").cloned().unwrap_or(json!({}));
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
        let w = WriteOptions {
            manager: MANAGER.into(),
            ..Default::default()
        };
        match self.cluster.create(&self.pods, &self.ns, pod, &w) {
            Ok(p) => {
                record(
                    &self.cluster,
                    job,
                    false,
                    "SuccessfulCreate",
                    &format!("Created pod: {name}"),
                    "job-controller",
                );
                // The Job may have been deleted meanwhile: its garbage must not outlive it.
                if self.job().is_none() {
                    let _ = self.cluster.delete(
                        &self.pods,
                        &self.ns,
                        &name,
                        Some("Background"),
                        None,
                        false,
                    );
                    return None;
                }
                Some((name, uid_of(&p).to_string()))
            }
            Err(e) => {
                record(
                    &self.cluster,
                    job,
                    true,
                    "FailedCreate",
                    &format!("Error creating: {e}"),
                    "job-controller",
                );
                None
            }
        }
    }

    /// Sleep until `d` passes, the deadline hits, or the pod disappears.
    async fn wait(&self, pod: &str, d: Duration, deadline: Option<Instant>) -> Option<Outcome> {
        let until = Instant::now() + d;
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|dl| now >= dl) {
                return Some(Outcome::DeadlineHit);
            }
            match self.pod_obj(pod) {
                None => return Some(Outcome::Gone),
                // Deleted by someone else: it is going away.
                Some(p) if p.pointer("/metadata/deletionTimestamp").is_some() => {
                    return Some(Outcome::Gone)
                }
                Some(_) => {}
            }
            if now >= until {
                return None;
            }
            let step = (until - now).min(Duration::from_millis(50));
            let step = deadline.map_or(step, |dl| step.min(dl.saturating_duration_since(now)));
            tokio::time::sleep(step).await;
        }
    }

    /// Image pulls that fail `failures` times (None: for good), each ErrImagePull followed
    /// by ImagePullBackOff while the kubelet backs off (10 s, 20 s, ... capped at 5 min).
    /// Some(outcome) when the wait was cut short; None once the image is pulled.
    async fn failing_pulls(
        &self,
        pod: &str,
        failures: Option<u32>,
        containers: &[(String, String)],
        deadline: Option<Instant>,
    ) -> Option<Outcome> {
        let image = containers.first().map(|c| c.1.clone()).unwrap_or_default();
        let mut n = 0u32;
        while failures.is_none_or(|f| n < f) {
            n += 1;
            let pull_msg = match failures {
                None => format!("failed to pull and unpack image \"{image}\": not found (scripted by kube-testserver)"),
                Some(f) => format!("failed to pull and unpack image \"{image}\": failed to copy: httpReadSeeker: failed open: unexpected status code 503 Service Unavailable (scripted by kube-testserver: pull {n} of {} fails)", f + 1),
            };
            self.set_pod_status(pod, |s| {
                s["phase"] = json!("Pending");
                s["hostIP"] = json!("10.0.0.1");
                s["conditions"] = pod_conditions(false);
                s["containerStatuses"] = json!(containers.iter().map(|(n, img)| json!({
                    "name": n, "image": img, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ErrImagePull", "message": pull_msg}}})).collect::<Vec<_>>());
            });
            if let Some(p) = self.pod_obj(pod) {
                let c = &self.cluster;
                record_repeated(
                    c,
                    &p,
                    false,
                    "Pulling",
                    &format!("Pulling image \"{image}\""),
                    "kubelet",
                );
                record_repeated(
                    c,
                    &p,
                    true,
                    "Failed",
                    &format!("Failed to pull image \"{image}\": {pull_msg}"),
                    "kubelet",
                );
                record_repeated(c, &p, true, "Failed", "Error: ErrImagePull", "kubelet");
            }
            // The pod worker syncs again (10 s later), finds the pull backing off.
            if let Some(o) = self
                .wait(pod, self.timing.scaled(KUBELET_BACKOFF), deadline)
                .await
            {
                return Some(o);
            }
            self.set_pod_status(pod, |s| {
                if let Some(cs) = s["containerStatuses"].as_array_mut() {
                    for c in cs {
                        c["state"] = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}});
                    }
                }
            });
            if let Some(p) = self.pod_obj(pod) {
                let c = &self.cluster;
                record_repeated(
                    c,
                    &p,
                    false,
                    "BackOff",
                    &format!("Back-off pulling image \"{image}\""),
                    "kubelet",
                );
                record_repeated(c, &p, true, "Failed", "Error: ImagePullBackOff", "kubelet");
            }
            let pause = self.timing.backoff(KUBELET_BACKOFF, KUBELET_BACKOFF_CAP, n);
            if let Some(o) = self.wait(pod, pause, deadline).await {
                return Some(o);
            }
        }
        None
    }

    /// The kubelet configures each container before it creates it (its `env` and `envFrom`
    /// from ConfigMaps and Secrets): while a reference does not resolve, the container waits
    /// with reason `CreateContainerConfigError` (event `Failed` "Error: ..."), tried again on
    /// each pod sync (10 s apart, scaled). Some(outcome) when the wait was cut short.
    async fn container_config(
        &self,
        pod: &str,
        containers: &[(String, String)],
        deadline: Option<Instant>,
    ) -> Option<Outcome> {
        loop {
            let Some(p) = self.pod_obj(pod) else {
                return Some(Outcome::Gone);
            };
            let problems: Vec<(String, String)> = p
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let name = c["name"].as_str()?.to_string();
                    container_config::config_error(&self.cluster, &self.ns, c).map(|m| (name, m))
                })
                .collect();
            if problems.is_empty() {
                return None;
            }
            self.set_pod_status(pod, |s| {
                s["phase"] = json!("Pending");
                s["hostIP"] = json!("10.0.0.1");
                s["conditions"] = pod_conditions(false);
                s["containerStatuses"] = json!(containers.iter().map(|(n, img)| {
                    let waiting = match problems.iter().find(|(c, _)| c == n) {
                        Some((_, m)) => json!({"reason": "CreateContainerConfigError", "message": m}),
                        None => json!({"reason": "ContainerCreating"}),
                    };
                    json!({"name": n, "image": img, "imageID": "", "ready": false, "started": false,
                        "restartCount": 0, "state": {"waiting": waiting}})
                }).collect::<Vec<_>>());
            });
            if let Some(p) = self.pod_obj(pod) {
                for (_, m) in &problems {
                    record_repeated(
                        &self.cluster,
                        &p,
                        true,
                        "Failed",
                        &format!("Error: {m}"),
                        "kubelet",
                    );
                }
            }
            if let Some(o) = self
                .wait(pod, self.timing.scaled(KUBELET_BACKOFF), deadline)
                .await
            {
                return Some(o);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_attempt(
        &self,
        pod: &str,
        a: &Attempt,
        containers: &[(String, String)],
        attempt: usize,
        restarts: u32,
        fresh: bool,
        deadline: Option<Instant>,
    ) -> Outcome {
        if fresh {
            // Scheduling, then the kubelet's first status: containers being created.
            if let Some(o) = self.wait(pod, self.timing.schedule, deadline).await {
                return o;
            }
            bind_pod(&self.cluster, &self.pods, &self.ns, pod);
            self.set_pod_status(pod, |s| {
                s["phase"] = json!("Pending");
                s["hostIP"] = json!("10.0.0.1");
                s["conditions"] = pod_conditions(false);
                s["containerStatuses"] = json!(containers.iter().map(|(n, img)| json!({
                    "name": n, "image": img, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ContainerCreating"}}})).collect::<Vec<_>>());
            });
        }
        let start = self.timing.pod_start.saturating_sub(if fresh {
            self.timing.schedule
        } else {
            Duration::ZERO
        });
        if let Some(o) = self.wait(pod, start, deadline).await {
            return o;
        }
        // A container restarted in place finds its image on the node.
        let pulls = if !fresh {
            Some(0)
        } else if a.image_pull_error {
            None
        } else {
            Some(a.pull_failures.unwrap_or(0))
        };
        let pulled = pulls != Some(0);
        if pulled {
            if let Some(o) = self.failing_pulls(pod, pulls, containers, deadline).await {
                return o;
            }
        }
        // (A container restarted in place keeps the configuration it was created with.)
        if fresh {
            if let Some(o) = self.container_config(pod, containers, deadline).await {
                return o;
            }
        }
        let pod_obj = self.pod_obj(pod);
        let started = now_rfc3339();
        for (c, _) in containers {
            self.logs.start(&self.ns, pod, c);
        }
        self.set_pod_status(pod, |s| {
            s["phase"] = json!("Running");
            s["startTime"] = s.get("startTime").cloned().unwrap_or(json!(started));
            s["conditions"] = pod_conditions(true);
            s["hostIP"] = json!("10.0.0.1");
            s["podIP"] = json!("10.244.0.10");
            let previous: Vec<Value> = s["containerStatuses"].as_array().cloned().unwrap_or_default();
            s["containerStatuses"] = json!(containers.iter().map(|(n, img)| {
                let mut st = json!({"name": n, "image": img, "imageID": format!("{img}@sha256:0"), "ready": true, "started": true,
                    "restartCount": restarts, "containerID": format!("containerd://{pod}-{n}-{attempt}"),
                    "state": {"running": {"startedAt": started}}});
                // A restarted container's previous run is its lastState.
                let prev = previous.iter().find(|p| p["name"] == *n);
                let last = prev.and_then(|p| p.pointer("/state/terminated")).map(|t| json!({"terminated": t}))
                    .or_else(|| prev.and_then(|p| p.get("lastState")).cloned());
                if let (Some(last), true) = (last, restarts > 0) {
                    st["lastState"] = last;
                }
                st
            }).collect::<Vec<_>>());
        });
        self.set_status(|s| s["ready"] = json!(1));
        if let Some(p) = &pod_obj {
            for (c, img) in containers {
                if pulled {
                    record(
                        &self.cluster,
                        p,
                        false,
                        "Pulled",
                        &format!("Successfully pulled image \"{img}\" in 1.2s (1.2s including waiting). Image size: 1024 bytes."),
                        "kubelet",
                    );
                } else {
                    record(
                        &self.cluster,
                        p,
                        false,
                        "Pulled",
                        &format!("Container image \"{img}\" already present on machine"),
                        "kubelet",
                    );
                }
                record(
                    &self.cluster,
                    p,
                    false,
                    "Created",
                    &format!("Created container {c}"),
                    "kubelet",
                );
                record(
                    &self.cluster,
                    p,
                    false,
                    "Started",
                    &format!("Started container {c}"),
                    "kubelet",
                );
            }
        }
        for line in &a.logs {
            if let Some(o) = self
                .wait(pod, Duration::from_millis(line.after_ms), deadline)
                .await
            {
                return o;
            }
            for (c, _) in containers {
                self.logs.append(&self.ns, pod, c, &line.line);
            }
        }
        if let Some(o) = self
            .wait(pod, Duration::from_millis(a.run_ms), deadline)
            .await
        {
            return o;
        }
        Outcome::Exited {
            code: a.exit_code,
            message: a.message.clone(),
            started,
        }
    }

    /// The end of the Job in the two steps of Kubernetes 1.31+. First the interim
    /// condition (`SuccessCriteriaMet` / `FailureTarget`), with the pod that decided it not
    /// counted yet (`uncountedTerminatedPods`) and the still active pod, if any, deleted
    /// (`terminating`). Then, once its tracking finalizers are removed, the counts; and
    /// only when no pod is left terminating, the final condition (`Complete` / `Failed`).
    async fn finish(
        &self,
        end: End<'_>,
        failed: i64,
        deciding_pod: Option<&str>,
        active_pod: Option<&str>,
        ctx: &Ctx<'_>,
    ) {
        let (interim, last, reason, message) = match &end {
            End::Succeeded => (
                "SuccessCriteriaMet",
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ),
            End::Failed { reason, message } => ("FailureTarget", "Failed", *reason, *message),
        };
        let success = matches!(end, End::Succeeded);
        // An active pod of a finished Job is deleted, and counted failed.
        let active_uid = active_pod.and_then(|p| {
            let marked = self
                .cluster
                .mark_terminating(&self.pods, &self.ns, p, ctx.grace_seconds)
                .ok()?;
            Some(uid_of(&marked).to_string())
        });
        let mut uncounted_failed: Vec<String> = Vec::new();
        let mut uncounted_succeeded: Vec<String> = Vec::new();
        match (success, deciding_pod) {
            (true, Some(uid)) => uncounted_succeeded.push(uid.to_string()),
            (false, Some(uid)) => uncounted_failed.push(uid.to_string()),
            _ => {}
        }
        uncounted_failed.extend(active_uid.iter().cloned());
        let terminating = i64::from(active_uid.is_some());
        let now = now_rfc3339();
        let condition = |kind: &str, now: &str| {
            json!({"type": kind, "status": "True", "reason": reason, "message": message,
                "lastProbeTime": now, "lastTransitionTime": now})
        };
        let interim_cond = condition(interim, &now);
        self.set_status(|s| {
            s["active"] = json!(0);
            s["ready"] = json!(0);
            s["terminating"] = json!(terminating);
            if failed > 0 {
                s["failed"] = json!(failed);
            }
            s["uncountedTerminatedPods"] = json!({});
            if !uncounted_failed.is_empty() {
                s["uncountedTerminatedPods"]["failed"] = json!(uncounted_failed);
            }
            if !uncounted_succeeded.is_empty() {
                s["uncountedTerminatedPods"]["succeeded"] = json!(uncounted_succeeded);
            }
            push_condition(s, interim_cond.clone());
        });
        // The tracking finalizers come off; the pods are counted.
        tokio::time::sleep(self.timing.finalizer_removal).await;
        let failed = failed + uncounted_failed.len() as i64;
        let succeeded = uncounted_succeeded.len() as i64;
        let final_now = now_rfc3339();
        let final_cond = condition(last, &final_now);
        self.set_status(|s| {
            s["uncountedTerminatedPods"] = json!({});
            if failed > 0 {
                s["failed"] = json!(failed);
            }
            if succeeded > 0 {
                s["succeeded"] = json!(succeeded);
            }
            if terminating == 0 {
                push_condition(s, final_cond.clone());
                if success {
                    s["completionTime"] = json!(final_now);
                }
            }
        });
        if let Some(pod) = active_pod.filter(|_| terminating > 0) {
            // The kubelet stops the containers (SIGTERM) within the grace period; its last
            // status write removes the pod.
            tokio::time::sleep(self.timing.termination_grace).await;
            let stopped = now_rfc3339();
            self.set_pod_status(pod, |s| {
                s["phase"] = json!("Failed");
                s["conditions"] = pod_conditions(false);
                if let Some(cs) = s["containerStatuses"].as_array_mut() {
                    for c in cs {
                        c["ready"] = json!(false);
                        c["started"] = json!(false);
                        if let Some(started) = c.pointer("/state/running/startedAt").cloned() {
                            let n = c["name"].as_str().unwrap_or_default().to_string();
                            c["state"] = json!({"terminated": {"exitCode": SIGTERM_EXIT, "reason": "Error",
                                "startedAt": started, "finishedAt": stopped,
                                "containerID": format!("containerd://{pod}-{n}")}});
                        }
                    }
                }
            });
            for (c, _) in ctx.containers {
                self.logs.finish(&self.ns, pod, c);
            }
            self.logs.forget_pod(&self.ns, pod);
            let last_now = now_rfc3339();
            let final_cond = condition(last, &last_now);
            self.set_status(|s| {
                s["terminating"] = json!(0);
                push_condition(s, final_cond.clone());
            });
        }
        if let Some(job) = self.job() {
            if success {
                record(
                    &self.cluster,
                    &job,
                    false,
                    "Completed",
                    "Job completed",
                    "job-controller",
                );
            } else {
                record(&self.cluster, &job, true, reason, message, "job-controller");
            }
        }
        self.expire_after_ttl();
    }

    /// `ttlSecondsAfterFinished`: delete the finished Job (and its pods) after the TTL.
    fn expire_after_ttl(&self) {
        let Some(ttl) = self.job().and_then(|j| {
            j.pointer("/spec/ttlSecondsAfterFinished")
                .and_then(Value::as_u64)
        }) else {
            return;
        };
        let (cluster, jobs, ns, name, uid) = (
            self.cluster.clone(),
            self.jobs.clone(),
            self.ns.clone(),
            self.name.clone(),
            self.uid.clone(),
        );
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(ttl)).await;
            if cluster
                .get(&jobs, &ns, &name)
                .is_ok_and(|j| uid_of(&j) == uid)
            {
                let _ = cluster.delete(&jobs, &ns, &name, Some("Background"), Some(&uid), false);
            }
        });
    }
}

/// What the end of a Job needs to know about its pods.
struct Ctx<'a> {
    containers: &'a [(String, String)],
    grace_seconds: i64,
}

/// Append a condition (Job conditions accumulate: the interim one stays beside the final).
fn push_condition(status: &mut Value, cond: Value) {
    if !status["conditions"].is_array() {
        status["conditions"] = json!([]);
    }
    let list = status["conditions"]
        .as_array_mut()
        .expect("just made an array");
    list.retain(|c| c["type"] != cond["type"]);
    list.push(cond);
}

pub(super) fn pod_conditions(ready: bool) -> Value {
    let now = now_rfc3339();
    let r = if ready { "True" } else { "False" };
    json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now, "lastProbeTime": null},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now, "lastProbeTime": null},
        {"type": "ContainersReady", "status": r, "lastTransitionTime": now, "lastProbeTime": null},
        {"type": "Ready", "status": r, "lastTransitionTime": now, "lastProbeTime": null}
    ])
}
