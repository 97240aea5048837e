//! The cluster, serde-typed: objects come back as any `T: DeserializeOwned` (the small
//! structs in [`crate::k8s`], your own, or `serde_json::Value`) and go in as any
//! `T: Serialize`. Each call needs the grant named on it; a missing grant is a
//! [`HookError`] for which `is_forbidden()` is true.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::bindings::kubes::hook::cluster as wit;
use crate::errors::ResultExt;
use crate::{k8s, HookError, KindRef, ObjectRef};

pub use wit::{Change, LogStream, Watcher};

fn decode<T: DeserializeOwned>(json: &str, what: impl std::fmt::Display) -> Result<T, HookError> {
    serde_json::from_str(json).map_err(|e| HookError::json(format!("reading {what}"), e))
}

/// Read one object. Grant: `get`.
///
/// ```no_run
/// # use kubes_hook_sdk::prelude::*;
/// # fn f() -> Result<(), HookError> {
/// let job: k8s::Job = client::get(&ObjectRef::job("migrate"))?;
/// let raw: serde_json::Value = client::get(&ObjectRef::config_map("settings"))?;
/// # Ok(()) }
/// ```
pub fn get<T: DeserializeOwned>(obj: &ObjectRef) -> Result<T, HookError> {
    let json = wit::get(obj).context(format!("get {obj}"))?;
    decode(&json, obj)
}

/// Like [`get`], with `None` when the object does not exist.
pub fn get_opt<T: DeserializeOwned>(obj: &ObjectRef) -> Result<Option<T>, HookError> {
    match get(obj) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// List objects of a type in a namespace (`None`: the app's), optionally by label selector.
/// Grant: `list`.
pub fn list<T: DeserializeOwned>(
    kind: &KindRef,
    namespace: Option<&str>,
    label_selector: Option<&str>,
) -> Result<Vec<T>, HookError> {
    let items = wit::list(kind, namespace, label_selector).context(format!("list {kind}"))?;
    items.iter().map(|j| decode(j, kind)).collect()
}

/// Server-side apply of `obj` (field manager `kubes-hook`); returns the stored object.
/// Grant: `apply`.
///
/// ```no_run
/// # use kubes_hook_sdk::prelude::*;
/// # fn f() -> Result<(), HookError> {
/// let patch = serde_json::json!({
///     "apiVersion": "apps/v1", "kind": "Deployment",
///     "metadata": {"name": "web", "annotations": {"example.com/migrated": "true"}},
/// });
/// let _stored: serde_json::Value = client::apply(&patch)?;
/// # Ok(()) }
/// ```
pub fn apply<T: Serialize, R: DeserializeOwned>(obj: &T) -> Result<R, HookError> {
    let json = serde_json::to_string(obj)
        .map_err(|e| HookError::json("encoding an object to apply", e))?;
    let what = serde_json::from_str::<serde_json::Value>(&json)
        .ok()
        .map(|v| {
            format!(
                "{}/{}",
                v["kind"].as_str().unwrap_or("?"),
                v["metadata"]["name"].as_str().unwrap_or("?")
            )
        })
        .unwrap_or_default();
    let stored = wit::apply(&json).context(format!("apply {what}"))?;
    decode(&stored, what)
}

/// Delete one object (background propagation: what it owns goes too). With `wait`, wait up
/// to that long until it is gone. Returns false when there was nothing to delete. Grant:
/// `delete`.
pub fn delete(obj: &ObjectRef, wait: Option<Duration>) -> Result<bool, HookError> {
    let ms = wait.map(|d| d.as_millis().min(u32::MAX as u128) as u32);
    wit::delete(obj, ms).context(format!("delete {obj}"))
}

/// Events about one object, oldest first. Grant: `list` on `events`.
pub fn events(obj: &ObjectRef) -> Result<Vec<k8s::Event>, HookError> {
    let items = wit::events(obj).context(format!("events of {obj}"))?;
    items.iter().map(|j| decode(j, "an event")).collect()
}

/// Start a watch: the current objects arrive first as `added`. Grant: `watch`. See
/// [`crate::waiting`] for waiting on several watches and logs at once.
pub fn watch(
    kind: &KindRef,
    namespace: Option<&str>,
    name: Option<&str>,
    label_selector: Option<&str>,
) -> Result<Watcher, HookError> {
    wit::watch(kind, namespace, name, label_selector).context(format!("watch {kind}"))
}

/// How to read a pod's log (re-exported from the WIT).
pub use wit::LogOptions;

/// Open a pod's log as a stream of lines. Grant: `logs` on `pods`.
pub fn logs(
    pod: &str,
    namespace: Option<&str>,
    options: &LogOptions,
) -> Result<LogStream, HookError> {
    wit::logs(pod, namespace, options).context(format!("logs of pod {pod}"))
}

/// One change from a [`Watcher`], typed.
#[derive(Debug, Clone)]
pub struct WatchChange<T> {
    pub change: Change,
    pub object: T,
}

/// What [`next_change`] found.
#[derive(Debug, Clone)]
pub enum Next<T> {
    Change(WatchChange<T>),
    /// Nothing now: wait on `watcher.subscribe()` (see [`crate::waiting`]).
    Pending,
    /// The watch ended for good.
    End,
}

/// Take the next change from a watcher without blocking, decoded as `T`.
pub fn next_change<T: DeserializeOwned>(watcher: &Watcher) -> Result<Next<T>, HookError> {
    match watcher.try_next().context("watch")? {
        wit::WatchItem::Event(ev) => Ok(Next::Change(WatchChange {
            change: ev.change,
            object: decode(&ev.object_json, "a watched object")?,
        })),
        wit::WatchItem::Pending => Ok(Next::Pending),
        wit::WatchItem::End => Ok(Next::End),
    }
}

/// What [`next_line`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogNext {
    Line(String),
    /// Nothing now: wait on `stream.subscribe()`.
    Pending,
    End,
}

/// Take the next log line without blocking.
pub fn next_line(stream: &LogStream) -> Result<LogNext, HookError> {
    Ok(match stream.try_next().context("log stream")? {
        wit::LogItem::Line(l) => LogNext::Line(l),
        wit::LogItem::Pending => LogNext::Pending,
        wit::LogItem::End => LogNext::End,
    })
}
