//! `kubes delete`: delete every planned object, in reverse plan order.

use super::engine::{Op, Walk};
use super::inventory::{Inventory, InventoryKey};
use super::report::{Failure, Progress, Report};
use super::{Cluster, DeleteOptions};
use crate::lifecycle::Lifecycle;
use crate::plan::Plan;

/// Delete `plan`'s objects in reverse order (files of one step concurrently). Objects
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

/// Delete `plan` and, when it was the whole project and everything went, its inventory
/// too (`inventory` is `None` for a delete restricted to some roles).
pub async fn delete_and_forget(
    cluster: &Cluster,
    plan: &Plan,
    lifecycle: &dyn Lifecycle,
    progress: &dyn Progress,
    options: &DeleteOptions,
    concurrency: usize,
    inventory: Option<&InventoryKey>,
) -> Report {
    let mut report = delete_plan(cluster, plan, lifecycle, progress, options, concurrency).await;
    if let (true, false, Some(key)) = (report.ok, options.dry_run, inventory) {
        if let Err(e) = Inventory::remove(cluster, key).await {
            report.fail(Failure {
                file: None,
                object: None,
                hook: None,
                kind: e.kind().into(),
                message: format!("removing inventory: {e}"),
            });
        }
    }
    report
}
