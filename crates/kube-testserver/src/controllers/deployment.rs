//! Deployment controller: one ReplicaSet per pod template (old ones scaled to zero), pods
//! that become ready after a scripted delay, and apps/v1 Deployment status and conditions
//! (Available, Progressing, ProgressDeadlineExceeded).

use super::events::record;
use super::job::{bind_pod, pod_conditions};
use super::Timing;
use crate::cluster::{Cluster, ListOptions, WriteOptions};
use crate::logs::LogStore;
use crate::meta::{name_of, namespace_of, now_rfc3339, uid_of};
use crate::registry::ResourceType;
use crate::script;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

const MANAGER: &str = "kube-controller-manager";

/// Rollouts started, and one lock per Deployment so two rollouts never count and create
/// pods at the same time.
#[derive(Default)]
pub struct Tracker {
    seen: HashSet<(String, i64)>,
    locks: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

pub fn on_event(
    cluster: &Arc<Cluster>,
    logs: &Arc<LogStore>,
    timing: &Timing,
    tracker: &mut Tracker,
    dep: &Value,
) {
    if dep.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let generation = dep
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let key = (uid_of(dep).to_string(), generation);
    if !tracker.seen.insert(key) {
        return;
    }
    let lock = tracker
        .locks
        .entry(uid_of(dep).to_string())
        .or_default()
        .clone();
    let r = Rollout {
        lock,
        cluster: cluster.clone(),
        logs: logs.clone(),
        timing: timing.clone(),
        deps: cluster
            .registry
            .find("apps", "v1", "deployments")
            .expect("built in"),
        rss: cluster
            .registry
            .find("apps", "v1", "replicasets")
            .expect("built in"),
        pods: cluster.registry.find("", "v1", "pods").expect("built in"),
        ns: namespace_of(dep).to_string(),
        name: name_of(dep).to_string(),
        uid: uid_of(dep).to_string(),
        generation,
    };
    tokio::spawn(async move { r.run().await });
}

/// A pod of a Deployment's ReplicaSet went away while the ReplicaSet still wants it:
/// roll the Deployment's current generation again, which recreates the missing pods.
pub fn on_pod_deleted(
    cluster: &Arc<Cluster>,
    logs: &Arc<LogStore>,
    timing: &Timing,
    tracker: &mut Tracker,
    pod: &Value,
) {
    let owner = |obj: &Value, kind: &str| -> Option<(String, String)> {
        obj.pointer("/metadata/ownerReferences")?
            .as_array()?
            .iter()
            .find(|r| r["kind"] == kind)
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    r["uid"].as_str().unwrap_or_default().to_string(),
                )
            })
    };
    let ns = namespace_of(pod);
    let (Some(rss), Some(deps), Some(pods)) = (
        cluster.registry.find("apps", "v1", "replicasets"),
        cluster.registry.find("apps", "v1", "deployments"),
        cluster.registry.find("", "v1", "pods"),
    ) else {
        return;
    };
    let Some((rs_name, rs_uid)) = owner(pod, "ReplicaSet") else {
        return;
    };
    let Some(rs) = cluster
        .get(&rss, ns, &rs_name)
        .ok()
        .filter(|r| uid_of(r) == rs_uid)
    else {
        return;
    };
    let want = rs
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let all = cluster
        .list(&pods, Some(ns), &ListOptions::default())
        .map(|r| r.items)
        .unwrap_or_default();
    if owned_by(&all, &rs_uid).count() as i64 >= want {
        return;
    }
    let Some((dep_name, dep_uid)) = owner(&rs, "Deployment") else {
        return;
    };
    let Some(dep) = cluster
        .get(&deps, ns, &dep_name)
        .ok()
        .filter(|d| uid_of(d) == dep_uid)
    else {
        return;
    };
    let generation = dep
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    tracker.seen.remove(&(dep_uid, generation));
    on_event(cluster, logs, timing, tracker, &dep);
}

struct Rollout {
    lock: Arc<tokio::sync::Mutex<()>>,
    cluster: Arc<Cluster>,
    logs: Arc<LogStore>,
    timing: Timing,
    deps: ResourceType,
    rss: ResourceType,
    pods: ResourceType,
    ns: String,
    name: String,
    uid: String,
    generation: i64,
}

