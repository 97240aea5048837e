//! Components built for `kubes:hook@0.1.0` keep running: its `cluster` interface is the same
//! as 0.2.0's, so each call is handed to the 0.2.0 host code, converting the records that
//! interface defines itself (0.1.0 had no `progress`).

use wasmtime::component::Resource;

use super::bindings::kubes::hook::cluster as v2;
use super::bindings_v01::kubes::hook::cluster as v1;
use super::streams::{LogStream, WatchStream};
use super::{HookState, ObjectRef};

use super::CallResult;

fn kind(k: v1::KindRef) -> v2::KindRef {
    v2::KindRef {
        api_version: k.api_version,
        kind: k.kind,
    }
}

fn change(c: v2::Change) -> v1::Change {
    match c {
        v2::Change::Added => v1::Change::Added,
        v2::Change::Modified => v1::Change::Modified,
        v2::Change::Deleted => v1::Change::Deleted,
    }
}

impl v1::Host for HookState {
    async fn get(&mut self, obj: ObjectRef) -> CallResult<String> {
        v2::Host::get(self, obj).await
    }

    async fn list(
        &mut self,
        k: v1::KindRef,
        namespace: Option<String>,
        label_selector: Option<String>,
    ) -> CallResult<Vec<String>> {
        v2::Host::list(self, kind(k), namespace, label_selector).await
    }

    async fn apply(&mut self, object_json: String) -> CallResult<String> {
        v2::Host::apply(self, object_json).await
    }

    async fn delete(&mut self, obj: ObjectRef, wait_ms: Option<u32>) -> CallResult<bool> {
        v2::Host::delete(self, obj, wait_ms).await
    }

    async fn events(&mut self, obj: ObjectRef) -> CallResult<Vec<String>> {
        v2::Host::events(self, obj).await
    }

    async fn wait_for(
        &mut self,
        obj: ObjectRef,
        conditions: Vec<String>,
        timeout_ms: u32,
    ) -> CallResult<v1::ConditionMet> {
        Ok(v2::Host::wait_for(self, obj, conditions, timeout_ms)
            .await?
            .map(|m| v1::ConditionMet {
                condition: m.condition,
                message: m.message,
                object_json: m.object_json,
            }))
    }

    async fn watch(
        &mut self,
        k: v1::KindRef,
        namespace: Option<String>,
        name: Option<String>,
        label_selector: Option<String>,
    ) -> CallResult<Resource<WatchStream>> {
        v2::Host::watch(self, kind(k), namespace, name, label_selector).await
    }

    async fn logs(
        &mut self,
        pod: String,
        namespace: Option<String>,
        o: v1::LogOptions,
    ) -> CallResult<Resource<LogStream>> {
        let options = v2::LogOptions {
            container: o.container,
            follow: o.follow,
            tail_lines: o.tail_lines,
        };
        v2::Host::logs(self, pod, namespace, options).await
    }
}

impl v1::HostWatcher for HookState {
    async fn subscribe(
        &mut self,
        this: Resource<WatchStream>,
    ) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
        v2::HostWatcher::subscribe(self, this).await
    }

    async fn try_next(&mut self, this: Resource<WatchStream>) -> CallResult<v1::WatchItem> {
        Ok(v2::HostWatcher::try_next(self, this)
            .await?
            .map(|item| match item {
                v2::WatchItem::Event(e) => v1::WatchItem::Event(v1::WatchEvent {
                    change: change(e.change),
                    object_json: e.object_json,
                }),
                v2::WatchItem::Pending => v1::WatchItem::Pending,
                v2::WatchItem::End => v1::WatchItem::End,
            }))
    }

    async fn drop(&mut self, this: Resource<WatchStream>) -> wasmtime::Result<()> {
        v2::HostWatcher::drop(self, this).await
    }
}

impl v1::HostLogStream for HookState {
    async fn subscribe(
        &mut self,
        this: Resource<LogStream>,
    ) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
        v2::HostLogStream::subscribe(self, this).await
    }

    async fn try_next(&mut self, this: Resource<LogStream>) -> CallResult<v1::LogItem> {
        Ok(v2::HostLogStream::try_next(self, this)
            .await?
            .map(|item| match item {
                v2::LogItem::Line(l) => v1::LogItem::Line(l),
                v2::LogItem::Pending => v1::LogItem::Pending,
                v2::LogItem::End => v1::LogItem::End,
            }))
    }

    async fn drop(&mut self, this: Resource<LogStream>) -> wasmtime::Result<()> {
        v2::HostLogStream::drop(self, this).await
    }
}
