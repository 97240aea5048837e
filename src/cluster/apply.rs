//! `kubes apply`: server-side apply of every planned object, in plan order.

use std::collections::{HashMap, HashSet};

use super::report::ObjectResult;
use super::walk::{ObjectKey, Prefetched};
use super::ClusterError;
use crate::lifecycle::NoHooks;
use crate::plan::CompiledObject;

use super::inventory::{AppliedRecord, Entry, Inventory, InventoryKey};
use super::prune::{is_hashed, planned_entries, prune_entries};
use super::report::{Failure, Progress, Report};
use super::walk::{Op, Walk};
use super::{ApplyOptions, Cluster};
use crate::lifecycle::{Lifecycle, Step};
use crate::plan::Plan;

/// Requests in flight at once by default (objects of one kind in a row within a file go
/// in parallel): enough to hide round trips, few enough not to trip API priority and
/// fairness on a busy cluster.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// Apply `plan` in order. Stops at the first failure (an API error after retries, or a
/// lifecycle failure); the report says what was applied, what failed and what was not
/// attempted. Objects are applied as they are: callers add labels and hashes first.
pub async fn apply_plan(
    cluster: &Cluster,
    plan: &Plan,
    lifecycle: &dyn Lifecycle,
    progress: &dyn Progress,
    options: &ApplyOptions,
    concurrency: usize,
) -> Report {
    Walk::new(
        cluster,
        lifecycle,
        progress,
        Op::Apply(options.clone()),
        concurrency,
    )
    .run(plan)
    .await
}

/// How an apply records what it applied.
#[derive(Debug, Clone)]
pub struct RecordOptions<'a> {
    pub inventory: InventoryKey,
    /// Delete objects the previous inventory has and the plan no longer does.
    pub prune: bool,
    /// Everything the project plans, when the apply is restricted to some roles: objects
    /// of the other roles are still the project's and must not be pruned.
    pub whole_plan: Option<&'a Plan>,
    /// Objects of the plan applied ahead of the walk ([`apply_ahead`]): reported in their
    /// place in the plan, not applied twice.
    pub preapplied: Vec<Preapplied>,
    /// Skip server-side apply for objects the previous inventory says kubes applied with
    /// the same configuration and that nobody changed since (see
    /// [`super::inventory::AppliedRecord`]): they are listed, reported `unchanged`, and not
    /// sent. `false`: `--force-apply`.
    pub skip_unchanged: bool,
}

/// An object of the plan applied before the walk, and what that did.
#[derive(Debug, Clone)]
pub struct Preapplied {
    key: ObjectKey,
    pub result: ObjectResult,
}

/// Apply one object of the plan now, ahead of the walk (a deploy creates the app's
/// Namespace first, to hold its deploy lease there); pass the result in
/// [`RecordOptions::preapplied`] so the walk reports it where the plan has it.
pub async fn apply_ahead(
    cluster: &Cluster,
    obj: &CompiledObject,
    options: &ApplyOptions,
) -> Result<Preapplied, ClusterError> {
    let walk = Walk::new(
        cluster,
        &NoHooks,
        &super::report::Silent,
        Op::Apply(options.clone()),
        1,
    );
    let result = walk
        .object(obj, &Prefetched::default(), &HashSet::new())
        .await?;
    Ok(Preapplied {
        key: ObjectKey::of(obj),
        result,
    })
}

