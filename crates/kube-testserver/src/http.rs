//! The HTTP front: bearer-token auth, fault injection, request parsing, and the REST verbs
//! on resources (get/list/create/update/patch/delete, status, scale); discovery, watch and
//! pod logs live in their own modules.

use crate::cluster::{Cluster, ListOptions, PatchKind, WriteOptions};
use crate::faults::Faults;
use crate::logs::LogStore;
use crate::meta;
use crate::registry::ResourceType;
use crate::status::{success_status, ApiError};
use crate::table;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;

pub struct App {
    pub cluster: Arc<Cluster>,
    pub logs: Arc<LogStore>,
    pub faults: Faults,
    pub fault_dice: crate::faults::FaultDice,
    pub token: String,
    pub server_address: String,
    pub requests: Arc<RequestLog>,
    pub tokens: Arc<crate::rbac::Tokens>,
}

/// One request as it arrived on the wire, before anything interpreted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The raw path, percent-encoding as sent.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
}

impl std::fmt::Display for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

/// Every request the server received (bounded: the oldest are dropped past `CAP`), so tests
/// can check what a client actually sent.
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: std::sync::Mutex<std::collections::VecDeque<RecordedRequest>>,
    /// Injected faults, as `<route> <status>` (see `faults::route`), oldest first.
    faults: std::sync::Mutex<Vec<String>>,
}

impl RequestLog {
    const CAP: usize = 100_000;

    fn push(&self, r: RecordedRequest) {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if e.len() == Self::CAP {
            e.pop_front();
        }
        e.push_back(r);
    }

    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        let e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        e.iter().cloned().collect()
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn fault(&self, route: &str, status: u16) {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() < Self::CAP {
            f.push(format!("{route} {status}"));
        }
    }

    pub fn faults(&self) -> Vec<String> {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(app)
}

pub(crate) type Query = HashMap<String, String>;

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
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

pub(crate) fn json_response(code: u16, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(bytes))
        .expect("static response parts are valid")
}

pub(crate) fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

async fn handle(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    req: Request<Body>,
) -> Response {
    let (parts, body) = req.into_parts();
    app.requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
    });
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let user = match bearer {
        Some(t) if t == app.token => crate::rbac::User::admin(),
        Some(t) => match app.tokens.authenticate(&app.cluster, t) {
            Some(user) => user,
            None => return error_response(&ApiError::unauthorized()),
        },
        None => return error_response(&ApiError::unauthorized()),
    };
    let path = parts.uri.path().trim_end_matches('/').to_string();
    let query = parse_query(parts.uri.query());
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            )))
        }
    };
    // RBAC: the one place requests are authorized (and access reviews answered).
    match crate::rbac::guard(
        &app.cluster,
        &user,
        parts.method.as_str(),
        &path,
        &query,
        &body,
    ) {
        Ok(None) => {}
        Ok(Some(review)) => return json_response(201, &review),
        Err(e) => return error_response(&e),
    }
    if let Some(r) = crate::discovery::serve(&app, &path) {
        return r;
    }
    // Faults hit resource requests only: discovery stays reliable so clients get as far
    // as the calls a test wants to disturb.
    let route = crate::faults::route(parts.method.as_str(), &path, parts.uri.query());
    if let Some(r) = app.faults.inject(&app.fault_dice, &route).await {
        app.requests.fault(&route, r.status().as_u16());
        return r;
    }
    match resource_request(&app, &parts.method, &path, &query, &parts.headers, body).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