/// A short stable hash of the pod template (the `pod-template-hash` label).
fn template_hash(template: &Value) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in template.to_string().bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|i| ALPHABET[((h >> (i * 6)) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn owned_by<'a>(
    items: &'a [Arc<Value>],
    uid: &'a str,
) -> impl Iterator<Item = &'a Arc<Value>> + 'a {
    items.iter().filter(move |o| {
        o.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
    })
}

impl Rollout {
    /// The Deployment, while this rollout is still the current one.
    fn current(&self) -> Option<Arc<Value>> {
        self.cluster
            .get(&self.deps, &self.ns, &self.name)
            .ok()
            .filter(|d| {
                uid_of(d) == self.uid
                    && d.pointer("/metadata/generation").and_then(Value::as_i64)
                        == Some(self.generation)
            })
    }

    fn list(&self, rt: &ResourceType) -> Vec<Arc<Value>> {
        self.cluster
            .list(rt, Some(&self.ns), &ListOptions::default())
            .map(|r| r.items)
            .unwrap_or_default()
    }

    fn set_status(&self, rt: &ResourceType, name: &str, mut f: impl FnMut(&mut Value)) {
        let _ = self
            .cluster
            .modify(rt, &self.ns, name, MANAGER, "status", |o| {
                if !o.get("status").is_some_and(Value::is_object) {
                    o["status"] = json!({});
                }
                f(&mut o["status"])
            });
    }

    async fn run(self) {
        let Some(mut dep) = self.current() else {
            return;
        };
        // The controller notices a new generation a moment later: until then the status
        // (conditions included) is the previous generation's.
        if dep
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            != Some(self.generation)
        {
            tokio::time::sleep(self.timing.observed_generation_lag).await;
            match self.current() {
                Some(d) => dep = d,
                None => return,
            }
        }
        let readiness = match script::readiness(
            &dep,
            self.timing.ready_after,
            self.timing.never_ready_deadline,
        ) {
            Ok(r) => r,
            Err(problem) => {
                record(
                    &self.cluster,
                    &dep,
                    true,
                    "InvalidAnnotation",
                    &problem,
                    "kube-testserver",
                );
                script::Readiness {
                    ready_after: self.timing.ready_after,
                    never_ready: false,
                    progress_deadline: std::time::Duration::from_secs(600),
                }
            }
        };
        let replicas = dep
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize;
        let mut template = dep.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let rs_name = format!("{}-{hash}", self.name);
        template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        let mut selector = dep.pointer("/spec/selector").cloned().unwrap_or(json!({}));
        selector["matchLabels"]["pod-template-hash"] = json!(hash);

        // One rollout at a time counts and creates this Deployment's objects.
        let guard = self.lock.clone().lock_owned().await;
        if self.current().is_none() {
            return;
        }

        // Scale down and clean up ReplicaSets of older templates.
        let all_rs = self.list(&self.rss);
        let all_pods = self.list(&self.pods);
        let mut revision = 0i64;
        for rs in owned_by(&all_rs, &self.uid) {
            let rev = rs
                .pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                .and_then(Value::as_str)
                .and_then(|r| r.parse().ok())
                .unwrap_or(0);
            revision = revision.max(rev);
            if name_of(rs) == rs_name {
                continue;
            }
            // Scale to zero before deleting pods, so the deletions do not look like pods
            // to replace.
            let _ = self
                .cluster
                .modify(&self.rss, &self.ns, name_of(rs), MANAGER, "", |o| {
                    o["spec"]["replicas"] = json!(0)
                });
            for pod in owned_by(&all_pods, uid_of(rs)) {
                let _ = self.cluster.delete(
                    &self.pods,
                    &self.ns,
                    name_of(pod),
                    Some("Background"),
                    None,
                    false,
                );
                self.logs.forget_pod(&self.ns, name_of(pod));
            }
            self.set_status(&self.rss, name_of(rs), |s| {
                *s = json!({"replicas": 0, "observedGeneration": rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1))})
            });
        }

        let rs = match self.cluster.get(&self.rss, &self.ns, &rs_name) {
            Ok(rs) => {
                let _ = self
                    .cluster
                    .modify(&self.rss, &self.ns, &rs_name, MANAGER, "", |o| {
                        o["spec"]["replicas"] = json!(replicas)
                    });
                rs
            }
            Err(_) => {
                let mut labels = template["metadata"]["labels"].clone();
                labels["pod-template-hash"] = json!(hash);
                let rs = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": rs_name, "namespace": self.ns, "labels": labels,
                        "annotations": {"deployment.kubernetes.io/revision": (revision + 1).to_string(),
                            "deployment.kubernetes.io/desired-replicas": replicas.to_string()},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": self.name, "uid": self.uid,
                            "controller": true, "blockOwnerDeletion": true}]},
                    "spec": {"replicas": replicas, "selector": selector, "template": template},
                });
                match self.cluster.create(
                    &self.rss,
                    &self.ns,
                    rs,
                    &WriteOptions {
                        manager: MANAGER.into(),
                        ..Default::default()
                    },
                ) {
                    Ok(rs) => {
                        record(
                            &self.cluster,
                            &dep,
                            false,
                            "ScalingReplicaSet",
                            &format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
                            "deployment-controller",
                        );
                        rs
                    }
                    Err(e) => {
                        record(
                            &self.cluster,
                            &dep,
                            true,
                            "FailedCreate",
                            &e.message,
                            "deployment-controller",
                        );
                        return;
                    }
                }
            }
        };
        let rs_uid = uid_of(&rs).to_string();

        // Bring the pod count to the desired replicas.
        let mut pods: Vec<String> = owned_by(&self.list(&self.pods), &rs_uid)
            .map(|p| name_of(p).to_string())
            .collect();
        while pods.len() > replicas {
            let p = pods.pop().expect("non-empty");
            let _ = self
                .cluster
                .delete(&self.pods, &self.ns, &p, Some("Background"), None, false);
            self.logs.forget_pod(&self.ns, &p);
        }
        while pods.len() < replicas {
            let name = format!("{rs_name}-{}", self.cluster.rng.suffix(5));
            let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
            meta["name"] = json!(name);
            meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "uid": rs_uid,
                "controller": true, "blockOwnerDeletion": true}]);
            // Not bound yet: the scheduler sets spec.nodeName.
            let spec = template.get("spec").cloned().unwrap_or(json!({}));
            let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
            if self
                .cluster
                .create(
                    &self.pods,
                    &self.ns,
                    pod,
                    &WriteOptions {
                        manager: MANAGER.into(),
                        ..Default::default()
                    },
                )
                .is_err()
            {
                return;
            }
            pods.push(name);
        }

        drop(guard);

        let now = now_rfc3339();
        let progressing = json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
            "message": format!("ReplicaSet \"{rs_name}\" is progressing."), "lastUpdateTime": now, "lastTransitionTime": now});
        let unavailable = json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
            "message": "Deployment does not have minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now});
        let generation = self.generation;
        self.set_status(&self.deps, &self.name, |s| {
            s["observedGeneration"] = json!(generation);
            s["replicas"] = json!(replicas);
            s["updatedReplicas"] = json!(replicas);
            s["readyReplicas"] = json!(0);
            s["availableReplicas"] = json!(0);
            s["unavailableReplicas"] = json!(replicas);
            s["conditions"] = json!([unavailable, progressing]);
        });
        self.set_status(&self.rss, &rs_name, |s| *s = json!({"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": 0, "availableReplicas": 0, "observedGeneration": 1}));

        tokio::time::sleep(self.timing.schedule).await;
        if self.current().is_none() {
            return;
        }
        for pod in &pods {
            bind_pod(&self.cluster, &self.pods, &self.ns, pod);
        }
        tokio::time::sleep(self.timing.pod_start.saturating_sub(self.timing.schedule)).await;
        if self.current().is_none() {
            return;
        }
        self.mark_pods(&pods, &template, false);

        let ready_in_time =
            !readiness.never_ready && readiness.ready_after <= readiness.progress_deadline;
        let wait = if ready_in_time {
            readiness.ready_after
        } else {
            readiness.progress_deadline
        };
        tokio::time::sleep(wait).await;
        let Some(dep) = self.current() else { return };
        let now = now_rfc3339();
        if !ready_in_time {
            let msg = format!("ReplicaSet \"{rs_name}\" has timed out progressing.");
            self.set_status(&self.deps, &self.name, |s| {
                s["conditions"] = json!([unavailable,
                    {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": msg,
                     "lastUpdateTime": now, "lastTransitionTime": now}]);
            });
            record(
                &self.cluster,
                &dep,
                true,
                "ProgressDeadlineExceeded",
                &msg,
                "deployment-controller",
            );
            return;
        }
        self.mark_pods(&pods, &template, true);
        self.set_status(&self.rss, &rs_name, |s| {
            s["readyReplicas"] = json!(replicas);
            s["availableReplicas"] = json!(replicas);
        });
        self.set_status(&self.deps, &self.name, |s| {
            s["readyReplicas"] = json!(replicas);
            s["availableReplicas"] = json!(replicas);
            s["unavailableReplicas"] = json!(0);
            s["conditions"] = json!([
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability.", "lastUpdateTime": now, "lastTransitionTime": now},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed."), "lastUpdateTime": now, "lastTransitionTime": now}
            ]);
        });
    }

    fn mark_pods(&self, pods: &[String], template: &Value, ready: bool) {
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
        let now = now_rfc3339();
        for pod in pods {
            if !ready {
                for (c, img) in &containers {
                    self.logs.start(&self.ns, pod, c);
                    self.logs
                        .append(&self.ns, pod, c, &format!("{c} ({img}) started"));
                }
            }
            let _ = self.cluster.modify(&self.pods, &self.ns, pod, "kubelet", "status", |p| {
                p["status"] = json!({
                    "phase": "Running", "startTime": now, "hostIP": "10.0.0.1", "podIP": "10.244.0.20",
                    "conditions": pod_conditions(ready),
                    "containerStatuses": containers.iter().map(|(n, img)| json!({"name": n, "image": img, "imageID": format!("{img}@sha256:0"),
                        "ready": ready, "started": true, "restartCount": 0, "containerID": format!("containerd://{pod}-{n}"),
                        "state": {"running": {"startedAt": now}}})).collect::<Vec<_>>(),
                });
            });
        }
    }
}
