//! `GET pods/<name>/log`: container selection, `previous`, `tailLines`, `timestamps`,
//! and `follow` streaming until the container ends (or a fault drops the stream).

use crate::http::{stream_response, App};
use crate::status::ApiError;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;
use tokio::sync::mpsc;

pub async fn serve(
    app: &App,
    ns: &str,
    pod_name: &str,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let rt = app
        .cluster
        .registry
        .find("", "v1", "pods")
        .expect("pods are built in");
    let pod = app.cluster.get(&rt, ns, pod_name)?;
    let containers: Vec<String> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) if containers.contains(c) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {pod_name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                containers.join(" ")
            )))
        }
    };
    // The API server asks the pod's node for the log: a pod not bound to a node yet has
    // no log location, and the answer is 204 No Content (`LogLocation` returns no URL, and
    // `StreamObject` writes 204 for no stream).
    let Some(node_host) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(|_| {
            pod.pointer("/status/hostIP")
                .and_then(Value::as_str)
                .unwrap_or("10.0.0.1")
                .to_string()
        })
    else {
        return Ok(Response::builder()
            .status(axum::http::StatusCode::NO_CONTENT)
            .body(Body::empty())
            .expect("static response parts are valid"));
    };
    // A script saying the kubelet is unreachable: the API server's dial fails, and it
    // answers 500 with the error (a Status without a reason).
    if logs_unavailable(&pod) {
        let query = {
            const KUBELET_PARAMS: &[&str] = &[
                "follow",
                "limitBytes",
                "previous",
                "sinceSeconds",
                "sinceTime",
                "tailLines",
                "timestamps",
            ];
            let mut pairs: Vec<String> = q
                .iter()
                .filter(|(k, _)| KUBELET_PARAMS.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            pairs.sort();
            if pairs.is_empty() {
                String::new()
            } else {
                format!("?{}", pairs.join("&"))
            }
        };
        return Err(ApiError::new(
            500,
            "",
            format!(
                "Get \"https://{node_host}:10250/containerLogs/{ns}/{pod_name}/{container}{query}\": dial tcp {node_host}:10250: connect: connection refused"
            ),
        ));
    }
    let previous = q.get("previous").is_some_and(|p| p == "true");
    let follow = q.get("follow").is_some_and(|p| p == "true");
    let timestamps = q.get("timestamps").is_some_and(|p| p == "true");
    let tail: Option<usize> = q.get("tailLines").and_then(|t| t.parse().ok());
    let Some((index, inst)) = app.logs.instance(ns, pod_name, &container, previous) else {
        if previous {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
            )));
        }
        // What the kubelet answers (validateContainerLogStatus), passed on as 400.
        let status = pod
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["name"] == container.as_str()));
        let Some(status) = status else {
            return Err(ApiError::bad_request(format!(
                "container \"{container}\" in pod \"{pod_name}\" is not available"
            )));
        };
        let why = match status
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
        {
            Some("ErrImagePull") => "image can't be pulled".to_string(),
            Some("ImagePullBackOff") => "trying and failing to pull image".to_string(),
            Some(other) => other.to_string(),
            None => "ContainerCreating".to_string(),
        };
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{pod_name}\" is waiting to start: {why}"
        )));
    };
    let fmt = move |(ts, line): &(String, String)| -> Bytes {
        if timestamps {
            Bytes::from(format!("{ts} {line}\n"))
        } else {
            Bytes::from(format!("{line}\n"))
        }
    };
    let skip = tail.map_or(0, |t| inst.lines.len().saturating_sub(t));
    let drop_after = app.faults.drop_logs_after;
    let lag = app.faults.log_lag;
    if !follow || previous {
        let mut body = Vec::new();
        for l in inst
            .lines
            .iter()
            .skip(skip)
            .take(drop_after.unwrap_or(usize::MAX))
        {
            body.extend_from_slice(&fmt(l));
        }
        return Ok(Response::builder()
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(body))
            .expect("static response parts are valid"));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let logs = app.logs.clone();
    let (ns, pod_name) = (ns.to_string(), pod_name.to_string());
    tokio::spawn(async move {
        let mut next = skip;
        let mut sent = 0usize;
        loop {
            // Register interest before reading so an append between the read and the
            // wait is not missed.
            let changed = logs.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let Some(inst) = logs.instance_at(&ns, &pod_name, &container, index) else {
                return;
            };
            for l in inst.lines.iter().skip(next) {
                if !lag.is_zero() {
                    tokio::time::sleep(lag).await;
                }
                if tx.send(fmt(l)).await.is_err() {
                    return;
                }
                next += 1;
                sent += 1;
                if drop_after.is_some_and(|n| sent >= n) {
                    return;
                }
            }
            if inst.finished {
                return;
            }
            tokio::select! {
                _ = changed => {}
                _ = tx.closed() => return,
            }
        }
    });
    let mut r = stream_response(rx);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    Ok(r)
}

/// Whether the pod's script says its kubelet cannot be reached (`logs_unavailable`).
fn logs_unavailable(pod: &Value) -> bool {
    let template =
        serde_json::json!({"metadata": pod.get("metadata").cloned().unwrap_or(Value::Null)});
    matches!(crate::script::from_template(&template), Ok(Some(s)) if s.logs_unavailable)
}
