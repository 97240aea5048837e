//! `meta.k8s.io/v1 Table` responses, which `kubectl get` asks for (`as=Table`).

use crate::meta::parse_rfc3339;
use crate::registry::ResourceType;
use serde_json::{json, Value};
use std::time::SystemTime;

fn col(name: &str, kind: &str, format: &str) -> Value {
    json!({"name": name, "type": kind, "format": format, "description": name, "priority": 0})
}

pub fn columns(rt: &ResourceType) -> Vec<Value> {
    let name = col("Name", "string", "name");
    let age = col("Age", "string", "");
    match rt.kind.as_str() {
        "Pod" => vec![
            name,
            col("Ready", "string", ""),
            col("Status", "string", ""),
            col("Restarts", "string", ""),
            age,
        ],
        "Job" => vec![
            name,
            col("Status", "string", ""),
            col("Completions", "string", ""),
            col("Duration", "string", ""),
            age,
        ],
        "Deployment" => vec![
            name,
            col("Ready", "string", ""),
            col("Up-to-date", "integer", ""),
            col("Available", "integer", ""),
            age,
        ],
        "ReplicaSet" => vec![
            name,
            col("Desired", "integer", ""),
            col("Current", "integer", ""),
            col("Ready", "integer", ""),
            age,
        ],
        "ConfigMap" => vec![name, col("Data", "integer", ""), age],
        "Secret" => vec![
            name,
            col("Type", "string", ""),
            col("Data", "integer", ""),
            age,
        ],
        "Namespace" => vec![name, col("Status", "string", ""), age],
        "Service" => vec![
            name,
            col("Type", "string", ""),
            col("Cluster-IP", "string", ""),
            col("Port(s)", "string", ""),
            age,
        ],
        "Event" => vec![
            col("Last Seen", "string", ""),
            col("Type", "string", ""),
            col("Reason", "string", ""),
            col("Object", "string", ""),
            col("Message", "string", ""),
        ],
        _ => vec![name, age],
    }
}

/// A short human duration like kubectl prints ("5s", "3m", "2h").
pub fn human_age(ts: Option<&str>) -> String {
    let Some(t) = ts.and_then(parse_rfc3339) else {
        return "<unknown>".into();
    };
    let secs = SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 3 => format!("{}m", s / 60),
        s if s < 86_400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn s<'a>(o: &'a Value, ptr: &str) -> &'a str {
    o.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn n(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn pod_status(o: &Value) -> String {
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".into();
    }
    if let Some(cs) = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
    {
        for c in cs {
            if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
                return r.to_string();
            }
            if let Some(r) = c
                .pointer("/state/terminated/reason")
                .and_then(Value::as_str)
            {
                return r.to_string();
            }
        }
    }
    let phase = s(o, "/status/phase");
    if phase.is_empty() {
        "Pending".into()
    } else {
        phase.into()
    }
}

/// The STATUS column as the API server's printer (`printJob`) computes it: the final
/// conditions first, then deletion and suspension, then the interim conditions.
fn job_status(o: &Value) -> String {
    let is = |kind: &str| {
        o.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == kind && c["status"] == "True")
            })
    };
    if is("Complete") {
        "Complete".into()
    } else if is("Failed") {
        "Failed".into()
    } else if o.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating".into()
    } else if is("Suspended") || o.pointer("/spec/suspend") == Some(&json!(true)) {
        "Suspended".into()
    } else if is("FailureTarget") {
        "FailureTarget".into()
    } else if is("SuccessCriteriaMet") {
        "SuccessCriteriaMet".into()
    } else {
        "Running".into()
    }
}

pub fn cells(rt: &ResourceType, o: &Value) -> Vec<Value> {
    let name = json!(s(o, "/metadata/name"));
    let age = json!(human_age(
        o.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
    ));
    match rt.kind.as_str() {
        "Pod" => {
            let cs = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let ready = cs.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = cs
                .iter()
                .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                .sum();
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(o)),
                json!(restarts.to_string()),
                age,
            ]
        }
        "Job" => {
            let done = n(o, "/status/succeeded");
            let want = o
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let duration = match (
                o.pointer("/status/startTime")
                    .and_then(Value::as_str)
                    .and_then(parse_rfc3339),
                o.pointer("/status/completionTime")
                    .and_then(Value::as_str)
                    .and_then(parse_rfc3339),
            ) {
                (Some(a), Some(b)) => {
                    format!("{}s", b.duration_since(a).map(|d| d.as_secs()).unwrap_or(0))
                }
                (Some(a), None) => format!(
                    "{}s",
                    SystemTime::now()
                        .duration_since(a)
                        .map(|d| d.as_secs())
                        .unwrap_or(0)
                ),
                _ => String::new(),
            };
            vec![
                name,
                json!(job_status(o)),
                json!(format!("{done}/{want}")),
                json!(duration),
                age,
            ]
        }
        "Deployment" => {
            let want = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            vec![
                name,
                json!(format!("{}/{want}", n(o, "/status/readyReplicas"))),
                json!(n(o, "/status/updatedReplicas")),
                json!(n(o, "/status/availableReplicas")),
                age,
            ]
        }
        "ReplicaSet" => vec![
            name,
            json!(n(o, "/spec/replicas")),
            json!(n(o, "/status/replicas")),
            json!(n(o, "/status/readyReplicas")),
            age,
        ],
        "ConfigMap" => {
            let count = ["data", "binaryData"]
                .iter()
                .filter_map(|k| o.get(*k)?.as_object().map(|m| m.len()))
                .sum::<usize>();
            vec![name, json!(count), age]
        }
        "Secret" => {
            let count = o
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |m| m.len());
            vec![name, json!(s(o, "/type")), json!(count), age]
        }
        "Namespace" => vec![name, json!(s(o, "/status/phase")), age],
        "Service" => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ports = if ports.is_empty() {
                "<none>".to_string()
            } else {
                ports.join(",")
            };
            vec![
                name,
                json!(s(o, "/spec/type")),
                json!(s(o, "/spec/clusterIP")),
                json!(ports),
                age,
            ]
        }
        "Event" => {
            let last = o.pointer("/lastTimestamp").and_then(Value::as_str).or(o
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str));
            let object = format!(
                "{}/{}",
                s(o, "/involvedObject/kind").to_lowercase(),
                s(o, "/involvedObject/name")
            );
            vec![
                json!(human_age(last)),
                json!(s(o, "/type")),
                json!(s(o, "/reason")),
                json!(object),
                json!(s(o, "/message")),
            ]
        }
        _ => vec![name, age],
    }
}

fn partial(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata").cloned().unwrap_or(json!({}))})
}

pub fn row(rt: &ResourceType, o: &Value, include_object: &str) -> Value {
    let object = match include_object {
        "Object" => o.clone(),
        "None" => Value::Null,
        _ => partial(o),
    };
    json!({"cells": cells(rt, o), "object": object})
}

pub fn table(
    rt: &ResourceType,
    items: &[&Value],
    rv: &str,
    cont: Option<&str>,
    include_object: &str,
) -> Value {
    let mut metadata = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns(rt),
        "rows": items.iter().map(|o| row(rt, o, include_object)).collect::<Vec<_>>(),
    })
}
