//! API semantics over the store: create/get/list/update/patch/delete with uids,
//! resourceVersions, generations, namespaces, status subresources, finalizers and
//! ownerReference garbage collection. HTTP-free so controllers call it directly.

use crate::apply;
use crate::meta::{self, now_rfc3339, Requirement, Rng};
use crate::patch;
use crate::registry::{Registry, ResourceType};
use crate::status::ApiError;
use crate::store::{EventType, Store, WatchStart};
use crate::validate;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};

/// Outcome of preparing an update outside the store lock.
enum Prepared {
    Unchanged,
    DryRun(Value),
    Write(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Apply,
    Merge,
    Strategic,
    Json,
}

#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub labels: Vec<Requirement>,
    pub fields: Vec<(String, bool, String)>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

pub struct ListResult {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// Who is writing and how (query parameters common to writes).
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub manager: String,
    pub force: bool,
    pub dry_run: bool,
    pub subresource: String,
}

pub struct Cluster {
    pub registry: Registry,
    store: Mutex<Store>,
    pub rng: Rng,
    /// Namespaces being deleted (Terminating) and when they go.
    terminating: Mutex<Vec<(String, tokio::time::Instant)>>,
    /// How long a deleted namespace stays Terminating (its content is deleted at once).
    namespace_termination_ms: std::sync::atomic::AtomicU64,
}

/// How long a deleted namespace stays Terminating by default.
pub const NAMESPACE_TERMINATION: std::time::Duration = std::time::Duration::from_millis(200);

impl Cluster {
    pub fn new(seed: u64, history_cap: usize) -> Self {
        let c = Cluster {
            registry: Registry::default(),
            store: Mutex::new(Store::new(history_cap)),
            rng: Rng::new(seed),
            terminating: Mutex::new(Vec::new()),
            namespace_termination_ms: std::sync::atomic::AtomicU64::new(
                NAMESPACE_TERMINATION.as_millis() as u64,
            ),
        };
        let ns_rt = c
            .registry
            .find("", "v1", "namespaces")
            .expect("namespaces are built in");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            c.create(
                &ns_rt,
                "",
                obj,
                &WriteOptions {
                    manager: "kube-apiserver".into(),
                    ..Default::default()
                },
            )
            .expect("built-in namespaces are valid");
        }
        c
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock is a bug already reported by that panic; keep serving.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version()
    }

    pub fn object_count(&self) -> usize {
        self.lock().count()
    }

