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

/// The condition [`wait_for`] saw (re-exported from the WIT).
pub use wit::ConditionMet;

/// Wait until `obj` has one of `conditions` with status True (e.g. a Job's `Complete` or
/// `Failed`: a failure ends the wait at once, unlike `kubectl wait`). A timeout is an error
/// for which `is_timeout()` is true. Grant: `get` or `watch` on the object's type. For a Job
/// whose pods' logs should be shown too, use [`crate::job::wait_for_job`].
///
/// ```no_run
/// # use kubes_hook_sdk::prelude::*;
/// # use std::time::Duration;
/// # fn f() -> Result<(), HookError> {
/// let met = client::wait_for(&ObjectRef::job("seed"), &["Complete", "Failed"], Duration::from_secs(60))?;
/// if met.condition == "Failed" {
///     return Err(HookError::msg(format!("seed job failed: {}", met.message)));
/// }
/// # Ok(()) }
/// ```
pub fn wait_for(
    obj: &ObjectRef,
    conditions: &[&str],
    timeout: Duration,
) -> Result<ConditionMet, HookError> {
    let conditions: Vec<String> = conditions.iter().map(|c| c.to_string()).collect();
    let ms = timeout.as_millis().min(u32::MAX as u128) as u32;
    wit::wait_for(obj, &conditions, ms).context(format!("wait for {obj}"))
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

/// A watch that survives the API server: when the host reports the watch broken (or ended),
/// it is opened again after a short pause, and the fresh watch's initial `added` events
/// resend the current objects. Only a denial (`forbidden`) is an error. Waits use it so a
/// transient 500 or a dropped connection does not fail the hook.
pub struct Rewatch {
    kind: KindRef,
    namespace: Option<String>,
    name: Option<String>,
    label_selector: Option<String>,
    watcher: Option<Watcher>,
    retry_at: Option<std::time::Instant>,
    /// The last error that broke the watch, for a report.
    pub last_error: Option<HookError>,
}

/// Pause before opening a broken watch again.
const REWATCH_PAUSE: Duration = Duration::from_millis(200);

impl Rewatch {
    /// Start watching (see [`watch`]). Fails only when the grants deny the watch.
    pub fn new(
        kind: &KindRef,
        namespace: Option<&str>,
        name: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Self, HookError> {
        let mut w = Rewatch {
            kind: kind.clone(),
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            label_selector: label_selector.map(str::to_string),
            watcher: None,
            retry_at: None,
            last_error: None,
        };
        w.open()?;
        Ok(w)
    }

    fn open(&mut self) -> Result<(), HookError> {
        match watch(
            &self.kind,
            self.namespace.as_deref(),
            self.name.as_deref(),
            self.label_selector.as_deref(),
        ) {
            Ok(w) => {
                self.watcher = Some(w);
                self.retry_at = None;
                Ok(())
            }
            Err(e) if e.is_forbidden() => Err(e),
            Err(e) => {
                self.broken(e);
                Ok(())
            }
        }
    }

    fn broken(&mut self, e: HookError) {
        crate::logging::debug(&format!(
            "the watch of {} broke ({e}); watching again",
            self.kind
        ));
        self.watcher = None;
        self.retry_at = Some(std::time::Instant::now() + REWATCH_PAUSE);
        self.last_error = Some(e);
    }

    /// The next change, if any; `Pending` while the watch is being reopened.
    pub fn next_change<T: DeserializeOwned>(&mut self) -> Result<Next<T>, HookError> {
        if self.watcher.is_none() {
            if self.retry_at.is_some_and(|t| std::time::Instant::now() < t) {
                return Ok(Next::Pending);
            }
            self.open()?;
        }
        let Some(w) = &self.watcher else {
            return Ok(Next::Pending);
        };
        match next_change(w) {
            Ok(Next::End) => {
                self.broken(HookError::msg(format!("the watch of {} ended", self.kind)));
                Ok(Next::Pending)
            }
            Ok(n) => Ok(n),
            Err(e) if e.is_forbidden() => Err(e),
            // A change that is not the JSON expected is the caller's problem, not the watch's.
            Err(e @ HookError::Json { .. }) => Err(e),
            Err(e) => {
                self.broken(e);
                Ok(Next::Pending)
            }
        }
    }

    /// A pollable ready when [`Rewatch::next_change`] may have something (none while reopening:
    /// wake at [`Rewatch::retry_at`] instead).
    pub fn subscribe(&self) -> Option<crate::bindings::wasi::io::poll::Pollable> {
        self.watcher.as_ref().map(|w| w.subscribe())
    }

    /// When a broken watch will be opened again.
    pub fn retry_at(&self) -> Option<std::time::Instant> {
        self.retry_at
    }
}
