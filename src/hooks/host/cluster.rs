//! The host side of the WIT `cluster` interface: every call is resolved to a resource name,
//! checked against the hook's grants (a denial returns `forbidden` and prints an audit
//! line), and only then passed to the cluster client `kubes apply` uses.

use wasmtime::component::Resource;

use super::bindings::kubes::hook::cluster::{
    ConditionMet, Host, HostLogStream, HostWatcher, KindRef, LogItem, LogOptions, WatchItem,
};
use super::streams::{LogStream, Next, WatchStream};
use super::{ClusterError, HookState, ObjectRef};

/// The cluster connection a hook run may use. Until the cluster client lands in this
/// branch, no run has one (the type has no values), and every call answers `unavailable`.
#[derive(Clone)]
pub enum ClusterAccess {}

fn no_cluster() -> ClusterError {
    ClusterError::Unavailable("this hook run has no cluster connection".into())
}

impl Host for HookState {
    async fn get(&mut self, _obj: ObjectRef) -> wasmtime::Result<Result<String, ClusterError>> {
        Ok(Err(no_cluster()))
    }

    async fn list(
        &mut self,
        _kind: KindRef,
        _namespace: Option<String>,
        _label_selector: Option<String>,
    ) -> wasmtime::Result<Result<Vec<String>, ClusterError>> {
        Ok(Err(no_cluster()))
    }

    async fn apply(
        &mut self,
        _object_json: String,
    ) -> wasmtime::Result<Result<String, ClusterError>> {
        Ok(Err(no_cluster()))
    }

    async fn delete(
        &mut self,
        _obj: ObjectRef,
        _wait_ms: Option<u32>,
    ) -> wasmtime::Result<Result<bool, ClusterError>> {
        Ok(Err(no_cluster()))
    }

    async fn events(
        &mut self,
        _obj: ObjectRef,
    ) -> wasmtime::Result<Result<Vec<String>, ClusterError>> {
        Ok(Err(no_cluster()))
    }

    async fn wait_for(
        &mut self,
        _obj: ObjectRef,
        _conditions: Vec<String>,
        _timeout_ms: u32,
    ) -> wasmtime::Result<Result<ConditionMet, ClusterError>> {
        Ok(Err(no_cluster()))
    }

    async fn watch(
        &mut self,
        _kind: KindRef,
        _namespace: Option<String>,
        _name: Option<String>,
        _label_selector: Option<String>,
    ) -> wasmtime::Result<Result<Resource<WatchStream>, ClusterError>> {
        Ok(Err(no_cluster()))
    }

    async fn logs(
        &mut self,
        _pod: String,
        _namespace: Option<String>,
        _options: LogOptions,
    ) -> wasmtime::Result<Result<Resource<LogStream>, ClusterError>> {
        Ok(Err(no_cluster()))
    }
}

impl HostWatcher for HookState {
    async fn subscribe(
        &mut self,
        this: Resource<WatchStream>,
    ) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
        wasmtime_wasi::p2::subscribe(&mut self.table, this)
    }

    async fn try_next(
        &mut self,
        this: Resource<WatchStream>,
    ) -> wasmtime::Result<Result<WatchItem, ClusterError>> {
        let w = self.table.get_mut(&this)?;
        Ok(match w.0.try_next() {
            Next::Item(ev) => Ok(WatchItem::Event(ev)),
            Next::Failed(e) => Err(e),
            Next::Pending => Ok(WatchItem::Pending),
            Next::End => Ok(WatchItem::End),
        })
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

    async fn try_next(
        &mut self,
        this: Resource<LogStream>,
    ) -> wasmtime::Result<Result<LogItem, ClusterError>> {
        let l = self.table.get_mut(&this)?;
        Ok(match l.0.try_next() {
            Next::Item(line) => Ok(LogItem::Line(line)),
            Next::Failed(e) => Err(e),
            Next::Pending => Ok(LogItem::Pending),
            Next::End => Ok(LogItem::End),
        })
    }

    async fn drop(&mut self, this: Resource<LogStream>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}
