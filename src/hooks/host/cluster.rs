//! The host side of the WIT `cluster` interface: each call is resolved to a resource name,
//! checked against the hook's grants (a denial returns `forbidden` and prints an audit
//! line), and only then passed to [`crate::cluster::Cluster`], the client `kubes apply` uses.
//! Watches and log streams run as background tasks feeding the guest's resources.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DynamicObject, ListParams, LogParams, WatchEvent, WatchParams};
use wasmtime::component::Resource;

use super::bindings::kubes::hook::cluster::{
    Change, ConditionMet, Host, HostLogStream, HostWatcher, KindRef, LogItem, LogOptions,
    WatchEvent as WitWatchEvent, WatchItem,
};
use super::input;
use super::streams::{Feed, LogStream, WatchStream};
use super::{ClusterError, HookState, ObjectRef};
use crate::cluster::{
    self as kc, ApplyOptions, Cluster, DeleteOptions, DeleteOutcome, ResolvedKind,
};
use crate::hooks::grants::{Denial, Request, Verb};

/// The field manager hook applies use, so `managedFields` tell them from kubes' own.
pub const HOOK_FIELD_MANAGER: &str = "kubes-hook";

/// The cluster connection a hook run may use, and whether the run is a dry run (then
/// applies and deletes are server-side dry runs).
#[derive(Clone)]
pub struct ClusterAccess {
    pub cluster: Cluster,
    pub dry_run: bool,
}

use super::CallResult;

fn no_cluster() -> ClusterError {
    ClusterError::Unavailable("this hook run has no cluster connection".into())
}

/// Our cluster errors in the WIT's terms.
pub fn to_wit(e: kc::ClusterError) -> ClusterError {
    match e {
        kc::ClusterError::NotFound(_) => ClusterError::NotFound,
        kc::ClusterError::Forbidden(m) => ClusterError::Forbidden(m),
        kc::ClusterError::Conflict(m) => ClusterError::Conflict(m),
        kc::ClusterError::Invalid(m) => ClusterError::Invalid(m),
        kc::ClusterError::Timeout(_) => ClusterError::Timeout,
        kc::ClusterError::Unavailable(m) => ClusterError::Unavailable(m),
        kc::ClusterError::Other(e) => ClusterError::Other(format!("{e:#}")),
    }
}

fn kube_err(e: kube::Error) -> ClusterError {
    to_wit(kc::ClusterError::from(e))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, ClusterError> {
    serde_json::to_string(v)
        .map_err(|e| ClusterError::Other(format!("cannot encode the object: {e}")))
}

/// Objects asked for per page when the host lists on a hook's behalf, so no single answer
/// it holds is larger than a page.
const PAGE: u32 = 100;

use crate::cluster::follow::MAX_LOG_LINE;

/// `jobs.batch`, `pods`: a kind as grants name it, for a call refused before discovery
/// resolved it. The plural is English's, which is what the API uses for built-in kinds (a
/// CRD may differ; this is only what the audit line says).
fn kind_display(api_version: &str, kind: &str) -> String {
    let k = kind.to_lowercase();
    let plural = if k.ends_with('s') || k.ends_with('x') || k.ends_with("ch") || k.ends_with("sh") {
        if k.ends_with("ss") || !k.ends_with('s') {
            format!("{k}es")
        } else {
            k // endpoints
        }
    } else if let Some(stem) = k
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'o', 'u']))
    {
        format!("{stem}ies")
    } else {
        format!("{k}s")
    };
    match api_version.split_once('/') {
        Some((group, _)) => format!("{plural}.{group}"),
        None => plural,
    }
}

fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

impl HookState {
    pub(super) fn cluster(&self) -> Result<Cluster, ClusterError> {
        self.host
            .cluster
            .as_ref()
            .map(|c| c.cluster.clone())
            .ok_or_else(no_cluster)
    }

    fn dry_run(&self) -> bool {
        self.host.cluster.as_ref().is_some_and(|c| c.dry_run)
    }