/// A parsed resource URL.
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
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
        ["namespaces", ns, plural, tail @ ..]
            if reg
                .find(group, version, plural)
                .is_some_and(|t| t.namespaced) =>
        {
            (Some(ns.to_string()), [&[*plural][..], tail].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let rt = reg
        .find(group, version, rest.first().ok_or_else(not_found_path)?)
        .ok_or_else(not_found_path)?;
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
    Ok(Target {
        rt,
        namespace,
        name,
        subresource,
    })
}

/// Whether the client asked for metadata only (`as=PartialObjectMetadata` or
/// `as=PartialObjectMetadataList`, `g=meta.k8s.io;v=v1`), as `Api::list_metadata` does:
/// the API server then answers with each object's `metadata` alone.
pub(crate) fn wants_metadata(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

pub(crate) fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("protobuf") {
        return crate::protobuf::decode(body).map_err(|e| {
            ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({e})"
            ))
        });
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(json_err) => serde_yaml::from_slice::<Value>(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the request body is neither JSON ({json_err}) nor YAML ({e})"
            ))
        }),
    }
}

pub(crate) fn list_options(q: &Query) -> Result<ListOptions, ApiError> {
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
pub(crate) fn at_version(rt: &ResourceType, obj: &Value) -> Value {
    let mut o = obj.clone();
    o["apiVersion"] = json!(rt.api_version());
    o
}

/// An object response, serialized straight from the stored object when it is already at
/// the requested version (no copy of the object).
fn object_response(code: u16, rt: &ResourceType, obj: &Value) -> Response {
    if obj.get("apiVersion").and_then(Value::as_str) == Some(rt.api_version().as_str()) {
        json_response(code, obj)
    } else {
        json_response(code, &at_version(rt, obj))
    }
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
                return crate::watch::serve(app, rt, t.namespace.as_deref(), q, headers);
            }
            let opts = list_options(q)?;
            let res = c.list(rt, t.namespace.as_deref(), &opts)?;
            let rv = res.resource_version.to_string();
            if wants_table(headers) {
                let items: Vec<&Value> = res.items.iter().map(|a| a.as_ref()).collect();
                let include = q
                    .get("includeObject")
                    .map(String::as_str)
                    .unwrap_or("Metadata");
                return Ok(json_response(
                    200,
                    &table::table(rt, &items, &rv, res.continue_token.as_deref(), include),
                ));
            }
            if wants_metadata(headers) {
                return Ok(metadata_list_response(
                    &res.items,
                    &rv,
                    res.continue_token.as_deref(),
                    res.remaining,
                ));
            }
            Ok(list_response(
                rt,
                &res.items,
                &rv,
                res.continue_token.as_deref(),
                res.remaining,
            ))
        }
        (Method::GET, Some(name)) if sub == "scale" => {
            Ok(json_response(200, &scale_of(&*c.get(rt, &ns, name)?)))
        }
        (Method::PUT | Method::PATCH, Some(name)) if sub == "scale" => {
            let current = scale_of(&*c.get(rt, &ns, name)?);
            let body = parse_body(headers, &body)?;
            let mut wanted = current.clone();
            if *method == Method::PUT {
                wanted = body;
            } else {
                crate::patch::merge_patch(&mut wanted, &body);
            }
            let replicas = wanted
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Scale",
                        "autoscaling",
                        name,
                        vec![crate::status::Cause {
                            reason: "FieldValueRequired",
                            field: "spec.replicas".into(),
                            message: "Required value".into(),
                        }],
                    )
                })?;
            let obj = c.modify(rt, &ns, name, &manager(q, headers, "unknown"), "", |o| {
                o["spec"]["replicas"] = json!(replicas)
            })?;
            Ok(json_response(200, &scale_of(&obj)))
        }
        (Method::GET, Some(name)) => {
            if sub == "log" {
                return crate::podlogs::serve(app, &ns, name, q).await;
            }
            let obj = c.get(rt, &ns, name)?;
            if wants_table(headers) {
                let include = q
                    .get("includeObject")
                    .map(String::as_str)
                    .unwrap_or("Metadata");
                return Ok(json_response(
                    200,
                    &table::table(
                        rt,
                        &[obj.as_ref()],
                        &c.resource_version().to_string(),
                        None,
                        include,
                    ),
                ));
            }
            if wants_metadata(headers) {
                return Ok(json_response(200, &partial_metadata(&obj)));
            }
            Ok(object_response(200, rt, &obj))
        }
        (Method::POST, Some(name)) if sub == "token" => {
            // TokenRequest: a token acting as the ServiceAccount (see crate::rbac).
            let mut req = parse_body(headers, &body)?;
            let token = app.tokens.issue(c, &ns, name)?;
            let seconds = req
                .pointer("/spec/expirationSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(3600);
            req["apiVersion"] = json!("authentication.k8s.io/v1");
            req["kind"] = json!("TokenRequest");
            req["metadata"] = json!({"name": name, "namespace": ns, "creationTimestamp": null});
            req["spec"]["expirationSeconds"] = json!(seconds);
            req["status"] = json!({"token": token, "expirationTimestamp": meta::format_rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(seconds.max(0) as u64))});
            Ok(json_response(201, &req))
        }
        (Method::POST, None) => {
            let body = parse_body(headers, &body)?;
            let warnings = field_validation(rt, &body, q)?;
            let w = WriteOptions {
                manager: manager(q, headers, "unknown"),
                dry_run,
                ..Default::default()
            };
            let obj = c.create(rt, &ns, body, &w)?;
            Ok(with_warnings(object_response(201, rt, &obj), &warnings))
        }
        (Method::PUT, Some(name)) => {
            let body = parse_body(headers, &body)?;
            let warnings = field_validation(rt, &body, q)?;
            let w = WriteOptions {
                manager: manager(q, headers, "unknown"),
                dry_run,
                subresource: sub,
                ..Default::default()
            };
            let existed = c.get(rt, &ns, name).is_ok();
            let obj = c.update(rt, &ns, name, body, &w)?;
            Ok(with_warnings(
                object_response(if existed { 200 } else { 201 }, rt, &obj),
                &warnings,
            ))
        }
        (Method::PATCH, Some(name)) => {
            let ct = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let kind = match ct.split(';').next().unwrap_or_default().trim() {
                "application/apply-patch+yaml" | "application/apply-patch+json" | "application/apply-patch+cbor" => PatchKind::Apply,
                "application/merge-patch+json" => PatchKind::Merge,
                "application/strategic-merge-patch+json" => {
                    if rt.from_crd {
                        return Err(ApiError::unsupported_media("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (strategic merge patch is not supported for custom resources)".to_string()));
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
            // JSON patches are operation lists, not objects: nothing to check field-wise.
            let warnings = if kind == PatchKind::Json {
                Vec::new()
            } else {
                field_validation(rt, &body, q)?
            };
            if kind == PatchKind::Apply && q.get("fieldManager").is_none_or(|m| m.is_empty()) {
                return Err(ApiError::bad_request(
                    "PATCH /apply requires the fieldManager query parameter",
                ));
            }
            let w = WriteOptions {
                manager: manager(q, headers, "unknown"),
                force: q.get("force").is_some_and(|f| f == "true"),
                dry_run,
                subresource: sub,
            };
            let (obj, created) = c.patch(rt, &ns, name, kind, &body, &w)?;
            Ok(with_warnings(
                object_response(if created { 201 } else { 200 }, rt, &obj),
                &warnings,
            ))
        }
        (Method::DELETE, Some(name)) => {
            let opts = parse_body(headers, &body)?;
            let propagation = q
                .get("propagationPolicy")
                .cloned()
                .or_else(|| {
                    opts.get("propagationPolicy")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .or_else(|| {
                    match opts
                        .get("orphanDependents")
                        .and_then(Value::as_bool)
                        .or(q.get("orphanDependents").map(|v| v == "true"))
                    {
                        Some(true) => Some("Orphan".into()),
                        Some(false) => Some("Background".into()),
                        None => None,
                    }
                });
            let uid = opts.pointer("/preconditions/uid").and_then(Value::as_str);
            let dry = dry_run
                || opts
                    .get("dryRun")
                    .and_then(Value::as_array)
                    .is_some_and(|d| d.iter().any(|x| x == "All"));
            let (obj, gone) = c.delete(rt, &ns, name, propagation.as_deref(), uid, dry)?;
            if rt.kind == "Namespace" && !dry {
                finish_namespaces_later(c);
            }
            if rt.kind == "Pod" && gone {
                app.logs.forget_pod(&ns, name);
            }
            if gone && rt.kind != "Pod" {
                Ok(json_response(
                    200,
                    &success_status(&rt.group, &rt.plural, name, meta::uid_of(&obj)),
                ))
            } else {
                Ok(json_response(
                    if gone { 200 } else { 202 },
                    &at_version(rt, &obj),
                ))
            }
        }
        (Method::DELETE, None) => {
            let opts = list_options(q)?;
            let propagation = q.get("propagationPolicy").cloned();
            let gone =
                c.delete_collection(rt, t.namespace.as_deref(), &opts, propagation.as_deref())?;
            if rt.kind == "Namespace" {
                finish_namespaces_later(c);
            }
            Ok(list_response(
                rt,
                &gone,
                &c.resource_version().to_string(),
                None,
                None,
            ))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method} {path})"
        ))),
    }
}