/// Apply `plan`, then prune and record the inventory:
/// - the previous inventory is read first (a failure to read stops before applying);
/// - after a successful apply, stale objects are pruned when `prune` is set, and stale
///   suffix-hashed ConfigMaps/Secrets always are; the new inventory is the plan plus
///   whatever stale objects were kept;
/// - after a failed apply nothing is pruned and the inventory keeps the previous entries
///   plus what was applied, so nothing is orphaned.
///
/// A dry run reads but writes nothing.
pub async fn apply_and_record(
    cluster: &Cluster,
    plan: &Plan,
    lifecycle: &dyn Lifecycle,
    progress: &dyn Progress,
    options: &ApplyOptions,
    concurrency: usize,
    record: &RecordOptions<'_>,
) -> Report {
    // The plan's kinds are listed while the inventory is read (one round trip, not two):
    // every kind, since records of a previous apply may let unchanged objects go unsent.
    let skip = record.skip_unchanged && !options.dry_run;
    let files: Vec<_> = plan.files().collect();
    let lister = Walk::new(
        cluster,
        lifecycle,
        progress,
        Op::Apply(options.clone()),
        concurrency,
    );
    let (previous, listed) = tokio::join!(Inventory::read(cluster, &record.inventory), async {
        match skip {
            true => Some(lister.prefetch(&files, true).await),
            false => None,
        }
    });
    let previous = match previous {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => {
            let mut report = Report::new(Step::Apply, options.dry_run);
            report.fail(Failure {
                file: None,
                object: None,
                hook: None,
                kind: e.kind().into(),
                message: format!("reading inventory: {e}"),
            });
            report.not_attempted = plan.files().map(|f| f.output.clone()).collect();
            return report;
        }
    };
    let preapplied: Vec<(ObjectKey, ObjectResult)> = record
        .preapplied
        .iter()
        .map(|p| (p.key.clone(), p.result.clone()))
        .collect();
    let unchanged_since: HashMap<ObjectKey, AppliedRecord> =
        if record.skip_unchanged && !options.dry_run {
            previous
                .objects
                .iter()
                .filter_map(|e| Some((ObjectKey::of_ref(&e.object), e.applied.clone()?)))
                .collect()
        } else {
            HashMap::new()
        };
    let mut report = Walk::new(
        cluster,
        lifecycle,
        progress,
        Op::Apply(options.clone()),
        concurrency,
    )
    .with_preapplied(&preapplied)
    .with_previous(unchanged_since)
    .run_listed(plan, listed)
    .await;

    let hashed: HashSet<(String, String)> = plan
        .files()
        .flat_map(|f| f.objects.iter())
        .filter(|o| is_hashed(&o.body))
        .map(|o| (o.kind.clone(), o.name.clone()))
        .collect();
    let current = Inventory::from_unique(report.objects().map(|o| Entry {
        object: o.object.clone(),
        hashed: hashed.contains(&(o.object.kind.clone(), o.object.name.clone())),
        applied: o.applied.clone(),
    }));

    let next = if report.ok {
        let mut planned = current.clone();
        if let Some(whole) = record.whole_plan {
            match planned_entries(cluster, whole).await {
                Ok(inv) => planned.extend_unique(inv.objects),
                Err(e) => {
                    report.fail(Failure {
                        file: None,
                        object: None,
                        hook: None,
                        kind: e.kind().into(),
                        message: format!("listing planned objects: {e}"),
                    });
                    return report;
                }
            }
        }
        let stale = previous.stale(&planned);
        let to_prune: Vec<Entry> = stale
            .iter()
            .filter(|e| record.prune || e.hashed)
            .cloned()
            .collect();
        let pruned = prune_entries(cluster, &to_prune, lifecycle, progress, options.dry_run).await;
        report.pruned = pruned.results;
        if let Some(f) = pruned.failure {
            report.fail(f);
        }
        let mut next = planned;
        // Stale objects not pruned stay recorded, so a later prune still finds them.
        next.extend_unique(
            stale
                .into_iter()
                .rev()
                .filter(|e| !to_prune.contains(e) || pruned.kept.contains(e)),
        );
        next
    } else {
        let mut next = previous.clone();
        next.upsert_all(current.objects.iter().cloned());
        next
    };
    // Objects this run did not touch (other roles, stale ones kept) keep their records.
    let mut next = next;
    let (touched, before) = (current.identities(), previous.by_identity());
    for e in next.objects.iter_mut() {
        if e.applied.is_none() && !touched.contains(&e.identity()) {
            e.applied = before.get(&e.identity()).and_then(|p| p.applied.clone());
        }
    }
    if !options.dry_run {
        if let Err(e) = next.write(cluster, &record.inventory).await {
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
