//! `kubes diff`: what an apply would change. Each object goes through a server-side
//! dry-run apply (so defaults, admission and field ownership are the server's) and is
//! compared with the live object, leaving out fields the server owns.

use std::path::PathBuf;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Patch, PatchParams};
use serde::Serialize;

use super::{display_kind, ApplyOptions, Cluster, ClusterError, ObjectRef};
use crate::plan::{CompiledObject, Plan};

/// Fields left out of comparisons: they change on every write or belong to controllers.
const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The object without server-owned noise: status, managedFields, resourceVersion, uid,
/// generation and timestamps.
pub fn comparable(obj: &serde_json::Value) -> serde_json::Value {
    let mut v = obj.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            for k in SERVER_METADATA {
                meta.remove(*k);
            }
            if meta
                .get("annotations")
                .and_then(|a| a.as_object())
                .is_some_and(|a| a.is_empty())
            {
                meta.remove("annotations");
            }
        }
    }
    v
}

/// One object that would change.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectDiff {
    pub file: PathBuf,
    #[serde(flatten)]
    pub object: ObjectRef,
    /// `deployment.apps/web`.
    pub display: String,
    /// Whether the object exists yet.
    pub exists: bool,
    /// Unified diff of the YAML forms, live first.
    pub diff: String,
}

/// What `diff` found: the objects that differ, and how many do not.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub differ: Vec<ObjectDiff>,
    pub unchanged: usize,
}

/// The error that stopped a diff, with the object it was about.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {display}: {source}")]
pub struct DiffError {
    pub file: String,
    pub display: String,
    #[source]
    pub source: ClusterError,
}

/// Diff every planned object against the cluster (a few at a time, reported in plan order).
pub async fn diff_plan(
    cluster: &Cluster,
    plan: &Plan,
    options: &ApplyOptions,
    concurrency: usize,
) -> Result<DiffReport, DiffError> {
    let items: Vec<(PathBuf, &CompiledObject)> = plan
        .files()
        .flat_map(|f| f.objects.iter().map(move |o| (f.output.clone(), o)))
        .collect();
    // try_collect stops at the first error, so an unreachable cluster fails once, not per object.
    let results: Vec<Option<ObjectDiff>> = futures::stream::iter(items)
        .map(|(file, obj)| async move {
            diff_object(cluster, obj, options, file.clone())
                .await
                .map_err(|source| DiffError {
                    file: file.display().to_string(),
                    display: format!("{}/{}", display_kind(&obj.api_version, &obj.kind), obj.name),
                    source,
                })
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut report = DiffReport {
        differ: vec![],
        unchanged: 0,
    };
    for r in results {
        match r {
            Some(d) => report.differ.push(d),
            None => report.unchanged += 1,
        }
    }
    Ok(report)
}

async fn diff_object(
    cluster: &Cluster,
    obj: &CompiledObject,
    options: &ApplyOptions,
    file: PathBuf,
) -> Result<Option<ObjectDiff>, ClusterError> {
    let r = ObjectRef::of(&obj.body)?;
    let display = format!("{}/{}", display_kind(&r.api_version, &r.kind), r.name);
    let (live, planned) = match cluster.resolve_kind(&r.api_version, &r.kind).await {
        Ok(rk) => {
            let ns = rk.namespaced.then(|| {
                r.namespace
                    .clone()
                    .unwrap_or_else(|| cluster.default_namespace().to_string())
            });
            let api = cluster.api(&rk, ns.as_deref());
            let live = api.get_opt(&r.name).await?;
            let mut params = PatchParams::apply(&options.field_manager);
            params.force = options.force_conflicts;
            params.dry_run = true;
            let planned = match api.patch(&r.name, &params, &Patch::Apply(&obj.body)).await {
                Ok(p) => serde_json::to_value(p).map_err(anyhow::Error::from)?,
                Err(e) => match ClusterError::from(e) {
                    // Creating into a namespace the apply would create first: show the manifest.
                    e if live.is_none() && e.is_not_found() => obj.body.clone(),
                    e => return Err(e),
                },
            };
            (
                live.map(|l| serde_json::to_value(l).unwrap_or_default()),
                planned,
            )
        }
        // A kind whose CRD the apply would create: all new.
        Err(e) if e.is_not_found() => (None, obj.body.clone()),
        Err(e) => return Err(e),
    };
    let mut live_c = live.as_ref().map(comparable);
    let mut planned_c = comparable(&planned);
    if r.kind == "Secret" && r.api_version == "v1" {
        mask_secret(live_c.as_mut(), &mut planned_c);
    }
    let live_yaml = live_c.as_ref().map(to_yaml).unwrap_or_default();
    let planned_yaml = to_yaml(&planned_c);
    if live.is_some() && live_yaml == planned_yaml {
        return Ok(None);
    }
    let diff = similar::TextDiff::from_lines(&live_yaml, &planned_yaml)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live/{display}"), &format!("planned/{display}"))
        .to_string();
    Ok(Some(ObjectDiff {
        file,
        exists: live.is_some(),
        object: r,
        display,
        diff,
    }))
}

/// Hide a Secret's values the way `kubectl diff` does: every value becomes `***`, and a
/// value that changed shows as `*** (before)` / `*** (after)`, so a diff says which keys
/// change without printing what they hold.
pub fn mask_secret(mut live: Option<&mut serde_json::Value>, planned: &mut serde_json::Value) {
    use serde_json::{Map, Value};
    fn values(v: Option<&Value>, field: &str) -> Map<String, Value> {
        v.and_then(|o| o.get(field))
            .and_then(|d| d.as_object())
            .cloned()
            .unwrap_or_default()
    }
    fn mask(v: Option<&mut Value>, field: &str, other: &Map<String, Value>, changed: &str) {
        if let Some(map) = v
            .and_then(|o| o.get_mut(field))
            .and_then(|d| d.as_object_mut())
        {
            for (k, val) in map.iter_mut() {
                let differs = other.get(k).is_some_and(|o| o != val);
                *val = Value::String(if differs { changed } else { "***" }.into());
            }
        }
    }
    for field in ["data", "stringData"] {
        let old = values(live.as_deref(), field);
        let new = values(Some(planned), field);
        mask(live.as_deref_mut(), field, &new, "*** (before)");
        mask(Some(planned), field, &old, "*** (after)");
    }
}

fn to_yaml(v: &serde_json::Value) -> String {
    crate::yaml::to_string(v).unwrap_or_else(|_| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_are_masked_like_kubectl() {
        let mut live = json!({"data": {"same": "YQ==", "changed": "Yg==", "gone": "Yw=="}});
        let mut planned = json!({"data": {"same": "YQ==", "changed": "ZA==", "new": "ZQ=="}});
        mask_secret(Some(&mut live), &mut planned);
        assert_eq!(
            live,
            json!({"data": {"same": "***", "changed": "*** (before)", "gone": "***"}})
        );
        assert_eq!(
            planned,
            json!({"data": {"same": "***", "changed": "*** (after)", "new": "***"}})
        );
        let mut fresh = json!({"stringData": {"password": "hunter2"}});
        mask_secret(None, &mut fresh);
        assert_eq!(fresh, json!({"stringData": {"password": "***"}}));
    }

    #[test]
    fn comparable_drops_server_owned_fields() {
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "uid": "1", "resourceVersion": "7", "generation": 2,
                         "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [{}], "labels": {"x": "y"}},
            "data": {"k": "v"}, "status": {"phase": "x"}
        });
        assert_eq!(
            comparable(&live),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}}, "data": {"k": "v"}})
        );
    }
}
