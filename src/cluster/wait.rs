//! Waiting on one object through a kube-runtime watch rather than by polling: `watch_object`
//! lists the object, then follows its changes, and lists again when the server says the
//! version it resumed from is gone (410); with back-off it rides out dropped watches and
//! server errors. Only an answer that asking again would not change (401, 403, 404 for the
//! kind, 400, 422) ends a wait early. Used by `kubes delete --wait`, a hook's
//! delete-and-wait and a hook's `wait-for`.

use std::fmt::Debug;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::DynamicObject;
use kube::runtime::watcher::{self, watch_object};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::ClusterError;

/// A watcher error asking again will not cure: the API said no, or the kind is not served.
pub fn final_error(e: &watcher::Error) -> Option<ClusterError> {
    let inner = match e {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        _ => return None,
    };
    match inner {
        kube::Error::Api(s) if matches!(s.code, 400 | 401 | 403 | 404 | 422) => {
            Some(ClusterError::from_status(s))
        }
        _ => None,
    }
}

/// The versions of object `name` as a watch sees them: `Some` when it is found, created or
/// changed, `None` when it is absent or deleted (after a relist too). Transient errors are
/// waited out with back-off; a [`final_error`] is the stream's last item.
pub fn versions<K>(
    api: Api<K>,
    name: &str,
) -> impl Stream<Item = Result<Option<K>, ClusterError>> + Send + 'static
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let mut ended = false;
    watch_object(api, name)
        .default_backoff()
        .filter_map(|r| {
            std::future::ready(match r {
                Ok(o) => Some(Ok(o)),
                Err(e) => final_error(&e).map(Err),
            })
        })
        .take_while(move |r| {
            // Stop after the first final error (it is handed on).
            let go = !ended;
            ended |= r.is_err();
            std::future::ready(go)
        })
}

/// Wait until object `name` is gone, or replaced by another with a new uid (when `uid` is
/// known). `what` names it in the timeout error.
pub async fn until_gone(
    api: Api<DynamicObject>,
    name: &str,
    uid: Option<&str>,
    timeout: Duration,
    what: &str,
) -> Result<(), ClusterError> {
    let gone = async {
        let mut versions = std::pin::pin!(versions(api, name));
        while let Some(v) = versions.next().await {
            match v {
                Ok(None) => return Ok(()),
                Ok(Some(o)) if uid.is_some() && o.metadata.uid.as_deref() != uid => return Ok(()),
                Ok(Some(_)) => {}
                // The kind itself is no longer served (its CRD went): so is the object.
                Err(ClusterError::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Err(ClusterError::Other(anyhow::anyhow!(
            "the watch on {what} ended"
        )))
    };
    match tokio::time::timeout(timeout, gone).await {
        Ok(r) => r,
        Err(_) => Err(ClusterError::Timeout(format!(
            "{what} still exists after {}",
            humantime::format_duration(timeout)
        ))),
    }
}
