//! core/v1 Events for object transitions, as the controllers and kubelet would record.

use crate::cluster::{Cluster, WriteOptions};
use crate::meta::{name_of, namespace_of, now_rfc3339, uid_of};
use serde_json::{json, Value};

pub fn record(
    cluster: &Cluster,
    involved: &Value,
    warning: bool,
    reason: &str,
    message: &str,
    component: &str,
) {
    let Some(rt) = cluster.registry.find("", "v1", "events") else {
        return;
    };
    let ns = namespace_of(involved);
    let now = now_rfc3339();
    let ev = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{}.{:016x}", name_of(involved), cluster.rng.next_u64()), "namespace": ns},
        "involvedObject": {
            "apiVersion": involved["apiVersion"], "kind": involved["kind"], "name": name_of(involved),
            "namespace": ns, "uid": uid_of(involved),
            "resourceVersion": involved.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")),
        },
        "reason": reason,
        "message": message,
        "type": if warning { "Warning" } else { "Normal" },
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    });
    // The namespace may be going away with its objects; an event that cannot be stored
    // is simply not recorded, as in a real cluster.
    let _ = cluster.create(
        &rt,
        ns,
        ev,
        &WriteOptions {
            manager: component.into(),
            ..Default::default()
        },
    );
}

/// An event that recurs (image pull failures, back-offs): the first occurrence is stored,
/// later ones bump its `count` and `lastTimestamp`, as the event recorder aggregates them.
pub fn record_repeated(
    cluster: &Cluster,
    involved: &Value,
    warning: bool,
    reason: &str,
    message: &str,
    component: &str,
) {
    let Some(rt) = cluster.registry.find("", "v1", "events") else {
        return;
    };
    let ns = namespace_of(involved);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in [uid_of(involved), reason, message].join("\n").bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let name = format!("{}.{h:016x}", name_of(involved));
    if cluster.get(&rt, ns, &name).is_ok() {
        let now = now_rfc3339();
        let _ = cluster.modify(&rt, ns, &name, component, "", |e| {
            let n = e["count"].as_i64().unwrap_or(1);
            e["count"] = json!(n + 1);
            e["lastTimestamp"] = json!(now);
        });
        return;
    }
    let now = now_rfc3339();
    let ev = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {
            "apiVersion": involved["apiVersion"], "kind": involved["kind"], "name": name_of(involved),
            "namespace": ns, "uid": uid_of(involved),
            "resourceVersion": involved.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")),
        },
        "reason": reason,
        "message": message,
        "type": if warning { "Warning" } else { "Normal" },
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    });
    let _ = cluster.create(
        &rt,
        ns,
        ev,
        &WriteOptions {
            manager: component.into(),
            ..Default::default()
        },
    );
}