/// `fieldValidation`: Strict rejects unknown fields (400, as the apiserver's strict
/// decoding does), Warn (the default) returns them as warnings, Ignore skips the check.
/// A deleted namespace is Terminating for a moment: remove it when its time is up.
fn finish_namespaces_later(c: &Arc<Cluster>) {
    let c = c.clone();
    tokio::spawn(async move {
        tokio::time::sleep(c.namespace_termination()).await;
        c.finish_terminating_namespaces();
    });
}

fn field_validation(rt: &ResourceType, body: &Value, q: &Query) -> Result<Vec<String>, ApiError> {
    let mode = q
        .get("fieldValidation")
        .map(String::as_str)
        .unwrap_or("Warn");
    if mode == "Ignore" || rt.from_crd {
        return Ok(Vec::new());
    }
    let unknown: Vec<String> = crate::fields::unknown_fields(&rt.kind, body)
        .into_iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    if mode == "Strict" && !unknown.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
            unknown.join(", "),
            kind = rt.kind,
            v = rt.version,
        )));
    }
    Ok(unknown)
}

/// Attach apiserver-style `Warning: 299 - "..."` headers.
fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

/// The `autoscaling/v1 Scale` view of a workload.
fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"], "uid": obj["metadata"]["uid"],
            "resourceVersion": obj["metadata"]["resourceVersion"], "creationTimestamp": obj["metadata"]["creationTimestamp"]},
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

