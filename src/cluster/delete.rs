//! `kubes delete`: delete every planned object, in reverse plan order.

use super::engine::{Op, Walk};
use super::report::{Progress, Report};
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
    Walk { cluster, lifecycle, progress, op: Op::Delete(options.clone()), concurrency }.run(plan).await
}
