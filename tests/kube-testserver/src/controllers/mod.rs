//! Simulated controllers: Jobs run scripted pods, Deployments roll out ReplicaSets whose
//! pods become ready on a schedule. They react to the store's change feed and write
//! through the same API semantics clients use, so watches see every transition.

mod deployment;
mod events;
mod job;

use crate::cluster::Cluster;
use crate::logs::LogStore;
use crate::store::EventType;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Simulated durations; everything is milliseconds by default so tests stay fast.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// From pod creation to its container running.
    pub pod_start: Duration,
    /// Run time of a container whose pod has no script.
    pub default_run: Duration,
    /// Pause between a failed Job attempt and the next.
    pub retry_backoff: Duration,
    /// Default delay before a Deployment's pods report ready.
    pub ready_after: Duration,
    /// When a never-ready Deployment reports ProgressDeadlineExceeded (unless its
    /// progress-deadline annotation says otherwise).
    pub never_ready_deadline: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            pod_start: Duration::from_millis(5),
            default_run: Duration::from_millis(20),
            retry_backoff: Duration::from_millis(10),
            ready_after: Duration::from_millis(20),
            never_ready_deadline: Duration::from_millis(500),
        }
    }
}

/// Start the controllers on the current runtime.
pub fn spawn(cluster: Arc<Cluster>, logs: Arc<LogStore>, timing: Timing) {
    let mut feed = cluster.subscribe();
    tokio::spawn(async move {
        // uids of Jobs already being run, (uid, generation) of Deployments reconciled.
        let mut jobs: HashSet<String> = HashSet::new();
        let mut deployments: HashSet<(String, i64)> = HashSet::new();
        loop {
            match feed.recv().await {
                Ok(ev) => {
                    if ev.kind == EventType::Deleted {
                        continue;
                    }
                    match ev.key.as_str() {
                        "batch/jobs" => job::on_event(&cluster, &logs, &timing, &mut jobs, &ev.object),
                        "apps/deployments" => deployment::on_event(&cluster, &logs, &timing, &mut deployments, &ev.object),
                        _ => {}
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Missed events: look at every Job and Deployment again.
                    for (key, obj) in cluster.all_of(&["batch/jobs", "apps/deployments"]) {
                        match key.as_str() {
                            "batch/jobs" => job::on_event(&cluster, &logs, &timing, &mut jobs, &obj),
                            _ => deployment::on_event(&cluster, &logs, &timing, &mut deployments, &obj),
                        }
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}