    /// The stored object of `group`/`plural` (any version) named `name` in `ns` (`None` for
    /// cluster-scoped), for tests checking state.
    pub fn peek(&self, group: &str, plural: &str, ns: Option<&str>, name: &str) -> Option<Value> {
        let key = format!("{group}/{plural}");
        self.lock()
            .get(&key, ns.unwrap_or(""), name)
            .map(|v| (*v).clone())
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<crate::store::WatchEvent>> {
        self.lock().subscribe()
    }

    /// See [`Store::compact_all`].
    pub fn compact_history(&self) {
        self.lock().compact_all()
    }

    pub fn watch_from(&self, rv: u64) -> Result<WatchStart, ApiError> {
        self.lock()
            .watch_from(rv)
            .map_err(|oldest| ApiError::gone(format!("too old resource version: {rv} ({oldest})")))
    }

    /// Atomically list current objects and subscribe (a watch without a resourceVersion
    /// starts with synthetic ADDED events for everything that exists).
    pub fn snapshot_and_subscribe(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
    ) -> (
        Vec<Arc<Value>>,
        tokio::sync::broadcast::Receiver<Arc<crate::store::WatchEvent>>,
    ) {
        let store = self.lock();
        let items = store.list(&rt.storage_key(), ns).cloned().collect();
        (items, store.subscribe())
    }

    /// Every object stored under these storage keys (controllers resyncing).
    pub fn all_of(&self, keys: &[&str]) -> Vec<(String, Arc<Value>)> {
        let store = self.lock();
        keys.iter()
            .flat_map(|k| {
                store
                    .list(k, None)
                    .map(|o| (k.to_string(), o.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn get(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        self.lock()
            .get(&rt.storage_key(), ns, name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }

    pub fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListResult, ApiError> {
        let store = self.lock();
        let rv = store.resource_version();
        let start_after = match &opts.continue_token {
            Some(t) => Some(decode_continue(t)?),
            None => None,
        };
        let mut items = Vec::new();
        let mut remaining = 0usize;
        let mut last_key = None;
        for obj in store.list(&rt.storage_key(), ns) {
            let key = (
                meta::namespace_of(obj).to_string(),
                meta::name_of(obj).to_string(),
            );
            if let Some(after) = &start_after {
                if key <= *after {
                    continue;
                }
            }
            if !meta::labels_match(&opts.labels, obj.pointer("/metadata/labels"))
                || !meta::fields_match(&opts.fields, obj)
            {
                continue;
            }
            if opts.limit.is_some_and(|l| l > 0 && items.len() >= l) {
                remaining += 1;
                continue;
            }
            last_key = Some(key);
            items.push(obj.clone());
        }
        let continue_token = if remaining > 0 {
            last_key.map(|k| encode_continue(&k))
        } else {
            None
        };
        Ok(ListResult {
            items,
            resource_version: rv,
            continue_token,
            remaining: (remaining > 0).then_some(remaining),
        })
    }

    /// Namespaced objects are created only in an existing namespace that is not being
    /// deleted (the NamespaceLifecycle admission plugin: 403 Forbidden, as Kubernetes says it).
    fn check_namespace(
        &self,
        store: &Store,
        rt: &ResourceType,
        ns: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        let Some(namespace) = store.get("/namespaces", "", ns) else {
            return Err(ApiError::not_found("", "namespaces", ns));
        };
        if namespace.pointer("/metadata/deletionTimestamp").is_some() {
            let what = if rt.group.is_empty() {
                rt.plural.clone()
            } else {
                format!("{}.{}", rt.plural, rt.group)
            };
            return Err(ApiError {
                code: 403,
                reason: "Forbidden",
                message: format!(
                    "{what} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated"
                ),
                details: json!({
                    "name": name,
                    "group": rt.group,
                    "kind": rt.plural,
                    "causes": [{
                        "reason": "NamespaceTerminating",
                        "message": format!("namespace {ns} is being terminated"),
                        "field": "metadata.namespace",
                    }],
                }),
            });
        }
        Ok(())
    }

    /// How long a deleted namespace stays Terminating.
    pub fn namespace_termination(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.namespace_termination_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    pub fn set_namespace_termination(&self, d: std::time::Duration) {
        self.namespace_termination_ms
            .store(d.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Remove the Terminating namespaces whose time is up (and that have no finalizers
    /// left: those go when their last finalizer is removed).
    pub fn finish_terminating_namespaces(&self) {
        let now = tokio::time::Instant::now();
        let due: Vec<String> = {
            let mut t = self.terminating.lock().unwrap_or_else(|e| e.into_inner());
            let (due, later): (Vec<_>, Vec<_>) = t.drain(..).partition(|(_, at)| *at <= now);
            *t = later;
            due.into_iter().map(|(n, _)| n).collect()
        };
        let mut store = self.lock();
        for name in due {
            let Some(ns) = store.get("/namespaces", "", &name) else {
                continue;
            };
            let finalizers = ns
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            if ns.pointer("/metadata/deletionTimestamp").is_some() && !finalizers {
                self.empty_namespace(&mut store, &name);
                store.remove("/namespaces", "", &name);
            }
        }
    }

    pub fn create(
        &self,
        rt: &ResourceType,
        ns: &str,
        obj: Value,
        w: &WriteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        self.create_inner(rt, ns, obj, w, None)
    }

    /// `applied_fields`: the managedFields of a create-by-apply (else recorded as an Update).
    fn create_inner(
        &self,
        rt: &ResourceType,
        ns: &str,
        mut obj: Value,
        w: &WriteOptions,
        applied_fields: Option<Value>,
    ) -> Result<Arc<Value>, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not a JSON object",
            ));
        }
        let ns = if rt.namespaced {
            let body_ns = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !body_ns.is_empty() && !ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            if ns.is_empty() {
                body_ns.to_string()
            } else {
                ns.to_string()
            }
        } else {
            String::new()
        };
        // Namespace admission comes before validation, as in the apiserver.
        self.check_namespace(&self.lock(), rt, &ns, meta::name_of(&obj))?;
        if obj.get("metadata").is_none_or(|m| !m.is_object()) {
            obj["metadata"] = json!({});
        }
        let mut name = meta::name_of(&obj).to_string();
        if name.is_empty() {
            if let Some(prefix) = obj
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
            {
                name = format!("{prefix}{}", self.rng.suffix(5));
                obj["metadata"]["name"] = json!(name);
            }
        }
        let uid = self.rng.uid();
        {
            let m = obj["metadata"]
                .as_object_mut()
                .expect("metadata is an object");
            if rt.namespaced {
                m.insert("namespace".into(), json!(ns));
            } else {
                m.remove("namespace");
            }
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
            if rt.has_generation() {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
            m.remove("resourceVersion");
            m.remove("deletionTimestamp");
            m.remove("managedFields");
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        validate::default_on_create(rt, &mut obj, &uid);
        validate::validate(rt, &obj, None)?;
        match applied_fields {
            Some(m) => obj["metadata"]["managedFields"] = m,
            None => apply::record_update(None, &mut obj, &w.manager, ""),
        }
        if rt.kind == "CustomResourceDefinition" {
            obj["status"] = crd_status(&obj);
        }
        // Everything above ran without the store lock; only the checks that depend on
        // other objects and the commit hold it.
        let mut store = self.lock();
        self.check_namespace(&store, rt, &ns, &name)?;
        if store.get(&rt.storage_key(), &ns, &name).is_some() {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        if w.dry_run {
            return Ok(Arc::new(obj));
        }
        if rt.kind == "CustomResourceDefinition" {
            self.registry.install_crd(&obj);
        }
        Ok(store.put(&rt.storage_key(), obj, EventType::Added))
    }

    /// Optimistic read-modify-write: `compute` builds the new object from the current one
    /// without the store lock held (so writes to different objects run in parallel); the
    /// commit takes the lock and retries when the object changed meanwhile.
    fn write_optimistic(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        w: &WriteOptions,
        mut compute: impl FnMut(&Arc<Value>) -> Result<Value, ApiError>,
    ) -> Result<Arc<Value>, ApiError> {
        let key = rt.storage_key();
        loop {
            let old = self
                .lock()
                .get(&key, ns, name)
                .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
            let new = compute(&old)?;
            let new = match self.prepare_update(rt, &old, new, w)? {
                Prepared::Unchanged => return Ok(old),
                Prepared::DryRun(new) => return Ok(Arc::new(new)),
                Prepared::Write(new) => new,
            };
            let mut store = self.lock();
            match store.get(&key, ns, name) {
                Some(current) if Arc::ptr_eq(&current, &old) => {
                    return Ok(self.finish_update(&mut store, rt, new));
                }
                Some(_) => continue,
                None => return Err(ApiError::not_found(&rt.group, &rt.plural, name)),
            }
        }
    }

    /// PUT: replace the object (optimistic concurrency on metadata.resourceVersion).
    pub fn update(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        body: Value,
        w: &WriteOptions,
    ) -> Result<Arc<Value>, ApiError> {
        let exists = self.lock().get(&rt.storage_key(), ns, name).is_some();
        if !exists {
            // PUT creates when the object is missing (allowCreateOnUpdate for most kinds).
            if w.subresource.is_empty() {
                let mut body = body;
                if body.pointer("/metadata/name").is_none() && body.is_object() {
                    body["metadata"]["name"] = json!(name);
                }
                return self.create(rt, ns, body, w);
            }
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        }
        let body_name = meta::name_of(&body);
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        self.write_optimistic(rt, ns, name, w, |old| {
            if let Some(rv) = body
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
            {
                if !rv.is_empty()
                    && Some(rv)
                        != old
                            .pointer("/metadata/resourceVersion")
                            .and_then(Value::as_str)
                {
                    return Err(ApiError::conflict(&rt.group, &rt.plural, name));
                }
            }
            let mut new = body.clone();
            apply::record_update(Some(old), &mut new, &w.manager, &w.subresource);
            Ok(new)
        })
    }

    pub fn patch(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        kind: PatchKind,
        body: &Value,
        w: &WriteOptions,
    ) -> Result<(Arc<Value>, bool), ApiError> {
        if kind == PatchKind::Apply {
            if let Some(bn) = body.pointer("/metadata/name").and_then(Value::as_str) {
                if bn != name {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({bn}) does not match the name on the URL ({name})"
                    )));
                }
            }
        }
        loop {
            let exists = self.lock().get(&rt.storage_key(), ns, name).is_some();
            if !exists {
                if kind != PatchKind::Apply || !w.subresource.is_empty() {
                    return Err(ApiError::not_found(&rt.group, &rt.plural, name));
                }
                let mut fresh = json!({});
                apply::apply(&mut fresh, body, &w.manager, w.force, "")?;
                let managed = fresh.pointer("/metadata/managedFields").cloned();
                if fresh.pointer("/metadata/name").is_none() {
                    fresh["metadata"]["name"] = json!(name);
                }
                match self.create_inner(rt, ns, fresh, w, managed) {
                    // Someone else created it meanwhile: apply to theirs instead.
                    Err(e) if e.reason == "AlreadyExists" => continue,
                    other => return other.map(|o| (o, true)),
                }
            }
            let result = self.write_optimistic(rt, ns, name, w, |old| {
                let mut new = (**old).clone();
                match kind {
                    PatchKind::Apply => {
                        apply::apply(&mut new, body, &w.manager, w.force, &w.subresource)?;
                    }
                    PatchKind::Merge => {
                        patch::merge_patch(&mut new, body);
                        apply::record_update(Some(old), &mut new, &w.manager, &w.subresource);
                    }
                    PatchKind::Strategic => {
                        patch::strategic_merge_patch(&mut new, body)
                            .map_err(ApiError::bad_request)?;
                        apply::record_update(Some(old), &mut new, &w.manager, &w.subresource);
                    }
                    PatchKind::Json => {
                        patch::json_patch(&mut new, body)
                            .map_err(|e| ApiError::new(422, "Invalid", e))?;
                        apply::record_update(Some(old), &mut new, &w.manager, &w.subresource);
                    }
                }
                if let Some(rv) = body
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                {
                    if kind != PatchKind::Apply
                        && rv
                            != old
                                .pointer("/metadata/resourceVersion")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                    {
                        return Err(ApiError::conflict(&rt.group, &rt.plural, name));
                    }
                }
                Ok(new)
            });
            match result {
                // Deleted between the existence check and the write: an apply creates it.
                Err(e)
                    if e.reason == "NotFound"
                        && kind == PatchKind::Apply
                        && w.subresource.is_empty() =>
                {
                    continue
                }
                other => return other.map(|o| (o, false)),
            }
        }
    }

    /// Shared part of update and patch, without the store: identity, status subresource
    /// rules, generation, defaults, validation, no-op detection.
    fn prepare_update(
        &self,
        rt: &ResourceType,
        old: &Arc<Value>,
        mut new: Value,
        w: &WriteOptions,
    ) -> Result<Prepared, ApiError> {
        if !new.is_object() || new.get("metadata").is_none_or(|m| !m.is_object()) {
            return Err(ApiError::bad_request("the object has no metadata"));
        }
        for k in [
            "uid",
            "creationTimestamp",
            "name",
            "namespace",
            "deletionTimestamp",
            "generation",
        ] {
            match old["metadata"].get(k) {
                Some(v) => new["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        new["apiVersion"] = old["apiVersion"].clone();
        new["kind"] = old["kind"].clone();
        if w.subresource == "status" {
            let status = new.get("status").cloned();
            let managed = new.pointer("/metadata/managedFields").cloned();
            new = (**old).clone();
            match status {
                Some(s) => new["status"] = s,
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            match managed {
                Some(m) => new["metadata"]["managedFields"] = m,
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove("managedFields");
                    }
                }
            }
        } else if (rt.has_status() || rt.kind == "Namespace") && w.subresource != "binding" {
            // (A binding sets the node and the PodScheduled condition at once.)
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        // A pod's binding to its node (the scheduler's `pods/binding`) is no spec update.
        if rt.has_generation() && w.subresource != "binding" && !same_spec(&new, old) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            new["metadata"]["generation"] = json!(g + 1);
        }
        if w.subresource != "status" {
            validate::default_on_write(rt, &mut new);
        }
        validate::validate(rt, &new, Some(old))?;
        if same_ignoring_volatile(&new, old) {
            return Ok(Prepared::Unchanged);
        }
        if w.dry_run {
            return Ok(Prepared::DryRun(new));
        }
        Ok(Prepared::Write(new))
    }

    /// Commit a prepared update under the store lock (finalizer completion included).
    fn finish_update(&self, store: &mut Store, rt: &ResourceType, new: Value) -> Arc<Value> {
        let key = rt.storage_key();
        let finalizing = new.pointer("/metadata/deletionTimestamp").is_some()
            && new
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty());
        if finalizing {
            let (ns, name) = (
                meta::namespace_of(&new).to_string(),
                meta::name_of(&new).to_string(),
            );
            store.put(&key, new, EventType::Modified);
            let gone = store.remove(&key, &ns, &name).expect("just stored");
            self.collect_dependents(store, &gone, "Background");
            return gone;
        }
        if rt.kind == "CustomResourceDefinition" {
            self.registry.install_crd(&new);
        }
        store.put(&key, new, EventType::Modified)
    }

    /// Read-modify-write for controllers: `f` edits a copy of the current object (it may
    /// run more than once if the object changes concurrently).
    pub fn modify(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        manager: &str,
        subresource: &str,
        mut f: impl FnMut(&mut Value),
    ) -> Result<Arc<Value>, ApiError> {
        let w = WriteOptions {
            manager: manager.into(),
            subresource: subresource.into(),
            ..Default::default()
        };
        self.write_optimistic(rt, ns, name, &w, |old| {
            let mut new = (**old).clone();
            f(&mut new);
            apply::record_update(Some(old), &mut new, manager, subresource);
            Ok(new)
        })
    }

    /// Graceful deletion of a pod as the API server starts it: `deletionTimestamp` and
    /// `deletionGracePeriodSeconds` set, the pod kept while its containers stop. The next
    /// write to it (its kubelet's last status) removes it, as it has no finalizers.
    pub fn mark_terminating(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        grace_seconds: i64,
    ) -> Result<Arc<Value>, ApiError> {
        let mut store = self.lock();
        let key = rt.storage_key();
        let old = store
            .get(&key, ns, name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(old);
        }
        let mut marked = (*old).clone();
        marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        marked["metadata"]["deletionGracePeriodSeconds"] = json!(grace_seconds);
        Ok(store.put(&key, marked, EventType::Modified))
    }

    /// Delete one object. Returns the object and whether it is gone (false: finalizers
    /// pending, deletionTimestamp set).
    pub fn delete(
        &self,
        rt: &ResourceType,
        ns: &str,
        name: &str,
        propagation: Option<&str>,
        precondition_uid: Option<&str>,
        dry_run: bool,
    ) -> Result<(Arc<Value>, bool), ApiError> {
        let mut store = self.lock();
        let key = rt.storage_key();
        let old = store
            .get(&key, ns, name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
        if let Some(uid) = precondition_uid {
            if meta::uid_of(&old) != uid {
                return Err(ApiError::conflict(&rt.group, &rt.plural, name));
            }
        }
        if dry_run {
            return Ok((old, true));
        }
        // batch/v1 Jobs orphan their pods unless told otherwise, as in Kubernetes.
        let default_policy = if rt.kind == "Job" {
            "Orphan"
        } else {
            "Background"
        };
        let policy = propagation.unwrap_or(default_policy);
        if !matches!(policy, "Background" | "Foreground" | "Orphan") {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        let has_finalizers = old
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if rt.kind == "Namespace" {
            // As the namespace controller does: Terminating at once, its content deleted,
            // the namespace itself gone a moment later (`finish_terminating_namespaces`), or
            // when its finalizers are removed. Meanwhile nothing new is created in it.
            if old.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok((old, false));
            }
            self.empty_namespace(&mut store, name);
            let mut marked = (*old).clone();
            marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            marked["status"]["phase"] = json!("Terminating");
            if !has_finalizers {
                self.terminating
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((
                        name.to_string(),
                        tokio::time::Instant::now() + self.namespace_termination(),
                    ));
            }
            return Ok((store.put(&key, marked, EventType::Modified), false));
        }
        if has_finalizers {
            if old.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok((old, false));
            }
            let mut marked = (*old).clone();
            marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            return Ok((store.put(&key, marked, EventType::Modified), false));
        }
        if policy == "Foreground" {
            self.collect_dependents(&mut store, &old, "Foreground");
        }
        let gone = store
            .remove(&key, ns, name)
            .expect("present under the lock");
        if rt.kind == "CustomResourceDefinition" {
            self.registry.remove_crd(&gone);
            let group = gone
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let plural = gone
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let key = format!("{group}/{plural}");
            let doomed: Vec<(String, String)> = store
                .list(&key, None)
                .map(|o| {
                    (
                        meta::namespace_of(o).to_string(),
                        meta::name_of(o).to_string(),
                    )
                })
                .collect();
            for (ns, name) in doomed {
                store.remove(&key, &ns, &name);
            }
        }
        if policy != "Foreground" {
            self.collect_dependents(&mut store, &gone, policy);
        }
        Ok((gone, true))
    }

    fn empty_namespace(&self, store: &mut Store, ns: &str) {
        let doomed: Vec<(String, String)> = store
            .all()
            .filter(|(k, o)| k.as_str() != "/namespaces" && meta::namespace_of(o) == ns)
            .map(|(k, o)| (k.clone(), meta::name_of(o).to_string()))
            .collect();
        for (key, name) in doomed {
            store.remove(&key, ns, &name);
        }
    }

    /// Garbage collection of objects whose ownerReferences name `owner`.
    fn collect_dependents(&self, store: &mut Store, owner: &Value, policy: &str) {
        let uid = meta::uid_of(owner).to_string();
        let dependents = store.dependents_of(&uid);
        for (key, dep) in dependents {
            let (ns, name) = (
                meta::namespace_of(&dep).to_string(),
                meta::name_of(&dep).to_string(),
            );
            if policy == "Orphan" {
                let mut freed = (*dep).clone();
                if let Some(refs) = freed["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                }
                store.put(&key, freed, EventType::Modified);
                continue;
            }
            let has_finalizers = dep
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty());
            if has_finalizers {
                if dep.pointer("/metadata/deletionTimestamp").is_none() {
                    let mut marked = (*dep).clone();
                    marked["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                    store.put(&key, marked, EventType::Modified);
                }
                continue;
            }
            if let Some(gone) = store.remove(&key, &ns, &name) {
                self.collect_dependents(store, &gone, "Background");
            }
        }
    }

    pub fn delete_collection(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        opts: &ListOptions,
        propagation: Option<&str>,
    ) -> Result<Vec<Arc<Value>>, ApiError> {
        let items = self
            .list(
                rt,
                ns,
                &ListOptions {
                    limit: None,
                    continue_token: None,
                    ..opts.clone()
                },
            )?
            .items;
        let mut out = Vec::new();
        for obj in items {
            if let Ok((o, _)) = self.delete(
                rt,
                meta::namespace_of(&obj),
                meta::name_of(&obj),
                propagation,
                None,
                false,
            ) {
                out.push(o);
            }
        }
        Ok(out)
    }
}

/// Whether everything but metadata and status is equal (a spec change bumps generation).
fn same_spec(a: &Value, b: &Value) -> bool {
    let skip = |k: &String| k != "metadata" && k != "status";
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => a
            .iter()
            .filter(|(k, _)| skip(k))
            .eq(b.iter().filter(|(k, _)| skip(k))),
        _ => a == b,
    }
}

/// Equality ignoring what changes on every write (resourceVersion, managedFields times),
/// for no-op detection; compares in place instead of cloning both objects.
fn same_ignoring_volatile(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let not_meta = |k: &String| k != "metadata";
    if !a
        .iter()
        .filter(|(k, _)| not_meta(k))
        .eq(b.iter().filter(|(k, _)| not_meta(k)))
    {
        return false;
    }
    let empty = serde_json::Map::new();
    let ma = a
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mb = b
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let plain = |k: &String| k != "resourceVersion" && k != "managedFields";
    if !ma
        .iter()
        .filter(|(k, _)| plain(k))
        .eq(mb.iter().filter(|(k, _)| plain(k)))
    {
        return false;
    }
    let no_entries = Vec::new();
    let fa = ma
        .get("managedFields")
        .and_then(Value::as_array)
        .unwrap_or(&no_entries);
    let fb = mb
        .get("managedFields")
        .and_then(Value::as_array)
        .unwrap_or(&no_entries);
    fa.len() == fb.len()
        && fa
            .iter()
            .zip(fb)
            .all(|(x, y)| match (x.as_object(), y.as_object()) {
                (Some(x), Some(y)) => {
                    let no_time = |k: &String| k != "time";
                    x.iter()
                        .filter(|(k, _)| no_time(k))
                        .eq(y.iter().filter(|(k, _)| no_time(k)))
                }
                _ => x == y,
            })
}

fn crd_status(crd: &Value) -> Value {
    let now = now_rfc3339();
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now}
        ],
        "storedVersions": crd.pointer("/spec/versions").and_then(Value::as_array).map(|vs| vs.iter()
            .filter(|v| v.get("storage") == Some(&json!(true))).filter_map(|v| v.get("name").cloned()).collect::<Vec<_>>()).unwrap_or_default(),
    })
}

fn encode_continue(key: &(String, String)) -> String {
    let raw = serde_json::to_vec(&[&key.0, &key.1]).unwrap_or_default();
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect();
    let parts: Vec<String> =
        serde_json::from_slice(&bytes.map_err(|_| bad())?).map_err(|_| bad())?;
    match parts.as_slice() {
        [ns, name] => Ok((ns.clone(), name.clone())),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(manager: &str) -> WriteOptions {
        WriteOptions {
            manager: manager.into(),
            ..Default::default()
        }
    }

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
    }

    #[test]
    fn create_get_conflict_and_namespace_checks() {
        let c = Cluster::new(1, 100);
        let rt = c.registry.find("", "v1", "configmaps").unwrap();
        let obj = c.create(&rt, "default", cm("a"), &w("t")).unwrap();
        assert_eq!(obj["metadata"]["namespace"], "default");
        assert_eq!(
            c.create(&rt, "default", cm("a"), &w("t"))
                .unwrap_err()
                .reason,
            "AlreadyExists"
        );
        assert_eq!(
            c.create(&rt, "nope", cm("a"), &w("t")).unwrap_err().reason,
            "NotFound"
        );
        let mut stale = (*obj).clone();
        stale["data"]["k"] = json!("2");
        c.update(&rt, "default", "a", stale.clone(), &w("t"))
            .unwrap();
        assert_eq!(
            c.update(&rt, "default", "a", stale, &w("t"))
                .unwrap_err()
                .reason,
            "Conflict"
        );
    }

    #[test]
    fn a_deleted_namespace_is_terminating_refuses_new_content_then_goes() {
        let c = Cluster::new(1, 100);
        c.set_namespace_termination(std::time::Duration::ZERO);
        let ns_rt = c.registry.find("", "v1", "namespaces").unwrap();
        let rt = c.registry.find("", "v1", "configmaps").unwrap();
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}});
        c.create(&ns_rt, "", ns, &w("t")).unwrap();
        c.create(&rt, "doomed", cm("a"), &w("t")).unwrap();
        let (marked, gone) = c.delete(&ns_rt, "", "doomed", None, None, false).unwrap();
        assert!(!gone);
        assert_eq!(marked["status"]["phase"], "Terminating");
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        assert!(c.peek("", "configmaps", Some("doomed"), "a").is_none());
        let refused = c.create(&rt, "doomed", cm("b"), &w("t")).unwrap_err();
        assert_eq!((refused.code, refused.reason), (403, "Forbidden"));
        assert_eq!(
            refused.message,
            "configmaps \"b\" is forbidden: unable to create new content in namespace doomed because it is being terminated"
        );
        c.finish_terminating_namespaces();
        assert!(c.peek("", "namespaces", None, "doomed").is_none());
    }

    #[test]
    fn concurrent_writes_to_one_object_lose_no_update() {
        let c = Cluster::new(1, 10_000);
        let rt = c.registry.find("", "v1", "configmaps").unwrap();
        c.create(&rt, "default", cm("shared"), &w("t")).unwrap();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let (c, rt) = (&c, &rt);
                scope.spawn(move || {
                    for i in 0..50 {
                        let patch = json!({"data": {format!("k{t}-{i}"): "v"}});
                        c.patch(
                            rt,
                            "default",
                            "shared",
                            PatchKind::Merge,
                            &patch,
                            &w(&format!("m{t}")),
                        )
                        .unwrap();
                    }
                });
            }
        });
        let obj = c.get(&rt, "default", "shared").unwrap();
        assert_eq!(obj["data"].as_object().unwrap().len(), 1 + 4 * 50);
    }

    #[test]
    fn lists_page_with_continue() {
        let c = Cluster::new(1, 100);
        let rt = c.registry.find("", "v1", "configmaps").unwrap();
        for i in 0..5 {
            c.create(&rt, "default", cm(&format!("c{i}")), &w("t"))
                .unwrap();
        }
        let opts = ListOptions {
            limit: Some(2),
            ..Default::default()
        };
        let page = c.list(&rt, Some("default"), &opts).unwrap();
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.remaining, Some(3));
        let next = ListOptions {
            continue_token: page.continue_token,
            ..opts
        };
        let page2 = c.list(&rt, Some("default"), &next).unwrap();
        assert_eq!(meta::name_of(&page2.items[0]), "c2");
    }

    #[test]
    fn background_deletion_collects_dependents_and_orphan_keeps_them() {
        let c = Cluster::new(1, 100);
        let rt = c.registry.find("", "v1", "configmaps").unwrap();
        let owner = c.create(&rt, "default", cm("owner"), &w("t")).unwrap();
        let mut dep = cm("dep");
        dep["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": meta::uid_of(&owner)}]);
        c.create(&rt, "default", dep.clone(), &w("t")).unwrap();
        c.delete(&rt, "default", "owner", Some("Orphan"), None, false)
            .unwrap();
        assert!(c.get(&rt, "default", "dep").is_ok());
        let owner = c.create(&rt, "default", cm("owner2"), &w("t")).unwrap();
        dep["metadata"]["name"] = json!("dep2");
        dep["metadata"]["ownerReferences"][0]["uid"] = json!(meta::uid_of(&owner));
        c.create(&rt, "default", dep, &w("t")).unwrap();
        c.delete(&rt, "default", "owner2", None, None, false)
            .unwrap();
        assert!(c.get(&rt, "default", "dep2").is_err());
    }

    #[test]
    fn finalizers_hold_deletion_until_removed() {
        let c = Cluster::new(1, 100);
        let rt = c.registry.find("", "v1", "configmaps").unwrap();
        let mut obj = cm("f");
        obj["metadata"]["finalizers"] = json!(["example.com/hold"]);
        c.create(&rt, "default", obj, &w("t")).unwrap();
        let (marked, gone) = c.delete(&rt, "default", "f", None, None, false).unwrap();
        assert!(!gone);
        assert!(marked.pointer("/metadata/deletionTimestamp").is_some());
        c.modify(&rt, "default", "f", "t", "", |o| {
            o["metadata"]["finalizers"] = json!([])
        })
        .unwrap();
        assert!(c.get(&rt, "default", "f").is_err());
    }

    #[test]
    fn generation_moves_on_spec_change_only() {
        let c = Cluster::new(1, 100);
        let rt = c.registry.find("apps", "v1", "deployments").unwrap();
        let d = json!({"metadata": {"name": "g"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        c.create(&rt, "default", d, &w("t")).unwrap();
        let o = c
            .modify(&rt, "default", "g", "t", "", |o| {
                o["metadata"]["labels"] = json!({"a": "b"})
            })
            .unwrap();
        assert_eq!(o["metadata"]["generation"], 1);
        let o = c
            .modify(&rt, "default", "g", "t", "", |o| {
                o["spec"]["replicas"] = json!(3)
            })
            .unwrap();
        assert_eq!(o["metadata"]["generation"], 2);
        // Like the apiserver, ConfigMaps carry no generation at all.
        let cms = c.registry.find("", "v1", "configmaps").unwrap();
        assert!(c
            .create(&cms, "default", cm("nogen"), &w("t"))
            .unwrap()
            .pointer("/metadata/generation")
            .is_none());
    }
}
