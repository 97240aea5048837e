//! Job controller: runs scripted pods, retries up to `backoffLimit`, honours
//! `activeDeadlineSeconds`, and writes Job status and conditions like batch/v1.

use super::events::record;
use super::Timing;
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

pub fn on_event(cluster: &Arc<Cluster>, logs: &Arc<LogStore>, timing: &Timing, seen: &mut HashSet<String>, job: &Value) {
    let uid = uid_of(job).to_string();
    if seen.contains(&uid) || job.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let finished = job
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"));
    if finished || job.pointer("/spec/suspend") == Some(&json!(true)) {
        return;
    }
    seen.insert(uid.clone());
    let run = JobRun {
        cluster: cluster.clone(),
        logs: logs.clone(),
        timing: timing.clone(),
        jobs: cluster.registry.find("batch", "v1", "jobs").expect("built in"),
        pods: cluster.registry.find("", "v1", "pods").expect("built in"),
        ns: namespace_of(job).to_string(),
        name: name_of(job).to_string(),
        uid,
    };
    tokio::spawn(async move { run.run().await });
}

/// How one container attempt ended.
enum Outcome {
    Exited { code: i32, message: Option<String>, started: String },
    DeadlineHit,
    Gone,
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
        self.cluster.get(&self.jobs, &self.ns, &self.name).ok().filter(|j| uid_of(j) == self.uid)
    }

    fn set_status(&self, f: impl FnOnce(&mut Value)) {
        let _ = self.cluster.modify(&self.jobs, &self.ns, &self.name, MANAGER, "status", |j| {
            if !j.get("status").is_some_and(Value::is_object) {
                j["status"] = json!({});
            }
            f(&mut j["status"])
        });
    }

    fn set_pod_status(&self, pod: &str, f: impl FnOnce(&mut Value)) -> bool {
        self.cluster
            .modify(&self.pods, &self.ns, pod, "kubelet", "status", |p| {
                if !p.get("status").is_some_and(Value::is_object) {
                    p["status"] = json!({});
                }
                f(&mut p["status"])
            })
            .is_ok()
    }

    async fn run(self) {
        let Some(job) = self.job() else { return };
        let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let script = match script::from_template(&template) {
            Ok(Some(s)) => s,
            Ok(None) => Script {
                attempts: vec![Attempt {
                    logs: vec![LogLine { line: format!("job {} ran", self.name), after_ms: 0 }],
                    run_ms: self.timing.default_run.as_millis() as u64,
                    ..Default::default()
                }],
                image_pull_error: false,
            },
            Err(problem) => {
                // A broken script fails the pods visibly: in their logs, status and an event.
                record(&self.cluster, &job, true, "InvalidScript", &problem, "kube-testserver");
                Script {
                    attempts: vec![Attempt {
                        logs: vec![LogLine { line: format!("kube-testserver: {problem}"), after_ms: 0 }],
                        exit_code: 2,
                        message: Some(problem),
                        ..Default::default()
                    }],
                    image_pull_error: false,
                }
            }
        };
        let backoff_limit = job.pointer("/spec/backoffLimit").and_then(Value::as_i64).unwrap_or(6);
        let deadline = job
            .pointer("/spec/activeDeadlineSeconds")
            .and_then(Value::as_u64)
            .map(|s| Instant::now() + Duration::from_secs(s));
        let on_failure = template.pointer("/spec/restartPolicy") == Some(&json!("OnFailure"));
        let containers: Vec<(String, String)> = template
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map(|cs| {
                cs.iter()
                    .map(|c| (c["name"].as_str().unwrap_or("main").to_string(), c["image"].as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let start = now_rfc3339();
        self.set_status(|s| {
            s["startTime"] = json!(start);
            s["active"] = json!(0);
            s["ready"] = json!(0);
            s["terminating"] = json!(0);
            s["uncountedTerminatedPods"] = json!({});
        });
        let mut failed = 0i64;
        let mut attempt = 0usize;
        let mut pod: Option<String> = None;
        loop {
            if self.job().is_none() {
                return;
            }
            let pod_name = match (&pod, on_failure) {
                (Some(p), true) => p.clone(),
                _ => match self.create_pod(&job, &template) {
                    Some(p) => p,
                    None => return,
                },
            };
            pod = Some(pod_name.clone());
            self.set_status(|s| s["active"] = json!(1));
            let a = script.attempt(attempt);
            let outcome = self.run_attempt(&pod_name, &a, &containers, attempt, on_failure, deadline).await;
            match outcome {
                Outcome::Gone => {
                    if self.job().is_none() {
                        return;
                    }
                    // The pod was deleted from under the Job: count it failed and retry.
                    failed += 1;
                    pod = None;
                }
                Outcome::DeadlineHit => {
                    let _ = self.cluster.delete(&self.pods, &self.ns, &pod_name, Some("Background"), None, false);
                    self.logs.forget_pod(&self.ns, &pod_name);
                    let msg = "Job was active longer than specified deadline";
                    self.finish_failed(failed + 1, "DeadlineExceeded", msg);
                    return;
                }
                Outcome::Exited { code, message, started } => {
                    let reason = if code == 0 { "Completed" } else { "Error" };
                    let finished = now_rfc3339();
                    let will_restart = code != 0 && on_failure && failed < backoff_limit;
                    let term = |c: &str| {
                        let mut t = json!({"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished,
                            "containerID": format!("containerd://{}-{c}", pod_name)});
                        if let Some(m) = &message {
                            t["message"] = json!(m);
                        }
                        t
                    };
                    self.set_pod_status(&pod_name, |s| {
                        if let Some(cs) = s["containerStatuses"].as_array_mut() {
                            for c in cs {
                                let n = c["name"].as_str().unwrap_or_default().to_string();
                                c["ready"] = json!(false);
                                c["started"] = json!(false);
                                if will_restart {
                                    c["lastState"] = json!({"terminated": term(&n)});
                                    c["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                                        "message": format!("back-off restarting failed container {n} in pod {pod_name}")}});
                                } else {
                                    c["state"] = json!({"terminated": term(&n)});
                                }
                            }
                        }
                        if !will_restart {
                            s["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
                        }
                        s["conditions"] = pod_conditions(false);
                    });
                    for (c, _) in &containers {
                        self.logs.finish(&self.ns, &pod_name, c);
                    }
                    if code == 0 {
                        self.finish_succeeded(failed);
                        return;
                    }
                    failed += 1;
                    let pod_obj = self.cluster.get(&self.pods, &self.ns, &pod_name).ok();
                    if let Some(p) = &pod_obj {
                        record(&self.cluster, p, true, "BackOff", &format!("Back-off restarting failed container in pod {pod_name}"), "kubelet");
                    }
                    if !on_failure {
                        pod = None;
                    }
                    self.set_status(|s| {
                        s["failed"] = json!(failed);
                        s["active"] = json!(if will_restart { 1 } else { 0 });
                    });
                    if failed > backoff_limit {
                        self.finish_failed(failed, "BackoffLimitExceeded", "Job has reached the specified backoff limit");
                        return;
                    }
                }
            }
            attempt += 1;
            tokio::time::sleep(self.timing.retry_backoff).await;
        }
    }

    fn create_pod(&self, job: &Value, template: &Value) -> Option<String> {
        let name = format!("{}-{}", self.name, self.cluster.rng.suffix(5));
        let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
        meta["name"] = json!(name);
        meta["namespace"] = json!(self.ns);
        meta["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "Job", "name": self.name, "uid": self.uid,
            "controller": true, "blockOwnerDeletion": true}]);
        meta["labels"]["job-name"] = json!(self.name);
        meta["labels"]["batch.kubernetes.io/job-name"] = json!(self.name);
        let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
        spec["nodeName"] = json!("kube-testserver-node");
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
        let w = WriteOptions { manager: MANAGER.into(), ..Default::default() };
        match self.cluster.create(&self.pods, &self.ns, pod, &w) {
            Ok(p) => {
                record(&self.cluster, job, false, "SuccessfulCreate", &format!("Created pod: {name}"), "job-controller");
                record(&self.cluster, &p, false, "Scheduled", &format!("Successfully assigned {}/{name} to kube-testserver-node", self.ns), "default-scheduler");
                // The Job may have been deleted meanwhile: its garbage must not outlive it.
                if self.job().is_none() {
                    let _ = self.cluster.delete(&self.pods, &self.ns, &name, Some("Background"), None, false);
                    return None;
                }
                Some(name)
            }
            Err(e) => {
                record(&self.cluster, job, true, "FailedCreate", &format!("Error creating: {e}"), "job-controller");
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
            if self.cluster.get(&self.pods, &self.ns, pod).is_err() {
                return Some(Outcome::Gone);
            }
            if now >= until {
                return None;
            }
            let step = (until - now).min(Duration::from_millis(50));
            let step = deadline.map_or(step, |dl| step.min(dl.saturating_duration_since(now)));
            tokio::time::sleep(step).await;
        }
    }

    async fn run_attempt(
        &self,
        pod: &str,
        a: &Attempt,
        containers: &[(String, String)],
        attempt: usize,
        restarted_in_place: bool,
        deadline: Option<Instant>,
    ) -> Outcome {
        if let Some(o) = self.wait(pod, self.timing.pod_start, deadline).await {
            return o;
        }
        let pod_obj = self.cluster.get(&self.pods, &self.ns, pod).ok();
        let restarts = if restarted_in_place { attempt as i64 } else { 0 };
        if a.image_pull_error {
            let image = containers.first().map(|c| c.1.clone()).unwrap_or_default();
            let pull_msg = format!("failed to pull and unpack image \"{image}\": not found (scripted by kube-testserver)");
            self.set_pod_status(pod, |s| {
                s["phase"] = json!("Pending");
                s["conditions"] = pod_conditions(false);
                s["containerStatuses"] = json!(containers.iter().map(|(n, img)| json!({
                    "name": n, "image": img, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ErrImagePull", "message": pull_msg}}})).collect::<Vec<_>>());
            });
            if let Some(p) = &pod_obj {
                record(&self.cluster, p, true, "Failed", &format!("Failed to pull image \"{image}\": {pull_msg}"), "kubelet");
                record(&self.cluster, p, true, "Failed", "Error: ErrImagePull", "kubelet");
            }
            if let Some(o) = self.wait(pod, Duration::from_millis(50), deadline).await {
                return o;
            }
            self.set_pod_status(pod, |s| {
                if let Some(cs) = s["containerStatuses"].as_array_mut() {
                    for c in cs {
                        c["state"] = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\"")}});
                    }
                }
            });
            if let Some(p) = &pod_obj {
                record(&self.cluster, p, false, "BackOff", &format!("Back-off pulling image \"{image}\""), "kubelet");
            }
            // Stays stuck, as a real pod would, until the deadline or deletion.
            loop {
                if let Some(o) = self.wait(pod, Duration::from_secs(3600), deadline).await {
                    return o;
                }
            }
        }
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
                if let Some(last) = previous.iter().find(|p| p["name"] == *n).and_then(|p| p.get("lastState")) {
                    st["lastState"] = last.clone();
                }
                st
            }).collect::<Vec<_>>());
        });
        if let Some(p) = &pod_obj {
            for (c, img) in containers {
                record(&self.cluster, p, false, "Pulled", &format!("Container image \"{img}\" already present on machine"), "kubelet");
                record(&self.cluster, p, false, "Created", &format!("Created container {c}"), "kubelet");
                record(&self.cluster, p, false, "Started", &format!("Started container {c}"), "kubelet");
            }
        }
        for line in &a.logs {
            if let Some(o) = self.wait(pod, Duration::from_millis(line.after_ms), deadline).await {
                return o;
            }
            for (c, _) in containers {
                self.logs.append(&self.ns, pod, c, &line.line);
            }
        }
        if let Some(o) = self.wait(pod, Duration::from_millis(a.run_ms), deadline).await {
            return o;
        }
        Outcome::Exited { code: a.exit_code, message: a.message.clone(), started }
    }

    fn finish_succeeded(&self, failed: i64) {
        let now = now_rfc3339();
        self.set_status(|s| {
            s["active"] = json!(0);
            s["ready"] = json!(0);
            s["succeeded"] = json!(1);
            if failed > 0 {
                s["failed"] = json!(failed);
            }
            s["completionTime"] = json!(now);
            s["conditions"] = json!([
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                 "message": "Reached expected number of succeeded pods", "lastProbeTime": now, "lastTransitionTime": now}
            ]);
        });
        if let Some(job) = self.job() {
            record(&self.cluster, &job, false, "Completed", "Job completed", "job-controller");
        }
    }

    fn finish_failed(&self, failed: i64, reason: &str, message: &str) {
        let now = now_rfc3339();
        self.set_status(|s| {
            s["active"] = json!(0);
            s["ready"] = json!(0);
            s["failed"] = json!(failed);
            s["conditions"] = json!([
                {"type": "FailureTarget", "status": "True", "reason": reason, "message": message,
                 "lastProbeTime": now, "lastTransitionTime": now},
                {"type": "Failed", "status": "True", "reason": reason, "message": message,
                 "lastProbeTime": now, "lastTransitionTime": now}
            ]);
        });
        if let Some(job) = self.job() {
            record(&self.cluster, &job, true, reason, message, "job-controller");
        }
    }
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