    /// Resolve a kind. The future borrows nothing from the state (which is not `Sync`).
    fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> impl std::future::Future<Output = Result<(Cluster, ResolvedKind), ClusterError>> + Send + 'static
    {
        let c = self.cluster();
        let (api_version, kind) = (api_version.to_string(), kind.to_string());
        async move {
            let c = c?;
            let rk = c.resolve_kind(&api_version, &kind).await.map_err(to_wit)?;
            Ok((c, rk))
        }
    }

    /// The namespace a call works in: none for cluster-scoped kinds, else the one asked
    /// for, else the app's.
    fn namespace_for(&self, rk: &ResolvedKind, asked: Option<&str>) -> Option<String> {
        rk.namespaced.then(|| {
            asked
                .filter(|s| !s.is_empty())
                .unwrap_or(&self.host.grants.app_namespace)
                .to_string()
        })
    }

    /// Refuse, before any request (discovery included), a call that no grant could cover
    /// whatever the kind resolves to.
    fn precheck(
        &mut self,
        verb: Verb,
        api_version: &str,
        kind: &str,
        name: Option<&str>,
        namespace: Option<&str>,
    ) -> Result<(), ClusterError> {
        if self.host.grants.may_cover(verb, group_of(api_version)) {
            return Ok(());
        }
        let ns = namespace
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.host.grants.app_namespace)
            .to_string();
        let d = self
            .host
            .grants
            .deny(verb, kind_display(api_version, kind), name, Some(&ns));
        Err(self.refuse(d))
    }

    /// Check a call against the grants; a denial is recorded, printed and returned as
    /// `forbidden` naming what was missing.
    pub(super) fn authorize(
        &mut self,
        verb: Verb,
        resource: &str,
        name: Option<&str>,
        namespace: Option<&str>,
    ) -> Result<(), ClusterError> {
        let req = Request {
            verb,
            resource,
            name,
            namespace,
        };
        self.host.grants.check(&req).map_err(|d| self.refuse(d))?;
        self.host.calls.record(verb, resource, name);
        Ok(())
    }

    /// Record a denial (the first ones in full and printed; the rest counted) and make the
    /// guest's `forbidden`.
    fn refuse(&mut self, d: Denial) -> ClusterError {
        let msg = format!(
            "hook {} has no grant to {} {}{}{}: {}",
            d.hook,
            d.verb,
            d.resource,
            d.name
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default(),
            match d.namespace.as_deref() {
                Some(n) => format!(" in namespace {n}"),
                None => " (cluster-scoped)".to_string(),
            },
            d.rule.describe()
        );
        if self.host.denials.record(d.clone()) {
            self.host.reporter.audit(&d);
        }
        ClusterError::Forbidden(msg)
    }
}

/// List every object (page by page), serialised, refusing answers larger than `max` bytes.
async fn list_all(
    api: &kube::Api<DynamicObject>,
    lp: ListParams,
    max: u64,
) -> Result<Vec<String>, ClusterError> {
    let mut out = Vec::new();
    let mut total: u64 = 0;
    let mut lp = lp.limit(PAGE);
    loop {
        let page = api.list(&lp).await.map_err(kube_err)?;
        for o in &page.items {
            let j = json(o)?;
            total += j.len() as u64;
            if total > max {
                return Err(ClusterError::Invalid(format!(
                    "the answer is larger than the response limit of {max} bytes: narrow it with a label selector (or raise `limits: {{response_size: ...}}`)"
                )));
            }
            out.push(j);
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => return Ok(out),
        }
    }
}

impl Host for HookState {
    async fn get(&mut self, obj: ObjectRef) -> CallResult<String> {
        or_return_to_guest!(input::object_ref(&obj));
        or_return_to_guest!(self.precheck(
            Verb::Get,
            &obj.api_version,
            &obj.kind,
            Some(&obj.name),
            obj.namespace.as_deref()
        ));
        let (c, rk) = or_return_to_guest!(self.resolve(&obj.api_version, &obj.kind).await);
        let ns = self.namespace_for(&rk, obj.namespace.as_deref());
        or_return_to_guest!(self.authorize(
            Verb::Get,
            &rk.resource_name(),
            Some(&obj.name),
            ns.as_deref()
        ));
        Ok(match c.get_object(&rk, ns.as_deref(), &obj.name).await {
            Ok(Some(o)) => json(&o),
            Ok(None) => Err(ClusterError::NotFound),
            Err(e) => Err(to_wit(e)),
        })
    }

