//! StatefulSet and DaemonSet status: no pods are simulated for them, but their status
//! reports the desired replicas ready after the scripted delay (same annotations as
//! Deployments), so clients waiting on rollouts finish.

use super::events::record;
use super::Timing;
use crate::cluster::Cluster;
use crate::meta::{name_of, namespace_of, uid_of};
use crate::script;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

const MANAGER: &str = "kube-controller-manager";

pub fn on_event(
    cluster: &Arc<Cluster>,
    timing: &Timing,
    seen: &mut HashSet<(String, i64)>,
    key: &str,
    obj: &Value,
) {
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let generation = obj
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if !seen.insert((uid_of(obj).to_string(), generation)) {
        return;
    }
    let plural = if key == "apps/statefulsets" {
        "statefulsets"
    } else {
        "daemonsets"
    };
    let Some(rt) = cluster.registry.find("apps", "v1", plural) else {
        return;
    };
    let (cluster, timing, obj) = (cluster.clone(), timing.clone(), obj.clone());
    tokio::spawn(async move {
        let readiness =
            match script::readiness(&obj, timing.ready_after, timing.never_ready_deadline) {
                Ok(r) => r,
                Err(problem) => {
                    record(
                        &cluster,
                        &obj,
                        true,
                        "InvalidAnnotation",
                        &problem,
                        "kube-testserver",
                    );
                    return;
                }
            };
        let (ns, name, uid) = (
            namespace_of(&obj).to_string(),
            name_of(&obj).to_string(),
            uid_of(&obj).to_string(),
        );
        let replicas = if plural == "daemonsets" {
            1
        } else {
            obj.pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1)
        };
        let ready = if readiness.never_ready { 0 } else { replicas };
        tokio::time::sleep(readiness.ready_after).await;
        let current = cluster.get(&rt, &ns, &name).ok().filter(|o| {
            uid_of(o) == uid
                && o.pointer("/metadata/generation").and_then(Value::as_i64) == Some(generation)
        });
        if current.is_none() {
            return;
        }
        let revision = format!("{name}-{generation}");
        let _ = cluster.modify(&rt, &ns, &name, MANAGER, "status", |o| {
            o["status"] = if plural == "statefulsets" {
                json!({"observedGeneration": generation, "replicas": replicas, "readyReplicas": ready, "currentReplicas": replicas,
                    "updatedReplicas": replicas, "availableReplicas": ready, "currentRevision": revision, "updateRevision": revision,
                    "collisionCount": 0})
            } else {
                json!({"observedGeneration": generation, "desiredNumberScheduled": 1, "currentNumberScheduled": 1,
                    "updatedNumberScheduled": 1, "numberReady": ready, "numberAvailable": ready,
                    "numberUnavailable": 1 - ready, "numberMisscheduled": 0})
            };
        });
    });
}
