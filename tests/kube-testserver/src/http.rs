//! The HTTP front: bearer-token auth, fault injection, discovery and OpenAPI stubs, and
//! the REST verbs on resources (get/list/watch/create/update/patch/delete, status, logs).

use crate::cluster::{Cluster, ListOptions, PatchKind, WriteOptions};
use crate::faults::Faults;
use crate::logs::LogStore;
use crate::meta::{self, Rng};
use crate::registry::{api_resource_list, ResourceType};
use crate::status::{success_status, ApiError};
use crate::store::{EventType, WatchEvent};
use crate::table;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

pub struct App {
    pub cluster: Arc<Cluster>,
    pub logs: Arc<LogStore>,
    pub faults: Faults,
    pub fault_rng: Rng,
    pub token: String,
    pub server_address: String,
}

pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(app)
}

type Query = HashMap<String, String>;

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> Query {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn json_response(code: u16, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .expect("static response parts are valid")
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

async fn handle(axum::extract::State(app): axum::extract::State<Arc<App>>, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let authorized = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", app.token));
    if !authorized {
        return error_response(&ApiError::unauthorized());
    }
    let path = parts.uri.path().trim_end_matches('/').to_string();
    let query = parse_query(parts.uri.query());
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => return error_response(&ApiError::bad_request(format!("reading the request body: {e}"))),
    };
    if let Some(r) = non_resource(&app, &path) {
        return r;
    }
    // Faults hit resource requests only: discovery stays reliable so clients get as far
    // as the calls a test wants to disturb.
    if let Some(r) = app.faults.inject(&app.fault_rng).await {
        return r;
    }
    match resource_request(&app, &parts.method, &path, &query, &parts.headers, body).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

fn non_resource(app: &App, path: &str) -> Option<Response> {
    let c = &app.cluster;
    let r = match path {
        "/version" => json_response(
            200,
            &json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0-kube-testserver", "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64"}),
        ),
        "/healthz" | "/readyz" | "/livez" => Response::new(Body::from("ok")),
        "/api" => json_response(
            200,
            &json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": app.server_address}]}),
        ),
        "/apis" => {
            let mut groups: Vec<(String, Vec<String>)> = Vec::new();
            for (g, v) in c.registry.group_versions() {
                if g.is_empty() {
                    continue;
                }
                match groups.iter_mut().find(|(n, _)| *n == g) {
                    Some((_, vs)) => vs.push(v),
                    None => groups.push((g, vec![v])),
                }
            }
            let groups: Vec<Value> = groups.iter().map(|(g, vs)| api_group(g, vs)).collect();
            json_response(200, &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        // An empty protobuf OpenAPI v2 document: kubectl downloads it before validating and
        // finds no schemas, so it skips client-side schema validation.
        "/openapi/v2" => Response::builder()
            .header(header::CONTENT_TYPE, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
            .body(Body::empty())
            .expect("static response parts are valid"),
        _ => {
            let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            match segs.as_slice() {
                ["api", v] => {
                    let types = c.registry.all();
                    if !types.iter().any(|t| t.group.is_empty() && t.version == *v) {
                        return Some(error_response(&ApiError::new(404, "NotFound", "the server could not find the requested resource")));
                    }
                    json_response(200, &api_resource_list(&types, "", v))
                }
                ["apis", g] => {
                    let vs: Vec<String> =
                        c.registry.group_versions().into_iter().filter(|(gg, _)| gg == g).map(|(_, v)| v).collect();
                    if vs.is_empty() {
                        return Some(error_response(&ApiError::new(404, "NotFound", "the server could not find the requested resource")));
                    }
                    json_response(200, &api_group(g, &vs))
                }
                ["apis", g, v] => {
                    let types = c.registry.all();
                    if !types.iter().any(|t| t.group == *g && t.version == *v) {
                        return Some(error_response(&ApiError::new(404, "NotFound", "the server could not find the requested resource")));
                    }
                    json_response(200, &api_resource_list(&types, g, v))
                }
                ["openapi", ..] => error_response(&ApiError::new(404, "NotFound", "the server could not find the requested resource")),
                _ => return None,
            }
        }
    };
    Some(r)
}

fn api_group(g: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions.iter().map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v})).collect();
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": vs, "preferredVersion": vs[0]})
}

/// A parsed resource URL.
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn not_found_path() -> ApiError {
    ApiError::new(404, "NotFound", "the server could not find the requested resource")
}

fn parse_target(app: &App, path: &str) -> Result<Target, ApiError> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found_path()),
    };
    let reg = &app.cluster.registry;
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, tail @ ..] if reg.find(group, version, plural).is_some_and(|t| t.namespaced) => {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let rt = reg.find(group, version, rest.first().ok_or_else(not_found_path)?).ok_or_else(not_found_path)?;
    let name = rest.get(1).map(|s| s.to_string());
    let subresource = rest.get(2).map(|s| s.to_string());
    if rest.len() > 3 {
        return Err(not_found_path());
    }
    if let Some(sub) = &subresource {
        if !rt.subresources.contains(sub) {
            return Err(not_found_path());
        }
    }
    Ok(Target { rt, namespace, name, subresource })
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=Table"))
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    if ct.contains("protobuf") {
        return Err(ApiError::unsupported_media(format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {ct})")));
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(json_err) => serde_yaml::from_slice::<Value>(body)
            .map_err(|e| ApiError::bad_request(format!("the request body is neither JSON ({json_err}) nor YAML ({e})"))),
    }
}

fn list_options(q: &Query) -> Result<ListOptions, ApiError> {
    Ok(ListOptions {
        labels: match q.get("labelSelector") {
            Some(s) => meta::parse_label_selector(s).map_err(ApiError::bad_request)?,
            None => Vec::new(),
        },
        fields: match q.get("fieldSelector") {
            Some(s) => meta::parse_field_selector(s).map_err(ApiError::bad_request)?,
            None => Vec::new(),
        },
        limit: q.get("limit").and_then(|l| l.parse().ok()),
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

fn manager(q: &Query, headers: &HeaderMap, default: &str) -> String {
    if let Some(m) = q.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    // Kubernetes derives the manager from the user agent's first word.
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| default.to_string())
}

/// The object as served at the requested version (storage is version-agnostic).
fn at_version(rt: &ResourceType, obj: &Value) -> Value {
    let mut o = obj.clone();
    o["apiVersion"] = json!(rt.api_version());
    o
}

async fn resource_request(
    app: &App,
    method: &Method,
    path: &str,
    q: &Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let t = parse_target(app, path)?;
    let c = &app.cluster;
    let rt = &t.rt;
    let ns = t.namespace.clone().unwrap_or_default();
    let dry_run = q.get("dryRun").is_some_and(|d| d == "All");
    let sub = t.subresource.clone().unwrap_or_default();
    match (method.clone(), &t.name) {
        (Method::GET, None) => {
            if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
                return watch(app, rt, t.namespace.as_deref(), q, headers);
            }
            let opts = list_options(q)?;
            let res = c.list(rt, t.namespace.as_deref(), &opts)?;
            let rv = res.resource_version.to_string();
            if wants_table(headers) {
                let items: Vec<&Value> = res.items.iter().map(|a| a.as_ref()).collect();
                let include = q.get("includeObject").map(String::as_str).unwrap_or("Metadata");
                return Ok(json_response(200, &table::table(rt, &items, &rv, res.continue_token.as_deref(), include)));
            }
            Ok(list_response(rt, &res.items, &rv, res.continue_token.as_deref(), res.remaining))
        }
        (Method::GET, Some(name)) => {
            if sub == "log" {
                return crate::podlogs::serve(app, &ns, name, q).await;
            }
            let obj = c.get(rt, &ns, name)?;
            if wants_table(headers) {
                let include = q.get("includeObject").map(String::as_str).unwrap_or("Metadata");
                return Ok(json_response(200, &table::table(rt, &[obj.as_ref()], &c.resource_version().to_string(), None, include)));
            }
            Ok(json_response(200, &at_version(rt, &obj)))
        }
        (Method::POST, None) => {
            let body = parse_body(headers, &body)?;
            let w = WriteOptions { manager: manager(q, headers, "unknown"), dry_run, ..Default::default() };
            let obj = c.create(rt, &ns, body, &w)?;
            Ok(json_response(201, &at_version(rt, &obj)))
        }
        (Method::PUT, Some(name)) => {
            let body = parse_body(headers, &body)?;
            let w = WriteOptions { manager: manager(q, headers, "unknown"), dry_run, subresource: sub, ..Default::default() };
            let existed = c.get(rt, &ns, name).is_ok();
            let obj = c.update(rt, &ns, name, body, &w)?;
            Ok(json_response(if existed { 200 } else { 201 }, &at_version(rt, &obj)))
        }
        (Method::PATCH, Some(name)) => {
            let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let kind = match ct.split(';').next().unwrap_or_default().trim() {
                "application/apply-patch+yaml" | "application/apply-patch+json" | "application/apply-patch+cbor" => PatchKind::Apply,
                "application/merge-patch+json" => PatchKind::Merge,
                "application/strategic-merge-patch+json" => {
                    if rt.from_crd {
                        return Err(ApiError::unsupported_media(format!(
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (strategic merge patch is not supported for custom resources)"
                        )));
                    }
                    PatchKind::Strategic
                }
                "application/json-patch+json" => PatchKind::Json,
                other => {
                    return Err(ApiError::unsupported_media(format!(
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
                    )))
                }
            };
            let body = parse_body(headers, &body)?;
            if kind == PatchKind::Apply && q.get("fieldManager").is_none_or(|m| m.is_empty()) {
                return Err(ApiError::bad_request("PATCH /apply requires the fieldManager query parameter"));
            }
            let w = WriteOptions {
                manager: manager(q, headers, "unknown"),
                force: q.get("force").is_some_and(|f| f == "true"),
                dry_run,
                subresource: sub,
            };
            let (obj, created) = c.patch(rt, &ns, name, kind, &body, &w)?;
            Ok(json_response(if created { 201 } else { 200 }, &at_version(rt, &obj)))
        }
        (Method::DELETE, Some(name)) => {
            let opts = parse_body(headers, &body)?;
            let propagation = q
                .get("propagationPolicy")
                .cloned()
                .or_else(|| opts.get("propagationPolicy").and_then(Value::as_str).map(str::to_string))
                .or_else(|| match opts.get("orphanDependents").and_then(Value::as_bool).or(q.get("orphanDependents").map(|v| v == "true")) {
                    Some(true) => Some("Orphan".into()),
                    Some(false) => Some("Background".into()),
                    None => None,
                });
            let uid = opts.pointer("/preconditions/uid").and_then(Value::as_str);
            let dry = dry_run || opts.get("dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|x| x == "All"));
            let (obj, gone) = c.delete(rt, &ns, name, propagation.as_deref(), uid, dry)?;
            if rt.kind == "Pod" && gone {
                app.logs.forget_pod(&ns, name);
            }
            if gone && rt.kind != "Pod" {
                Ok(json_response(200, &success_status(&rt.group, &rt.plural, name, meta::uid_of(&obj))))
            } else {
                Ok(json_response(if gone { 200 } else { 202 }, &at_version(rt, &obj)))
            }
        }
        (Method::DELETE, None) => {
            let opts = list_options(q)?;
            let propagation = q.get("propagationPolicy").cloned();
            let gone = c.delete_collection(rt, t.namespace.as_deref(), &opts, propagation.as_deref())?;
            Ok(list_response(rt, &gone, &c.resource_version().to_string(), None, None))
        }
        _ => Err(ApiError::method_not_allowed(format!("the server does not allow this method on the requested resource ({method} {path})"))),
    }
}

fn list_response(rt: &ResourceType, items: &[Arc<Value>], rv: &str, cont: Option<&str>, remaining: Option<usize>) -> Response {
    // Serialize items without cloning them into one big Value: lists of 10,000 objects
    // stay cheap.
    let mut metadata = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        metadata["remainingItemCount"] = json!(r);
    }
    let api_version = rt.api_version();
    let mut out = Vec::with_capacity(items.len() * 512 + 256);
    out.extend_from_slice(
        format!("{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[", rt.kind, api_version, metadata).as_bytes(),
    );
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if item.get("apiVersion").and_then(Value::as_str) == Some(api_version.as_str()) {
            serde_json::to_writer(&mut out, item.as_ref()).expect("values serialize");
        } else {
            serde_json::to_writer(&mut out, &at_version(rt, item)).expect("values serialize");
        }
    }
    out.extend_from_slice(b"]}");
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(out))
        .expect("static response parts are valid")
}