    async fn list(
        &mut self,
        kind: KindRef,
        namespace: Option<String>,
        label_selector: Option<String>,
    ) -> CallResult<Vec<String>> {
        or_return_to_guest!(input::kind(&kind));
        or_return_to_guest!(input::namespace(namespace.as_deref()));
        or_return_to_guest!(input::selector(label_selector.as_deref()));
        or_return_to_guest!(self.precheck(
            Verb::List,
            &kind.api_version,
            &kind.kind,
            None,
            namespace.as_deref()
        ));
        let (c, rk) = or_return_to_guest!(self.resolve(&kind.api_version, &kind.kind).await);
        let ns = self.namespace_for(&rk, namespace.as_deref());
        or_return_to_guest!(self.authorize(Verb::List, &rk.resource_name(), None, ns.as_deref()));
        let mut lp = ListParams::default();
        if let Some(sel) = label_selector.as_deref().filter(|s| !s.is_empty()) {
            lp = lp.labels(sel);
        }
        let max = self.host.limits.response_size;
        Ok(list_all(&c.api(&rk, ns.as_deref()), lp, max).await)
    }

    async fn apply(&mut self, object_json: String) -> CallResult<String> {
        // Size before parsing: a 96 MiB text is refused without building a tree of it.
        let mut obj = or_return_to_guest!(input::apply_body(
            &object_json,
            self.host.limits.request_size
        ));
        drop(object_json);
        let r = or_return_to_guest!(kc::ObjectRef::of(&obj).map_err(to_wit));
        or_return_to_guest!(self.precheck(
            Verb::Apply,
            &r.api_version,
            &r.kind,
            Some(&r.name),
            r.namespace.as_deref()
        ));
        let (c, rk) = or_return_to_guest!(self.resolve(&r.api_version, &r.kind).await);
        let ns = self.namespace_for(&rk, r.namespace.as_deref());
        or_return_to_guest!(self.authorize(
            Verb::Apply,
            &rk.resource_name(),
            Some(&r.name),
            ns.as_deref()
        ));
        // Pin the namespace the grant was checked for (the client would otherwise use its
        // kubeconfig default); a cluster-scoped object carries none.
        if let Some(meta) = obj.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            match &ns {
                Some(ns) => {
                    meta.insert("namespace".into(), serde_json::Value::String(ns.clone()));
                }
                None => {
                    meta.remove("namespace");
                }
            }
        }
        let opts = ApplyOptions {
            field_manager: HOOK_FIELD_MANAGER.into(),
            force_conflicts: true,
            dry_run: self.dry_run(),
        };
        Ok(match c.apply_object_returning(&obj, &opts).await {
            Ok(applied) => json(&applied.object),
            Err(e) => Err(to_wit(e)),
        })
    }

    async fn delete(&mut self, obj: ObjectRef, wait_ms: Option<u32>) -> CallResult<bool> {
        or_return_to_guest!(input::object_ref(&obj));
        or_return_to_guest!(self.precheck(
            Verb::Delete,
            &obj.api_version,
            &obj.kind,
            Some(&obj.name),
            obj.namespace.as_deref()
        ));
        let (c, rk) = or_return_to_guest!(self.resolve(&obj.api_version, &obj.kind).await);
        let ns = self.namespace_for(&rk, obj.namespace.as_deref());
        or_return_to_guest!(self.authorize(
            Verb::Delete,
            &rk.resource_name(),
            Some(&obj.name),
            ns.as_deref()
        ));
        // Waiting until it is gone is a watch on the hook's behalf: one of its streams.
        let _slot = match (wait_ms, self.dry_run()) {
            (Some(_), false) => Some(or_return_to_guest!(self.host.streams.open())),
            _ => None,
        };
        let opts = DeleteOptions {
            wait: wait_ms.map(|ms| Duration::from_millis(ms.into())),
            dry_run: self.dry_run(),
            ..Default::default()
        };
        Ok(
            match c.delete_object(&rk, ns.as_deref(), &obj.name, &opts).await {
                Ok(DeleteOutcome::Deleted) => Ok(true),
                Ok(DeleteOutcome::Absent) => Ok(false),
                Err(e) => Err(to_wit(e)),
            },
        )
    }

    async fn events(&mut self, obj: ObjectRef) -> CallResult<Vec<String>> {
        or_return_to_guest!(input::object_ref(&obj));
        or_return_to_guest!(self.precheck(
            Verb::List,
            "v1",
            "Event",
            None,
            obj.namespace.as_deref()
        ));
        let c = or_return_to_guest!(self.cluster());
        let rk = or_return_to_guest!(c
            .resolve_kind(&obj.api_version, &obj.kind)
            .await
            .map_err(to_wit));
        let ns = self.namespace_for(&rk, obj.namespace.as_deref());
        or_return_to_guest!(self.authorize(Verb::List, "events", None, ns.as_deref()));
        let events = or_return_to_guest!(c.resolve_resource("events").await.map_err(to_wit));
        // Name and kind are validated above: nothing can be smuggled into the selector.
        let lp = ListParams::default().fields(&format!(
            "involvedObject.name={},involvedObject.kind={}",
            obj.name, obj.kind
        ));
        let max = self.host.limits.response_size;
        let list = or_return_to_guest!(list_all(&c.api(&events, ns.as_deref()), lp, max).await);
        // Filter again: a server may ignore field selectors it does not index.
        let mut items: Vec<serde_json::Value> = list
            .iter()
            .filter_map(|e| serde_json::from_str(e).ok())
            .filter(|e: &serde_json::Value| {
                e["involvedObject"]["name"] == obj.name.as_str()
                    && e["involvedObject"]["kind"] == obj.kind.as_str()
            })
            .collect();
        items.sort_by_key(event_time);
        Ok(items.iter().map(json).collect())
    }

    async fn wait_for(
        &mut self,
        obj: ObjectRef,
        conditions: Vec<String>,
        timeout_ms: u32,
    ) -> CallResult<ConditionMet> {
        or_return_to_guest!(input::object_ref(&obj));
        or_return_to_guest!(input::conditions(&conditions));
        let group = group_of(&obj.api_version);
        if !self.host.grants.may_cover(Verb::Watch, group) {
            or_return_to_guest!(self.precheck(
                Verb::Get,
                &obj.api_version,
                &obj.kind,
                Some(&obj.name),
                obj.namespace.as_deref()
            ));
        }
        let (c, rk) = or_return_to_guest!(self.resolve(&obj.api_version, &obj.kind).await);
        let ns = self.namespace_for(&rk, obj.namespace.as_deref());
        let resource = rk.resource_name();
        // A wait reads the object: `get` or `watch` on it is enough. With `watch` granted it
        // waits on a watch; a hook granted only `get` makes only `get` requests.
        let watching = self
            .host
            .grants
            .check(&Request {
                verb: Verb::Watch,
                resource: &resource,
                name: Some(&obj.name),
                namespace: ns.as_deref(),
            })
            .is_ok();
        if watching {
            self.host
                .calls
                .record(Verb::Watch, &resource, Some(&obj.name));
        } else {
            or_return_to_guest!(self.authorize(
                Verb::Get,
                &resource,
                Some(&obj.name),
                ns.as_deref()
            ));
        }
        let api = c.api(&rk, ns.as_deref());
        let timeout = Duration::from_millis(timeout_ms.into());
        if !watching {
            return Ok(poll_for(&api, &obj.name, &conditions, timeout).await);
        }
        // The watch is one of the hook's streams while it lasts, and each version of the
        // object is held within the run's stream buffer while it is checked.
        let slot = or_return_to_guest!(self.host.streams.open());
        let budget = self.host.streams.clone();
        let name = obj.name.clone();
        let wait = async move {
            let _slot = slot;
            let mut versions = std::pin::pin!(kc::wait::versions(api, &name));
            while let Some(v) = versions.next().await {
                let Some(o) = v.map_err(to_wit)? else {
                    continue;
                };
                let text = json(&o)?;
                drop(o);
                let _held = budget.reserve(text.len()).await?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| ClusterError::Other(e.to_string()))?;
                if let Some(met) = condition_met(&v, &conditions, &text) {
                    return Ok(met);
                }
            }
            Err(ClusterError::Unavailable("the watch ended".into()))
        };
        Ok(tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(ClusterError::Timeout)))
    }

    async fn watch(
        &mut self,
        kind: KindRef,
        namespace: Option<String>,
        name: Option<String>,
        label_selector: Option<String>,
    ) -> CallResult<Resource<WatchStream>> {
        or_return_to_guest!(input::kind(&kind));
        or_return_to_guest!(input::namespace(namespace.as_deref()));
        or_return_to_guest!(input::selector(label_selector.as_deref()));
        if let Some(n) = name.as_deref() {
            or_return_to_guest!(input::object_name("name", n));
        }
        or_return_to_guest!(self.precheck(
            Verb::Watch,
            &kind.api_version,
            &kind.kind,
            name.as_deref(),
            namespace.as_deref()
        ));
        let (c, rk) = or_return_to_guest!(self.resolve(&kind.api_version, &kind.kind).await);
        let ns = self.namespace_for(&rk, namespace.as_deref());
        or_return_to_guest!(self.authorize(
            Verb::Watch,
            &rk.resource_name(),
            name.as_deref(),
            ns.as_deref()
        ));
        let slot = or_return_to_guest!(self.host.streams.open());
        let api = c.api(&rk, ns.as_deref());
        // For `deleted` events made up after a relist.
        let api_resource = rk.resource.clone();
        let namespace_of_watch = ns.clone();
        let mut lp = ListParams::default().limit(PAGE);
        let mut wp = WatchParams::default();
        if let Some(n) = &name {
            lp = lp.fields(&format!("metadata.name={n}"));
            wp = wp.fields(&format!("metadata.name={n}"));
        }
        if let Some(sel) = label_selector.as_deref().filter(|s| !s.is_empty()) {
            lp = lp.labels(sel);
            wp = wp.labels(sel);
        }
        // Ask for one object here, so the call fails here (not later) when the API says no;
        // the list itself, then the changes, stream from the task within the run's budget.
        or_return_to_guest!(api.list(&lp.clone().limit(1)).await.map_err(kube_err));
        let (mut feed, tx) = Feed::channel(slot, &self.host.streams);
        let task = tokio::spawn(async move {
            let wanted = |o: &DynamicObject| {
                name.as_ref()
                    .is_none_or(|n| o.metadata.name.as_ref() == Some(n))
            };
            let send = |change: Change, o: &DynamicObject| {
                let object_json = serde_json::to_string(o).unwrap_or_default();
                let len = object_json.len();
                (
                    WitWatchEvent {
                        change,
                        object_json,
                    },
                    len,
                )
            };
            // Names seen so far: after a relist, an object seen before is `modified`, one
            // that is gone is `deleted`.
            let mut known: std::collections::BTreeSet<String> = Default::default();
            let name_of = |o: &DynamicObject| o.metadata.name.clone().unwrap_or_default();
            let first_lp = lp.clone();
            'relist: loop {
                let mut lp = first_lp.clone();
                let mut version;
                let mut listed = std::collections::BTreeSet::new();
                loop {
                    // One page at a time per run outside the byte budget: a page is fetched
                    // and queued within the budget before another stream may fetch one.
                    let turn = tx.budget().page_turn().await;
                    let page = match api.list(&lp).await {
                        Ok(p) => p,
                        Err(e) => return tx.fail(kube_err(e)).await,
                    };
                    version = page.metadata.resource_version.clone().unwrap_or_default();
                    let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
                    let events: Vec<_> = page
                        .items
                        .iter()
                        .filter(|o| wanted(o))
                        .map(|o| {
                            let n = name_of(o);
                            listed.insert(n.clone());
                            let change = if known.insert(n) {
                                Change::Added
                            } else {
                                Change::Modified
                            };
                            send(change, o)
                        })
                        .collect();
                    drop(page);
                    for (ev, len) in events {
                        if !tx.send(ev, len).await {
                            return;
                        }
                    }
                    drop(turn);
                    match next {
                        Some(token) => lp = lp.continue_token(&token),
                        None => break,
                    }
                }
                // Objects that went while the watch was away.
                for gone in known.difference(&listed).cloned().collect::<Vec<_>>() {
                    known.remove(&gone);
                    let mut o = DynamicObject::new(&gone, &api_resource);
                    o.metadata.namespace = namespace_of_watch.clone();
                    let (ev, len) = send(Change::Deleted, &o);
                    if !tx.send(ev, len).await {
                        return;
                    }
                }
                loop {
                    let stream = match api.watch(&wp, &version).await {
                        Ok(s) => s,
                        Err(kube::Error::Api(s)) if s.code == 410 => continue 'relist,
                        Err(e) => return tx.fail(kube_err(e)).await,
                    };
                    let mut stream = Box::pin(stream);
                    // A server ends watches now and then; resume from the last version seen,
                    // or list again when the server says that version is gone (410).
                    while let Some(item) = stream.next().await {
                        let (change, o) = match item {
                            Ok(WatchEvent::Added(o)) => (Change::Added, o),
                            Ok(WatchEvent::Modified(o)) => (Change::Modified, o),
                            Ok(WatchEvent::Deleted(o)) => (Change::Deleted, o),
                            Ok(WatchEvent::Bookmark(b)) => {
                                version = b.metadata.resource_version;
                                continue;
                            }
                            Ok(WatchEvent::Error(e)) if e.code == 410 => continue 'relist,
                            Ok(WatchEvent::Error(e)) => {
                                return tx
                                    .fail(to_wit(kc::ClusterError::Other(anyhow::anyhow!(
                                        "watch ended: {}",
                                        e.message
                                    ))))
                                    .await;
                            }
                            Err(e) => return tx.fail(kube_err(e)).await,
                        };
                        if let Some(v) = &o.metadata.resource_version {
                            version = v.clone();
                        }
                        if !wanted(&o) {
                            continue;
                        }
                        match change {
                            Change::Deleted => known.remove(&name_of(&o)),
                            _ => known.insert(name_of(&o)),
                        };
                        let (ev, len) = send(change, &o);
                        if !tx.send(ev, len).await {
                            return;
                        }
                    }
                }
            }
        });
        feed.attach(task.abort_handle());
        Ok(Ok(self.table.push(WatchStream(feed))?))
    }

    async fn logs(
        &mut self,
        pod: String,
        namespace: Option<String>,
        options: LogOptions,
    ) -> CallResult<Resource<LogStream>> {
        or_return_to_guest!(input::object_name("pod", &pod));
        or_return_to_guest!(input::namespace(namespace.as_deref()));
        or_return_to_guest!(input::container(options.container.as_deref()));
        let ns = namespace
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| self.host.grants.app_namespace.clone());
        or_return_to_guest!(self.authorize(Verb::Logs, "pods", Some(&pod), Some(&ns)));
        let c = or_return_to_guest!(self.cluster());
        let slot = or_return_to_guest!(self.host.streams.open());
        let api: kube::Api<Pod> = kube::Api::namespaced(c.client().clone(), &ns);
        // The WIT promises "the pod's only (or first) container" when none is named; the API
        // server refuses a multi-container pod without a name, so pick the first one here.
        let container = match options.container.filter(|s| !s.is_empty()) {
            Some(name) => Some(name),
            None => {
                let p = or_return_to_guest!(api.get(&pod).await.map_err(kube_err));
                p.spec
                    .and_then(|s| s.containers.into_iter().next())
                    .map(|c| c.name)
            }
        };
        let lp = LogParams {
            container,
            follow: options.follow,
            tail_lines: options.tail_lines.map(i64::from),
            ..Default::default()
        };
        // Open here so a missing pod or container is this call's error.
        let reader = or_return_to_guest!(api.log_stream(&pod, &lp).await.map_err(kube_err));
        let (mut feed, tx) = Feed::channel(slot, &self.host.streams);
        let task = tokio::spawn(async move {
            let mut reader = Box::pin(reader);
            let mut line = Vec::new();
            loop {
                match crate::cluster::follow::read_line(&mut reader, &mut line, MAX_LOG_LINE).await
                {
                    Ok(true) => {
                        let text = String::from_utf8_lossy(&line).into_owned();
                        let len = text.len();
                        if !tx.send(text, len).await {
                            return;
                        }
                    }
                    Ok(false) => return,
                    Err(e) => {
                        return tx
                            .fail(ClusterError::Unavailable(format!("log stream broke: {e}")))
                            .await
                    }
                }
            }
        });
        feed.attach(task.abort_handle());
        Ok(Ok(self.table.push(LogStream(feed))?))
    }
}

