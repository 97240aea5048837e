//! `kubes delete`: delete every planned object, in reverse plan order.

use super::inventory::{Inventory, InventoryKey};
use super::prune::{planned_entries, prune_entries};
use super::report::{Failure, Progress, Report};
use super::walk::{Op, Walk};
use super::{Cluster, ClusterError, DeleteOptions};
use crate::lifecycle::Lifecycle;
use crate::plan::Plan;

/// Delete `plan`'s objects in reverse order. Objects
/// already gone are reported as `absent`. Stops at the first failure.
pub async fn delete_plan(
    cluster: &Cluster,
    plan: &Plan,
    lifecycle: &dyn Lifecycle,
    progress: &dyn Progress,
    options: &DeleteOptions,
    concurrency: usize,
) -> Report {
    Walk::new(
        cluster,
        lifecycle,
        progress,
        Op::Delete(options.clone()),
        concurrency,
    )
    .run(plan)
    .await
}

/// Delete `plan`; when it is the whole project (`inventory` is `None` for a delete
/// restricted to some roles), first also what the inventory still records beyond the plan
/// (objects removed from the project, old suffix-hashed ConfigMaps), and at the end the
/// inventory itself. Leftovers go first: the inventory lives in a namespace the plan may
/// delete.
pub async fn delete_and_forget(
    cluster: &Cluster,
    plan: &Plan,
    lifecycle: &dyn Lifecycle,
    progress: &dyn Progress,
    options: &DeleteOptions,
    concurrency: usize,
    inventory: Option<&InventoryKey>,
) -> Report {
    let Some(key) = inventory else {
        return delete_plan(cluster, plan, lifecycle, progress, options, concurrency).await;
    };
    let leftovers = async {
        let previous = Inventory::read(cluster, key).await?.unwrap_or_default();
        let planned = planned_entries(cluster, plan).await?;
        Ok::<_, ClusterError>(previous.stale(&planned))
    }
    .await;
    let leftovers = match leftovers {
        Ok(l) => l,
        Err(e) => {
            let mut report = Report::new(crate::lifecycle::Step::Delete, options.dry_run);
            report.fail(failure("reading inventory", e));
            report.not_attempted = plan.files().rev().map(|f| f.output.clone()).collect();
            return report;
        }
    };
    let pruned = prune_entries(cluster, &leftovers, lifecycle, progress, options.dry_run).await;
    let mut report = if pruned.failure.is_none() {
        delete_plan(cluster, plan, lifecycle, progress, options, concurrency).await
    } else {
        let mut r = Report::new(crate::lifecycle::Step::Delete, options.dry_run);
        r.not_attempted = plan.files().rev().map(|f| f.output.clone()).collect();
        r
    };
    report.pruned = pruned.results;
    if let Some(f) = pruned.failure {
        report.fail(f);
        return report;
    }
    if report.ok && !options.dry_run {
        if let Err(e) = Inventory::remove(cluster, key).await {
            report.fail(failure("removing inventory", e));
        }
    }
    report
}

fn failure(what: &str, e: ClusterError) -> Failure {
    Failure {
        file: None,
        object: None,
        hook: None,
        kind: e.kind().into(),
        message: format!("{what}: {e}"),
    }
}