/// One watch stream: replayed or synthetic initial events, then the live feed, as
/// newline-delimited JSON; ends at `timeoutSeconds`, or early when faults drop it.
fn watch(app: &App, rt: &ResourceType, ns: Option<&str>, q: &Query, headers: &HeaderMap) -> Result<Response, ApiError> {
    let c = &app.cluster;
    let opts = list_options(q)?;
    let as_table = wants_table(headers);
    let include = q.get("includeObject").cloned().unwrap_or_else(|| "Metadata".into());
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let send_initial = q.get("sendInitialEvents").is_some_and(|b| b == "true");
    let rv: u64 = q.get("resourceVersion").and_then(|r| r.parse().ok()).unwrap_or(0);
    let timeout = q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).map(Duration::from_secs);
    let key = rt.storage_key();
    let (initial, mut feed, replay) = if rv == 0 || send_initial {
        let (items, feed) = c.snapshot_and_subscribe(rt, ns);
        (items, feed, Vec::new())
    } else {
        match c.watch_from(rv) {
            Ok(start) => (Vec::new(), start.feed, start.replay),
            Err(e) => {
                // A real apiserver answers 200 and sends the 410 as an ERROR event.
                let (tx, rx) = mpsc::channel::<Bytes>(1);
                let line = json!({"type": "ERROR", "object": e.to_status()});
                let _ = tx.try_send(Bytes::from(format!("{line}\n")));
                return Ok(stream_response(rx));
            }
        }
    };
    let matches = {
        let key = key.clone();
        let ns = ns.map(str::to_string);
        move |ev: &WatchEvent| {
            ev.key == key
                && ns.as_deref().is_none_or(|n| n == ev.namespace)
                && meta::labels_match(&opts.labels, ev.object.pointer("/metadata/labels"))
                && meta::fields_match(&opts.fields, &ev.object)
        }
    };
    let (bookmark_api_version, kind_name) = (rt.api_version(), rt.kind.clone());
    let rt = rt.clone();
    let encode = move |kind: &str, obj: &Value| -> Bytes {
        let object = if as_table && kind != "BOOKMARK" && kind != "ERROR" {
            let mut t = table::table(&rt, &[obj], obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or(""), None, &include);
            // Column definitions only on the first event would be enough; kubectl copes either way.
            t["metadata"] = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!(""))});
            t
        } else if kind == "BOOKMARK" || kind == "ERROR" {
            obj.clone()
        } else {
            at_version(&rt, obj)
        };
        let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let drop_after = app.faults.drop_watch_after;
    let initial_rv = c.resource_version();
    tokio::spawn(async move {
        let mut sent = 0usize;
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut last_rv = initial_rv.max(rv);
        macro_rules! send {
            ($bytes:expr) => {{
                if tx.send($bytes).await.is_err() {
                    return;
                }
                sent += 1;
                if drop_after.is_some_and(|n| sent >= n) {
                    return;
                }
            }};
        }
        for obj in &initial {
            if matches(&WatchEvent {
                rv: 0,
                key: key.clone(),
                namespace: meta::namespace_of(obj).to_string(),
                kind: EventType::Added,
                object: obj.clone(),
            }) {
                send!(encode("ADDED", obj));
            }
        }
        if send_initial {
            let bm = json!({"kind": kind_name, "apiVersion": bookmark_api_version,
                "metadata": {"resourceVersion": initial_rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
            send!(encode("BOOKMARK", &bm));
        }
        for ev in replay.iter().filter(|e| matches(e)) {
            last_rv = ev.rv;
            send!(encode(ev.kind.as_str(), &ev.object));
        }
        let mut ticker = tokio::time::interval(Duration::from_secs(5));
        ticker.tick().await;
        loop {
            let sleep_until = deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
            tokio::select! {
                ev = feed.recv() => match ev {
                    Ok(ev) => {
                        last_rv = last_rv.max(ev.rv);
                        if matches(&ev) {
                            send!(encode(ev.kind.as_str(), &ev.object));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let e = ApiError::gone("the watch fell too far behind; the events it missed are no longer available");
                        let _ = tx.send(encode("ERROR", &e.to_status())).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick(), if bookmarks => {
                    let bm = json!({"kind": kind_name, "apiVersion": bookmark_api_version, "metadata": {"resourceVersion": last_rv.to_string()}});
                    if tx.send(encode("BOOKMARK", &bm)).await.is_err() { return; }
                }
                _ = tokio::time::sleep_until(sleep_until) => return,
            }
        }
    });
    Ok(stream_response(rx))
}

pub fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx)) });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    *r.status_mut() = StatusCode::OK;
    r
}