/// `wait-for` for a hook granted `get` but not `watch`: read the object until a condition
/// holds, 20 ms apart at first, then up to 500 ms.
async fn poll_for(
    api: &kube::Api<DynamicObject>,
    name: &str,
    conditions: &[String],
    timeout: Duration,
) -> Result<ConditionMet, ClusterError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(20);
    loop {
        let found = tokio::time::timeout_at(deadline, api.get_opt(name))
            .await
            .map_err(|_| ClusterError::Timeout)?
            .map_err(kube_err)?;
        if let Some(o) = found {
            let text = json(&o)?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| ClusterError::Other(e.to_string()))?;
            if let Some(met) = condition_met(&v, conditions, &text) {
                return Ok(met);
            }
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(ClusterError::Timeout);
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// The first of `wanted` conditions with status True, if any (`text`: the object as JSON).
fn condition_met(obj: &serde_json::Value, wanted: &[String], text: &str) -> Option<ConditionMet> {
    let conds = obj["status"]["conditions"].as_array()?;
    for w in wanted {
        let hit = conds.iter().find(|c| {
            c["type"].as_str() == Some(w.as_str()) && c["status"].as_str() == Some("True")
        });
        if let Some(c) = hit {
            return Some(ConditionMet {
                condition: w.clone(),
                message: c["message"]
                    .as_str()
                    .or(c["reason"].as_str())
                    .unwrap_or("")
                    .to_string(),
                object_json: text.to_string(),
            });
        }
    }
    None
}

/// Events sort by when they last happened (RFC 3339 text sorts in time order).
fn event_time(e: &serde_json::Value) -> String {
    ["lastTimestamp", "eventTime", "firstTimestamp"]
        .iter()
        .find_map(|k| e[*k].as_str().map(str::to_string))
        .or_else(|| {
            e["metadata"]["creationTimestamp"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

impl HostWatcher for HookState {
    async fn subscribe(
        &mut self,
        this: Resource<WatchStream>,
    ) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
        wasmtime_wasi::p2::subscribe(&mut self.table, this)
    }

    async fn try_next(&mut self, this: Resource<WatchStream>) -> CallResult<WatchItem> {
        super::streams::try_next(&mut self.table, &this)
    }

    async fn drop(&mut self, this: Resource<WatchStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl HostLogStream for HookState {
    async fn subscribe(
        &mut self,
        this: Resource<LogStream>,
    ) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
        wasmtime_wasi::p2::subscribe(&mut self.table, this)
    }

    async fn try_next(&mut self, this: Resource<LogStream>) -> CallResult<LogItem> {
        super::streams::try_next(&mut self.table, &this)
    }

    async fn drop(&mut self, this: Resource<LogStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_as_grants_name_resources() {
        assert_eq!(kind_display("batch/v1", "Job"), "jobs.batch");
        assert_eq!(kind_display("v1", "Event"), "events");
        assert_eq!(
            kind_display("networking.k8s.io/v1", "Ingress"),
            "ingresses.networking.k8s.io"
        );
        assert_eq!(
            kind_display("networking.k8s.io/v1", "NetworkPolicy"),
            "networkpolicies.networking.k8s.io"
        );
        assert_eq!(kind_display("v1", "Endpoints"), "endpoints");
        assert_eq!(kind_display("apps/v1", "Deployment"), "deployments.apps");
    }

    #[test]
    fn finds_the_first_true_condition_asked_for() {
        let job = serde_json::json!({"status": {"conditions": [
            {"type": "FailureTarget", "status": "True"},
            {"type": "Failed", "status": "True", "message": "Job has reached the specified backoff limit"},
            {"type": "Complete", "status": "False"}
        ]}});
        let met = condition_met(&job, &["Complete".into(), "Failed".into()], "{}").unwrap();
        assert_eq!(met.condition, "Failed");
        assert_eq!(met.message, "Job has reached the specified backoff limit");
        assert!(condition_met(&job, &["Complete".into()], "{}").is_none());
        assert!(condition_met(&serde_json::json!({}), &["Complete".into()], "{}").is_none());
    }
}
