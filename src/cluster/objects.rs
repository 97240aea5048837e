//! Object-level operations: server-side apply with created/configured/unchanged
//! detection, delete with propagation, and waiting until an object is gone.

use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::core::DynamicObject;
use serde::Serialize;

use super::{
    ApplyOptions, ApplyOutcome, Cluster, ClusterError, DeleteOptions, DeleteOutcome, Propagation,
    ResolvedKind,
};

/// Which object, as the user reads it: `deployment.apps/web` in namespace `prod`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// Reads apiVersion, kind, metadata.name and metadata.namespace of a manifest.
    pub fn of(obj: &serde_json::Value) -> Result<ObjectRef, ClusterError> {
        let s = |v: Option<&serde_json::Value>| {
            v.and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let api_version = s(obj.get("apiVersion"))
            .ok_or_else(|| ClusterError::Invalid("object has no apiVersion".into()))?;
        let kind =
            s(obj.get("kind")).ok_or_else(|| ClusterError::Invalid("object has no kind".into()))?;
        let meta = obj.get("metadata");
        let name = s(meta.and_then(|m| m.get("name")))
            .ok_or_else(|| ClusterError::Invalid(format!("{kind} object has no metadata.name")))?;
        let namespace = s(meta.and_then(|m| m.get("namespace")));
        Ok(ObjectRef {
            api_version,
            kind,
            namespace,
            name,
        })
    }
}

/// The result of one server-side apply.
#[derive(Debug, Clone)]
pub struct Applied {
    pub outcome: ApplyOutcome,
    pub kind: ResolvedKind,
    /// Namespace the object lives in (`None` for cluster-scoped kinds).
    pub namespace: Option<String>,
    pub name: String,
    /// The object as the server returned it.
    pub object: DynamicObject,
}

impl Applied {
    /// kubectl's line: `deployment.apps/web configured`.
    pub fn line(&self) -> String {
        format!(
            "{}/{} {}",
            self.kind.display_name(),
            self.name,
            self.outcome
        )
    }
}

/// Which version of an object is live: enough to tell created from configured from
/// unchanged after a server-side apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LiveVersion {
    pub uid: Option<String>,
    pub resource_version: String,
}

/// What is known about the live object before applying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Before {
    /// Nothing: get it first.
    Unknown,
    /// Listed already: its version, or `None` when it did not exist.
    Listed(Option<LiveVersion>),
}

pub(super) async fn apply(
    cluster: &Cluster,
    obj: &serde_json::Value,
    opts: &ApplyOptions,
) -> Result<Applied, ClusterError> {
    apply_known(cluster, obj, opts, Before::Unknown).await
}

pub(super) async fn apply_known(
    cluster: &Cluster,
    obj: &serde_json::Value,
    opts: &ApplyOptions,
    known: Before,
) -> Result<Applied, ClusterError> {
    let r = ObjectRef::of(obj)?;
    let rk = cluster.resolve_kind(&r.api_version, &r.kind).await?;
    let namespace = rk.namespaced.then(|| {
        r.namespace
            .clone()
            .unwrap_or_else(|| cluster.default_namespace().to_string())
    });
    let api = cluster.api(&rk, namespace.as_deref());
    // The live version before the patch tells created from configured from unchanged:
    // a no-op server-side apply does not bump resourceVersion. A dry run compares content,
    // so it needs the whole object.
    let (before, before_obj): (Option<LiveVersion>, Option<DynamicObject>) = match known {
        Before::Listed(live) if !opts.dry_run => (live, None),
        _ => {
            let live = api.get_opt(&r.name).await?;
            let version = live.as_ref().map(|b| LiveVersion {
                uid: b.metadata.uid.clone(),
                resource_version: b.metadata.resource_version.clone().unwrap_or_default(),
            });
            (version, live)
        }
    };
    let mut params = PatchParams::apply(&opts.field_manager);
    params.force = opts.force_conflicts;
    params.dry_run = opts.dry_run;
    let after = api.patch(&r.name, &params, &Patch::Apply(obj)).await?;
    let outcome = match (&before, &before_obj) {
        (None, _) => ApplyOutcome::Created,
        // Deleted and recreated since it was listed (say, by a before-hook): ours created it.
        (Some(v), _) if v.uid.is_some() && v.uid != after.metadata.uid => ApplyOutcome::Created,
        (Some(_), Some(b)) if opts.dry_run => {
            // A dry run never bumps resourceVersion: compare content instead.
            if super::diff::comparable(&serde_json::to_value(b).unwrap_or_default())
                == super::diff::comparable(&serde_json::to_value(&after).unwrap_or_default())
            {
                ApplyOutcome::Unchanged
            } else {
                ApplyOutcome::Configured
            }
        }
        (Some(v), _) if Some(&v.resource_version) == after.metadata.resource_version.as_ref() => {
            ApplyOutcome::Unchanged
        }
        (Some(_), _) => ApplyOutcome::Configured,
    };
    if r.kind == "CustomResourceDefinition" && !opts.dry_run {
        cluster.note_crd_applied();
    }
    Ok(Applied {
        outcome,
        kind: rk,
        namespace,
        name: r.name,
        object: after,
    })
}

pub(super) async fn delete(
    cluster: &Cluster,
    rk: &ResolvedKind,
    namespace: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<DeleteOutcome, ClusterError> {
    let api = cluster.api(rk, namespace);
    let params = DeleteParams {
        dry_run: opts.dry_run,
        propagation_policy: Some(match opts.propagation {
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Foreground => PropagationPolicy::Foreground,
            Propagation::Orphan => PropagationPolicy::Orphan,
        }),
        ..Default::default()
    };
    let uid = match api.delete(name, &params).await {
        Ok(either) => either.left().and_then(|o| o.metadata.uid),
        Err(e) => {
            let e = ClusterError::from(e);
            return if e.is_not_found() {
                Ok(DeleteOutcome::Absent)
            } else {
                Err(e)
            };
        }
    };
    if let (Some(timeout), false) = (opts.wait, opts.dry_run) {
        super::wait::until_gone(
            api,
            name,
            uid.as_deref(),
            timeout,
            &format!("{}/{name}", rk.display_name()),
        )
        .await?;
    }
    Ok(DeleteOutcome::Deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_ref_reads_manifest_identity() {
        let r = ObjectRef::of(&json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}})).unwrap();
        assert_eq!(
            r,
            ObjectRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("prod".into()),
                name: "web".into()
            }
        );
    }

    #[test]
    fn object_ref_names_what_is_missing() {
        let e = ObjectRef::of(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {}}))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid: Service object has no metadata.name"
        );
        let e = ObjectRef::of(&json!({"kind": "Service"})).unwrap_err();
        assert_eq!(e.to_string(), "invalid: object has no apiVersion");
    }
}