fn list_response(
    rt: &ResourceType,
    items: &[Arc<Value>],
    rv: &str,
    cont: Option<&str>,
    remaining: Option<usize>,
) -> Response {
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
        format!(
            "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
            rt.kind, api_version, metadata
        )
        .as_bytes(),
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

/// An object as `PartialObjectMetadata`: its metadata alone.
fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

/// A list as `PartialObjectMetadataList` (the items' metadata alone), written without
/// cloning the items, like [`list_response`].
fn metadata_list_response(
    items: &[Arc<Value>],
    rv: &str,
    cont: Option<&str>,
    remaining: Option<usize>,
) -> Response {
    let mut metadata = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        metadata["continue"] = json!(c);
    }
    if let Some(r) = remaining {
        metadata["remainingItemCount"] = json!(r);
    }
    let mut out = Vec::with_capacity(items.len() * 256 + 256);
    out.extend_from_slice(
        format!(
            "{{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{metadata},\"items\":["
        )
        .as_bytes(),
    );
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(
            b"{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":",
        );
        match item.get("metadata") {
            Some(m) => serde_json::to_writer(&mut out, m).expect("values serialize"),
            None => out.extend_from_slice(b"{}"),
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(out))
        .expect("static response parts are valid")
}

pub fn stream_response(rx: mpsc::Receiver<Bytes>) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *r.status_mut() = StatusCode::OK;
    r
}
