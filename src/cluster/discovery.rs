//! Discovery, fetched lazily per group version (apply path) or per group (resource names)
//! and cached for the run. A miss re-fetches, so kinds from CRDs applied earlier in the
//! same run resolve later in it.

use std::collections::HashMap;
use std::time::Duration;

use kube::core::GroupVersion;
use kube::discovery::{self, ApiGroup, Scope};

use super::{ClusterError, ResolvedKind};

#[derive(Default)]
pub(super) struct DiscoveryCache {
    /// Held across fetches so concurrent appliers missing the same group fetch it once.
    inner: tokio::sync::Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// By apiVersion (`v1`, `apps/v1`).
    by_gv: HashMap<String, ApiGroup>,
    /// By group name (`""` for core), at the preferred version.
    by_group: HashMap<String, ApiGroup>,
}

/// How often, and how far apart, a miss is retried after this run applied a CRD: the API
/// server serves a new kind only once the CRD is established.
const CRD_SETTLE_TRIES: u32 = 10;
const CRD_SETTLE_DELAY: Duration = Duration::from_millis(500);

impl DiscoveryCache {
    pub(super) async fn resolve_kind(
        &self,
        client: &kube::Client,
        api_version: &str,
        kind: &str,
        wait_for_new_kinds: bool,
    ) -> Result<ResolvedKind, ClusterError> {
        // The lock is not held across the request: kinds of different groups resolve at
        // once (two misses of one group may both ask; the answers are the same).
        if let Some(rk) = self
            .inner
            .lock()
            .await
            .by_gv
            .get(api_version)
            .and_then(|g| find_kind(g, kind))
        {
            return Ok(rk);
        }
        let gv: GroupVersion = api_version
            .parse()
            .map_err(|e| ClusterError::Invalid(format!("apiVersion {api_version:?}: {e}")))?;
        let tries = if wait_for_new_kinds {
            CRD_SETTLE_TRIES
        } else {
            1
        };
        let mut last_err = None;
        for attempt in 0..tries {
            if attempt > 0 {
                tokio::time::sleep(CRD_SETTLE_DELAY).await;
            }
            match discovery::pinned_group(client, &gv).await {
                Ok(group) => {
                    let found = find_kind(&group, kind);
                    self.inner
                        .lock()
                        .await
                        .by_gv
                        .insert(api_version.to_string(), group);
                    if let Some(rk) = found {
                        return Ok(rk);
                    }
                    last_err = Some(ClusterError::NotFound(format!(
                        "the server has no kind {kind} in apiVersion {api_version} (is its CRD installed?)"
                    )));
                }
                Err(e) => {
                    let e = ClusterError::from(e);
                    if !e.is_not_found() {
                        return Err(e);
                    }
                    last_err = Some(ClusterError::NotFound(format!(
                        "the server has no apiVersion {api_version} (for kind {kind}; is its CRD installed?)"
                    )));
                }
            }
        }
        Err(last_err
            .unwrap_or_else(|| ClusterError::NotFound(format!("kind {kind} in {api_version}"))))
    }

    pub(super) async fn resolve_resource(
        &self,
        client: &kube::Client,
        resource: &str,
    ) -> Result<ResolvedKind, ClusterError> {
        let (plural, group) = split_resource(resource);
        let mut cache = self.inner.lock().await;
        if let Some(rk) = cache
            .by_group
            .get(group)
            .and_then(|g| find_plural(g, plural))
        {
            return Ok(rk);
        }
        let fetched =
            discovery::group(client, group)
                .await
                .map_err(|e| match ClusterError::from(e) {
                    ClusterError::Other(_) => ClusterError::NotFound(format!(
                        "the server has no API group {group:?} (for resource {resource})"
                    )),
                    other => other,
                })?;
        let found = find_plural(&fetched, plural);
        cache.by_group.insert(group.to_string(), fetched);
        found
            .ok_or_else(|| ClusterError::NotFound(format!("the server has no resource {resource}")))
    }
}

/// `jobs.batch` -> (`jobs`, `batch`); `pods` -> (`pods`, ``).
fn split_resource(resource: &str) -> (&str, &str) {
    resource.split_once('.').unwrap_or((resource, ""))
}

fn find_kind(group: &ApiGroup, kind: &str) -> Option<ResolvedKind> {
    group.recommended_kind(kind).map(|(ar, caps)| ResolvedKind {
        plural: ar.plural.clone(),
        namespaced: caps.scope == Scope::Namespaced,
        resource: ar,
    })
}

fn find_plural(group: &ApiGroup, plural: &str) -> Option<ResolvedKind> {
    group
        .recommended_resources()
        .into_iter()
        .find(|(ar, _)| ar.plural == plural)
        .map(|(ar, caps)| ResolvedKind {
            plural: ar.plural.clone(),
            namespaced: caps.scope == Scope::Namespaced,
            resource: ar,
        })
}

#[cfg(test)]
mod tests {
    use super::split_resource;

    #[test]
    fn splits_resource_names_like_rbac_does() {
        assert_eq!(split_resource("pods"), ("pods", ""));
        assert_eq!(split_resource("jobs.batch"), ("jobs", "batch"));
        assert_eq!(
            split_resource("ingresses.networking.k8s.io"),
            ("ingresses", "networking.k8s.io")
        );
    }
}
