//! Prune: delete objects the previous inventory recorded that the plan no longer has.
//! Only objects still labelled `managed-by: kubes` are deleted; anything else is skipped
//! (someone took it over) and dropped from the inventory.

use super::inventory::{Entry, Inventory, InventoryKey};
use super::report::{Failure, ObjectResult, Progress, Report};
use super::walk::hook_failure;
use super::{
    display_kind, labels, suffix_hash, Cluster, ClusterError, DeleteOptions, DeleteOutcome,
};
use crate::lifecycle::{Lifecycle, Point, Step, When};
use crate::plan::Plan;

/// The result of pruning a list of entries.
#[derive(Debug, Default)]
pub struct Pruned {
    pub results: Vec<ObjectResult>,
    /// Entries not dealt with (the run stopped first): they stay in the inventory.
    pub kept: Vec<Entry>,
    pub failure: Option<Failure>,
}

/// Delete `stale` entries in order, with the prune lifecycle points around them.
pub async fn prune_entries(
    cluster: &Cluster,
    stale: &[Entry],
    lifecycle: &dyn Lifecycle,
    progress: &dyn Progress,
    dry_run: bool,
) -> Pruned {
    let mut out = Pruned::default();
    if stale.is_empty() {
        return out;
    }
    if let Err(f) = lifecycle
        .at(
            Point {
                when: When::Before,
                step: Step::Prune,
            },
            None,
        )
        .await
    {
        out.failure = Some(hook_failure(f, None));
        out.kept = stale.to_vec();
        return out;
    }
    let opts = DeleteOptions {
        dry_run,
        ..Default::default()
    };
    for (i, e) in stale.iter().enumerate() {
        let display = format!(
            "{}/{}",
            display_kind(&e.object.api_version, &e.object.kind),
            e.object.name
        );
        match prune_one(cluster, e, &opts).await {
            Ok(action) => {
                let r = ObjectResult {
                    object: e.object.clone(),
                    display,
                    action,
                    applied: None,
                };
                progress.pruned(&r);
                out.results.push(r);
            }
            Err(err) => {
                out.failure = Some(Failure {
                    file: None,
                    object: Some(display),
                    hook: None,
                    kind: err.kind().into(),
                    message: err.to_string(),
                });
                out.kept = stale[i..].to_vec();
                return out;
            }
        }
    }
    if let Err(f) = lifecycle
        .at(
            Point {
                when: When::After,
                step: Step::Prune,
            },
            None,
        )
        .await
    {
        out.failure = Some(hook_failure(f, None));
    }
    out
}

async fn prune_one(
    cluster: &Cluster,
    e: &Entry,
    opts: &DeleteOptions,
) -> Result<String, ClusterError> {
    let rk = match cluster
        .resolve_kind(&e.object.api_version, &e.object.kind)
        .await
    {
        Ok(rk) => rk,
        Err(err) if err.is_not_found() => return Ok(DeleteOutcome::Absent.to_string()),
        Err(err) => return Err(err),
    };
    let Some(live) = cluster
        .get_object(&rk, e.object.namespace.as_deref(), &e.object.name)
        .await?
    else {
        return Ok(DeleteOutcome::Absent.to_string());
    };
    if !labels::is_managed(&live.metadata.labels.unwrap_or_default()) {
        return Ok("skipped (not managed by kubes)".into());
    }
    Ok(cluster
        .delete_object(&rk, e.object.namespace.as_deref(), &e.object.name, opts)
        .await?
        .to_string())
}

/// The inventory entries `plan` would record, without applying it: namespaced objects
/// without a namespace get the cluster's default one.
pub async fn planned_entries(cluster: &Cluster, plan: &Plan) -> Result<Inventory, ClusterError> {
    let mut entries = Vec::new();
    for obj in plan.files().flat_map(|f| f.objects.iter()) {
        let namespaced = match cluster.resolve_kind(&obj.api_version, &obj.kind).await {
            Ok(rk) => rk.namespaced,
            // A kind not served yet (its CRD comes with this plan): most kinds are namespaced.
            Err(e) if e.is_not_found() => true,
            Err(e) => return Err(e),
        };
        let namespace = namespaced.then(|| {
            obj.namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace().to_string())
        });
        entries.push(Entry {
            object: super::ObjectRef {
                api_version: obj.api_version.clone(),
                kind: obj.kind.clone(),
                namespace,
                name: obj.name.clone(),
            },
            hashed: is_hashed(&obj.body),
            applied: None,
        });
    }
    Ok(Inventory::from_unique(entries))
}

pub(super) fn is_hashed(body: &serde_json::Value) -> bool {
    body.pointer("/metadata/annotations")
        .and_then(|a| a.get(suffix_hash::HASHED_FROM))
        .is_some()
}

/// `kubes prune`: delete what the previous inventory has and `plan` does not, and record
/// what is left.
pub async fn prune_plan(
    cluster: &Cluster,
    plan: &Plan,
    key: &InventoryKey,
    lifecycle: &dyn Lifecycle,
    progress: &dyn Progress,
    dry_run: bool,
) -> Report {
    let mut report = Report::new(Step::Prune, dry_run);
    let result = async {
        let previous = Inventory::read(cluster, key).await?.unwrap_or_default();
        let current = planned_entries(cluster, plan).await?;
        Ok::<_, ClusterError>((previous, current))
    }
    .await;
    let (previous, current) = match result {
        Ok(x) => x,
        Err(e) => {
            report.fail(Failure {
                file: None,
                object: None,
                hook: None,
                kind: e.kind().into(),
                message: format!("reading inventory: {e}"),
            });
            return report;
        }
    };
    let stale = previous.stale(&current);
    let pruned = prune_entries(cluster, &stale, lifecycle, progress, dry_run).await;
    report.pruned = pruned.results;
    if let Some(f) = pruned.failure {
        report.fail(f);
    }
    if !dry_run {
        let gone: Vec<Entry> = stale
            .iter()
            .filter(|e| !pruned.kept.contains(e))
            .cloned()
            .collect();
        let left = Inventory {
            objects: previous
                .objects
                .into_iter()
                .filter(|e| !gone.contains(e))
                .collect(),
        };
        if let Err(e) = left.write(cluster, key).await {
            report.fail(Failure {
                file: None,
                object: None,
                hook: None,
                kind: e.kind().into(),
                message: format!("writing inventory: {e}"),
            });
        }
    }
    report.retries = cluster.retries();
    report
}
